"""The drill's writing client ("the app"): SETs of unique sequenced keys, each optionally followed
by `WAIT 1 <timeout>` on the same connection (run_load in drill_load.py drives it).

  * cluster mode disabled: plain redis-py `Redis` on the primary (StandaloneWriter), re-resolved
    after a failed write (connection error, READONLY, LOADING, ...) through a resolver: the
    group's PrimaryEndpoint from DescribeReplicationGroups confirmed by ROLE, a static node list
    (ROLE), or Sentinel;
  * cluster mode enabled: redis-py `RedisCluster` for discovery and slot routing, with a short
    retry of our own (ClusterWriter);
  * error_kind: a short, stable name for every client-visible error.

Needs redis-py 4.3.4 (and boto3 for the Describe resolver), imported where used.
"""
from __future__ import annotations

import socket
import time

from cftools.aws import endpoint_client

def error_kind(e: BaseException) -> str:
    """A short, stable name for a client-visible error."""
    import redis.exceptions as rex
    msg = str(e)
    up = msg.upper()
    if isinstance(e, NoPrimary):
        return "no-primary"
    if isinstance(e, rex.TimeoutError) or isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, rex.ConnectionError) or isinstance(e, OSError):
        if "refused" in msg.lower():
            return "connection-refused"
        if "reset" in msg.lower() or "closed" in msg.lower() or "broken pipe" in msg.lower():
            return "connection-lost"
        return "connection-error"
    if isinstance(e, rex.ReadOnlyError) or up.startswith("READONLY"):
        return "readonly"
    if isinstance(e, rex.MovedError) or up.startswith("MOVED"):
        return "moved"
    if isinstance(e, rex.MasterDownError) or up.startswith("MASTERDOWN"):
        return "masterdown"
    if isinstance(e, rex.ClusterDownError) or up.startswith("CLUSTERDOWN"):
        return "clusterdown"
    if up.startswith("LOADING") or isinstance(e, rex.BusyLoadingError):
        return "loading"
    if isinstance(e, rex.TryAgainError) or up.startswith("TRYAGAIN"):
        return "tryagain"
    if "cannot be connected" in msg or "could not agree" in msg or "not covered" in msg:
        return "no-topology"
    return "other:" + type(e).__name__


class NoPrimary(Exception):
    """The resolver found no node that says it is the primary."""


# ---------------------------------------------------------------------------------------------
# Resolvers (cluster mode disabled): where is the primary now?


def _role(host: str, port: int, timeout_s: float) -> str | None:
    import redis
    r = redis.Redis(host=host, port=port, socket_timeout=timeout_s,
                    socket_connect_timeout=timeout_s)
    try:
        role = r.execute_command("ROLE")
        return role[0].decode() if isinstance(role[0], bytes) else str(role[0])
    except Exception:  # noqa: BLE001
        return None
    finally:
        r.close()


class DescribeResolver:
    """The group's PrimaryEndpoint (node group `node_group`, default the first), accepted only
    when ROLE on it says master: what an application that reads its endpoint from the service
    (ElastiCache: the primary endpoint's DNS name) does after a failed write."""

    def __init__(self, endpoint, group, node_group=None, access_key=None, secret=None,
                 region=None, timeout_s=1.0):
        self.ec = endpoint_client(endpoint, access_key, secret, region, timeout_s=2.0)
        self.group, self.node_group, self.timeout_s = group, node_group, timeout_s

    def __call__(self) -> tuple[str, int]:
        rg = self.ec.describe_replication_groups(ReplicationGroupId=self.group)
        ngs = rg["ReplicationGroups"][0].get("NodeGroups") or []
        ng = next((n for n in ngs if n.get("NodeGroupId") == self.node_group), ngs[0] if ngs
                  else None)
        pe = (ng or {}).get("PrimaryEndpoint")
        if not pe:
            raise NoPrimary("Describe shows no PrimaryEndpoint")
        addr = (pe["Address"], int(pe["Port"]))
        if _role(*addr, self.timeout_s) != "master":
            raise NoPrimary(f"PrimaryEndpoint {addr[0]}:{addr[1]} is not a master (ROLE)")
        return addr


class StaticResolver:
    """The first of a fixed list of nodes whose ROLE is master (the simulations and tests)."""

    def __init__(self, nodes, timeout_s=0.5):
        self.nodes = [(h, int(p)) for h, p in nodes]
        self.timeout_s = timeout_s

    def __call__(self) -> tuple[str, int]:
        for addr in self.nodes:
            if _role(*addr, self.timeout_s) == "master":
                return addr
        raise NoPrimary("no node of the list says master")


class SentinelResolver:
    """SENTINEL get-master-addr-by-name on the first sentinel that answers, confirmed by ROLE
    (what redis-py's Sentinel client does)."""

    def __init__(self, sentinels, name, timeout_s=0.5):
        self.sentinels = [(h, int(p)) for h, p in sentinels]
        self.name, self.timeout_s = name, timeout_s

    def __call__(self) -> tuple[str, int]:
        import redis
        for h, p in self.sentinels:
            s = redis.Redis(host=h, port=p, socket_timeout=self.timeout_s,
                            socket_connect_timeout=self.timeout_s)
            try:
                a = s.execute_command("SENTINEL", "get-master-addr-by-name", self.name)
            except Exception:  # noqa: BLE001
                continue
            finally:
                s.close()
            if a:
                addr = (a[0].decode(), int(a[1]))
                if _role(*addr, self.timeout_s) == "master":
                    return addr
                raise NoPrimary(f"sentinel names {addr[0]}:{addr[1]}, which is not a master")
        raise NoPrimary("no sentinel answered")


def make_resolver(spec: dict):
    k = spec["kind"]
    if k == "describe":
        return DescribeResolver(spec["endpoint"], spec["group"], spec.get("node_group"),
                                spec.get("access_key"), spec.get("secret"), spec.get("region"))
    if k == "static":
        return StaticResolver(spec["nodes"])
    if k == "sentinel":
        return SentinelResolver(spec["sentinels"], spec["name"])
    raise ValueError(f"unknown resolver kind {k!r}")


# ---------------------------------------------------------------------------------------------
# Writers: one SET (+ optional WAIT on the same connection) per call; raise on failure


class StandaloneWriter:
    """Cluster mode disabled: one redis-py Redis on the current primary. A failed write
    (connection error, timeout, READONLY, LOADING, MASTERDOWN) drops the connection; the next
    write re-resolves the primary (at most once per retry_s)."""

    def __init__(self, resolver, socket_timeout_s=1.0, retry_s=0.02):
        self.resolver = resolver
        self.socket_timeout_s = socket_timeout_s
        self.retry_s = retry_s
        self.r = None
        self.addr: tuple[str, int] | None = None
        self._last_resolve = 0.0
        self.resolves = 0

    def _connect(self):
        import redis
        wait = self._last_resolve + self.retry_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_resolve = time.monotonic()
        self.resolves += 1
        self.addr = self.resolver()
        self.r = redis.Redis(host=self.addr[0], port=self.addr[1],
                             socket_timeout=self.socket_timeout_s,
                             socket_connect_timeout=self.socket_timeout_s)

    def drop(self):
        if self.r is not None:
            try:
                self.r.close()
                self.r.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass
        self.r = None

    def node_name(self) -> str:
        return f"{self.addr[0]}:{self.addr[1]}" if self.addr else "?"

    def write(self, key: str, val: bytes):
        if self.r is None:
            self._connect()
        try:
            self.r.set(key, val)
        except Exception:
            self.drop()
            raise
        return self.r

    def wait(self, handle, replicas: int, timeout_ms: int) -> int:
        # Same Redis object, single thread: the pool hands back the connection of the SET.
        return int(handle.execute_command("WAIT", replicas, timeout_ms))

    def close(self):
        self.drop()


class ClusterWriter:
    """Cluster mode enabled. redis-py's RedisCluster discovers the nodes and routes by slot, and
    each SET goes to the slot's primary through that node's own redis-py client. The retry is
    ours and short, like an application that retries a write quickly: on a connection error or
    timeout the slot map is refreshed (CLUSTER SLOTS via RedisCluster's NodesManager, at most
    once per retry_s) and the write is reported failed; MOVED updates the slot map and the write
    is retried at once (up to 3 times), TRYAGAIN after 10 ms. redis-py 4.3.4's own
    RedisCluster.set() instead retries a refused connection 5 times 0.25 s apart before it
    refreshes anything, which would add about a second to every measured outage
    (client="redis-py" measures exactly that)."""

    def __init__(self, startup: list[tuple[str, int]], socket_timeout_s=1.0, retry_s=0.02,
                 client="short-retry"):
        from redis.cluster import ClusterNode, RedisCluster
        self.startup = [(h, int(p)) for h, p in startup]
        self.socket_timeout_s = socket_timeout_s
        self.retry_s = retry_s
        self.client = client
        self._last_refresh = 0.0
        self.refreshes = 0
        self.rc = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in self.startup],
                               socket_timeout=socket_timeout_s,
                               socket_connect_timeout=socket_timeout_s)
        self.last_node = "?"

    def refresh(self):
        """A new slot map from the first node that answers CLUSTER SLOTS (the nodes we know,
        then the seeds). The same map NodesManager.initialize() builds, minus its cost: 4.3.4's
        builds it slot by slot through several helper calls, 100-600 ms of CPU on a busy
        2-core machine, which would delay every measured recovery by as much."""
        from redis.cluster import PRIMARY, REPLICA, ClusterNode
        wait = self._last_refresh + self.retry_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_refresh = time.monotonic()
        self.refreshes += 1
        nm = self.rc.nodes_manager
        seeds = list(nm.nodes_cache.values())
        seeds += [ClusterNode(h, p) for h, p in self.startup
                  if f"{h}:{p}" not in nm.nodes_cache]
        last = None
        for seed in seeds:
            try:
                r = self.rc.get_redis_connection(seed) if seed.name in nm.nodes_cache else None
                if r is None:
                    nm.create_redis_connections([seed])
                    r = seed.redis_connection
                raw = r.execute_command("CLUSTER", "SLOTS")
            except Exception as e:  # noqa: BLE001 — try the next node
                last = e
                continue
            nodes: dict[str, ClusterNode] = {}

            def node(entry, role):
                h = entry[0].decode() if isinstance(entry[0], bytes) else str(entry[0])
                name = f"{h or seed.host}:{int(entry[1])}"
                n = nodes.get(name) or nm.nodes_cache.get(name) or \
                    ClusterNode(h or seed.host, int(entry[1]), role)
                if role == PRIMARY or name not in nodes:
                    n.server_type = role
                nodes[name] = n
                return n
            cache = {}
            for entry in raw:
                a, b = int(entry[0]), int(entry[1])
                lst = [node(entry[2], PRIMARY)] + [node(x, REPLICA) for x in entry[3:]]
                # One list shared by the range: nothing mutates it in place (MOVED replaces a
                # slot's entry, see _moved; NodesManager's own MOVED update is never armed).
                cache.update(dict.fromkeys(range(a, b + 1), lst))
            if not cache:
                continue
            nm.create_redis_connections(list(nodes.values()))
            nm.nodes_cache, nm.slots_cache = nodes, cache
            nm.default_node = next(n for n in nodes.values() if n.server_type == PRIMARY)
            nm._moved_exception = None
            return
        raise last or RuntimeError("no node answered CLUSTER SLOTS")

    def node_name(self) -> str:
        return self.last_node

    def _moved(self, e) -> None:
        """-MOVED: the slot's entry points at the named node from now on; after a failover
        the whole range moved, so the slot map is refreshed too (at most once per retry_s)."""
        from redis.cluster import PRIMARY, ClusterNode
        nm = self.rc.nodes_manager
        name = f"{e.host}:{e.port}"
        n = nm.nodes_cache.get(name)
        if n is None:
            n = nm.nodes_cache[name] = ClusterNode(e.host, e.port, PRIMARY)
            nm.create_redis_connections([n])
        n.server_type = PRIMARY
        nm.slots_cache[e.slot_id] = [n]
        if time.monotonic() - self._last_refresh >= self.retry_s:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001
                pass

    def write(self, key: str, val: bytes):
        import redis.exceptions as rex
        if self.client == "redis-py":
            self.rc.set(key, val)
            node = self.rc.get_node_from_key(key)
            self.last_node = node.name
            return node
        for attempt in range(4):
            node = self.rc.get_node_from_key(key)
            self.last_node = node.name
            r = self.rc.get_redis_connection(node)
            try:
                r.set(key, val)
                return r
            except (rex.ConnectionError, rex.TimeoutError):
                r.connection_pool.disconnect()
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 — the write's error is what we report
                    pass
                raise
            except rex.ResponseError as e:
                msg = str(e).upper()
                if (isinstance(e, rex.MovedError) or msg.startswith("MOVED")) and attempt < 3:
                    self._moved(e if isinstance(e, rex.MovedError)
                                else rex.MovedError(str(e).split(" ", 1)[1]))
                    continue
                if isinstance(e, rex.TryAgainError) and attempt < 3:
                    time.sleep(0.01)
                    continue
                if msg.startswith("TRYAGAIN") and attempt < 3:
                    time.sleep(0.01)
                    continue
                if isinstance(e, (rex.ClusterDownError, rex.ReadOnlyError, rex.MovedError)) \
                        or msg.startswith(("CLUSTERDOWN", "MASTERDOWN", "READONLY", "MOVED")):
                    try:
                        self.refresh()
                    except Exception:  # noqa: BLE001
                        pass
                raise
        raise RuntimeError("unreachable")

    def wait(self, handle, replicas: int, timeout_ms: int) -> int:
        if self.client == "redis-py":
            return int(self.rc.execute_command("WAIT", replicas, timeout_ms,
                                               target_nodes=handle))
        return int(handle.execute_command("WAIT", replicas, timeout_ms))

    def close(self):
        try:
            self.rc.close()
        except Exception:  # noqa: BLE001
            pass

