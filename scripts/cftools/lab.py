"""The cachefleet lab: one orchestrator and three agents (host-a/lab-a, host-b/lab-b,
host-c/lab-c) on 127.0.0.1, with every file (configs, SQLite store, agent data dirs, logs,
PID files) under one directory.

Used two ways:
  * by scripts/lab.sh (`up` / `down` / `status` / `demo`): the daemons are detached and outlive
    this process; their PIDs are recorded in <lab>/pids/ and `down` stops them by PID;
  * by the end-to-end tests and the benchmark (tests/e2e/fixture.py, bench/create_bench.py):
    `with Lab(tmpdir, detach=False) as lab:` starts everything and tears it all down by PID on
    exit, redis-servers included, even when the test fails.

Ports are never hard-coded. The orchestrator's API and fleet ports and each agent's gRPC port
are picked by the kernel (port 0) and then pinned into the orchestrator's config so that a
restart (crash tests, `lab.sh up` after `down`) gets the same addresses. Each agent gets a
range of node ports that are free now, whose bus ports (port + 10000) are free too, preferably
outside the kernel's ephemeral range; ranges are reserved in a small flock-protected file in
/tmp so that labs started at the same moment (ctest -j) never pick overlapping ranges.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from cftools import REPO
from cftools.errors import LabError
from cftools.ports import bindable, release_reservations, reserve_port_ranges, transfer_reservation
from cftools.procs import (is_redis_server, pid_alive, proc_cmdline, redis_processes_under,
                           set_pdeathsig, terminate_pid)

# The lab's SigV4 credentials. They are written into the orchestrator config of every lab and
# test fixture; they protect nothing but a loopback lab.
ACCESS_KEY_ID = "AKIDCACHEFLEETLAB01"
SECRET_ACCESS_KEY = "cachefleet-lab-secret-key-do-not-use-in-production"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
HOSTS = (("host-a", "lab-a"), ("host-b", "lab-b"), ("host-c", "lab-c"))
CLUSTER_NODE_TIMEOUT_MS = 5000
# Idle cluster-enabled redis-servers each agent keeps ready (agent.warm_pool_cluster_nodes, see
# agent/nodes/warm_pool.h): a cluster-mode create claims them instead of cold-starting nodes.
WARM_POOL = 4
WARM_PREFIX = "_warm-"


def is_warm(node_id: str) -> bool:
    return node_id.startswith(WARM_PREFIX)


# The lines the daemons log once they serve.
ORCH_READY = re.compile(
    rb"cachefleet-orchestrator serving api on (\S+):(\d+) fleet on (\S+):(\d+)")
AGENT_READY = re.compile(rb"cachefleet-agent (\S+) serving on (\S+):(\d+)")


def default_lab_dir() -> Path:
    """The lab directory of scripts/lab.sh and `cachefleet`: $CACHEFLEET_LAB_DIR, else
    <repo>/.lab."""
    return Path(os.environ.get("CACHEFLEET_LAB_DIR", REPO / ".lab"))


# ---------------------------------------------------------------------------------------------
# Binaries


def default_binaries(build_dir: Path | None = None) -> tuple[Path, Path]:
    """(agent, orchestrator) from the environment (set by CMake for ctest) or build/."""
    build_dir = Path(build_dir or os.environ.get("CACHEFLEET_BUILD_DIR", REPO / "build"))
    agent = Path(os.environ.get("CACHEFLEET_AGENT_BIN",
                                build_dir / "agent" / "cachefleet-agent"))
    orch = Path(os.environ.get("CACHEFLEET_ORCHESTRATOR_BIN",
                               build_dir / "orchestrator" / "cachefleet-orchestrator"))
    return agent, orch


# ---------------------------------------------------------------------------------------------
# Config files (YAML written by hand: the formats are flat, see configs/*.example.yaml)


def _orchestrator_yaml(lab_dir: Path, api_port: int, fleet_port: int, heartbeat_ms: int,
                       cluster_node_timeout_ms: int, extra: str = "") -> str:
    """`extra`: more top-level YAML appended verbatim (tests: e.g. a `maintenance:` clock)."""
    return f"""# cachefleet-orchestrator config written by scripts/cftools/lab.py (format: configs/orchestrator.example.yaml).
# Ports were picked at run time (0 = the kernel chooses) and pinned after the first start.
api:
  listen: 127.0.0.1:{api_port}
  threads: 2
  max_clock_skew_s: 900
region: {REGION}
account_id: "{ACCOUNT_ID}"
# The lab's SigV4 credentials (loopback only; never reuse them elsewhere):
#   AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}
#   AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}
credentials:
  - access_key_id: {ACCESS_KEY_ID}
    secret_access_key: {SECRET_ACCESS_KEY}
fleet:
  listen: 127.0.0.1:{fleet_port}
  heartbeat_interval_ms: {heartbeat_ms}
  host_down_after_ms: 5000
store:
  path: {lab_dir / 'orchestrator' / 'orchestrator.db'}
node_types: {REPO / 'configs' / 'node_types.yaml'}
parameter_groups: {REPO / 'configs' / 'parameter_groups.yaml'}
cluster_node_timeout_ms: {cluster_node_timeout_ms}
log_level: info
""" + extra


def _agent_yaml(host_id: str, az: str, fleet_addr: str, port_range: tuple[int, int],
                data_dir: Path, heartbeat_ms: int, warm_pool: int) -> str:
    return f"""# cachefleet-agent config written by scripts/cftools/lab.py (format: configs/agent.example.yaml).
host_id: {host_id}
advertised_address: 127.0.0.1
availability_zone: {az}
listen: 127.0.0.1:0
orchestrator: {fleet_addr}
port_range:
  start: {port_range[0]}
  end: {port_range[1]}
max_nodes: 0
data_dir: {data_dir}
redis_server: redis-server
heartbeat_interval_ms: {heartbeat_ms}
warm_pool_cluster_nodes: {warm_pool}   # idle cluster nodes kept ready (ports at the top of the range)
log_level: info
"""


def _read_yaml_scalar(text: str, key: str) -> str | None:
    m = re.search(rf"^\s*{re.escape(key)}:\s*(\S+)", text, re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------------------------
# The lab


class Lab:
    """One orchestrator + len(hosts) agents under `root`.

    detach=True: daemons run in their own sessions and outlive this Python process (lab.sh).
    detach=False: daemons die with this process (PR_SET_PDEATHSIG) and `stop()` / the context
    manager tears everything down, redis-servers included (tests, bench).
    """

    def __init__(self, root: Path | str, *, detach: bool = False,
                 agent_bin: Path | None = None, orchestrator_bin: Path | None = None,
                 hosts=HOSTS, ports_per_agent: int = 100, heartbeat_ms: int = 500,
                 cluster_node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
                 stop_nodes_on_exit: bool = True, ready_timeout_s: float = 60.0,
                 warm_pool: int = WARM_POOL, orchestrator_yaml_extra: str = ""):
        self.root = Path(root).resolve()
        self.detach = detach
        dflt_agent, dflt_orch = default_binaries()
        self.agent_bin = Path(agent_bin or dflt_agent)
        self.orchestrator_bin = Path(orchestrator_bin or dflt_orch)
        self.hosts = tuple(hosts)
        self.ports_per_agent = ports_per_agent
        self.heartbeat_ms = heartbeat_ms
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.stop_nodes_on_exit = stop_nodes_on_exit
        self.ready_timeout_s = ready_timeout_s
        self.warm_pool = warm_pool
        self.orchestrator_yaml_extra = orchestrator_yaml_extra
        self.api_port: int | None = None
        self.fleet_port: int | None = None
        self.agent_ports: dict[str, int] = {}
        self.port_ranges: dict[str, tuple[int, int]] = {}
        self._popen: dict[str, subprocess.Popen] = {}
        self._reserved: list[int] = []

    # -- paths --------------------------------------------------------------------------------
    @property
    def orchestrator_config(self) -> Path:
        return self.root / "orchestrator" / "orchestrator.yaml"

    def agent_config(self, host_id: str) -> Path:
        return self.root / "agents" / host_id / "agent.yaml"

    def agent_data_dir(self, host_id: str) -> Path:
        return self.root / "agents" / host_id / "data"

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def components(self) -> list[str]:
        return ["orchestrator"] + [f"agent-{h}" for h, _ in self.hosts]

    # -- environment for clients ----------------------------------------------------------------
    def client_env(self, secret: str | None = None, access_key: str | None = None) -> dict:
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
                  "AWS_ENDPOINT_URL_ELASTICACHE", "AWS_CA_BUNDLE"):
            env.pop(k, None)
        env.update({
            "AWS_ACCESS_KEY_ID": access_key or ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": secret or SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        })
        return env

    # -- start --------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        f = open(log, "ab")
        f.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n"
                .encode())
        f.flush()
        kwargs = dict(stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                      cwd=str(self.root), start_new_session=True, close_fds=True)
        if not self.detach:
            kwargs["preexec_fn"] = set_pdeathsig
        p = subprocess.Popen(argv, **kwargs)
        f.close()
        self._popen[name] = p
        self.pid_path(name).parent.mkdir(parents=True, exist_ok=True)
        self.pid_path(name).write_text(f"{p.pid}\n")
        return p

    def _wait_line(self, name: str, p: subprocess.Popen, regex: re.Pattern, offset: int):
        deadline = time.monotonic() + self.ready_timeout_s
        log = self.log_path(name)
        while time.monotonic() < deadline:
            with open(log, "rb") as f:
                f.seek(offset)
                m = regex.search(f.read())
            if m:
                return m
            if p.poll() is not None:
                raise LabError(f"{name} exited with {p.returncode} before it was ready; "
                               f"log tail:\n{self.log_tail(name)}")
            time.sleep(0.02)
        raise LabError(f"{name} not ready after {self.ready_timeout_s}s; "
                       f"log tail:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _check_binaries(self) -> None:
        for b in (self.agent_bin, self.orchestrator_bin):
            if not os.access(b, os.X_OK):
                raise LabError(f"binary not found: {b} (run scripts/build.sh)")

    def start(self) -> "Lab":
        """Writes configs (reusing pinned ports of an existing lab dir when they are free) and
        starts the orchestrator and the agents; returns when health shows every host up."""
        self._check_binaries()
        self.root.mkdir(parents=True, exist_ok=True)
        for d in ("orchestrator", "logs", "pids"):
            (self.root / d).mkdir(exist_ok=True)
        try:
            self._start_orchestrator(first=True)
            self._start_agents()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_orchestrator(self, first: bool) -> None:
        cfg = self.orchestrator_config
        api_port = fleet_port = 0
        if cfg.exists():
            text = cfg.read_text()
            api = _read_yaml_scalar(text.split("fleet:")[0], "listen")
            fleet = _read_yaml_scalar(text.split("fleet:")[1], "listen")
            api_port = int(api.rsplit(":", 1)[1]) if api else 0
            fleet_port = int(fleet.rsplit(":", 1)[1]) if fleet else 0
            # An old lab's pinned ports may have been taken since; then pick new ones.
            if first and ((api_port and not bindable(api_port))
                          or (fleet_port and not bindable(fleet_port))):
                api_port = fleet_port = 0
        cfg.write_text(_orchestrator_yaml(self.root, api_port, fleet_port, self.heartbeat_ms,
                                          self.cluster_node_timeout_ms,
                                          self.orchestrator_yaml_extra))
        name = "orchestrator"
        offset = self.log_path(name).stat().st_size if self.log_path(name).exists() else 0
        p = self._spawn(name, [str(self.orchestrator_bin), "--config", str(cfg)])
        m = self._wait_line(name, p, ORCH_READY, offset)
        self.api_port, self.fleet_port = int(m.group(2)), int(m.group(4))
        # Pin the chosen ports so that a restart uses the same addresses.
        cfg.write_text(_orchestrator_yaml(self.root, self.api_port, self.fleet_port,
                                          self.heartbeat_ms, self.cluster_node_timeout_ms,
                                          self.orchestrator_yaml_extra))

    def _start_agents(self) -> None:
        preferred = []
        for host_id, _ in self.hosts:
            c = self.agent_config(host_id)
            if c.exists():
                t = c.read_text()
                s, e = _read_yaml_scalar(t, "start"), _read_yaml_scalar(t, "end")
                if s and e:
                    preferred.append((int(s), int(e)))
        ranges = reserve_port_ranges(len(self.hosts), self.ports_per_agent,
                                     preferred=preferred if len(preferred) == len(self.hosts)
                                     else None)
        self._reserved = [s for s, _ in ranges]
        procs = []
        for (host_id, az), rng in zip(self.hosts, ranges):
            self.port_ranges[host_id] = rng
            data_dir = self.agent_data_dir(host_id)
            data_dir.mkdir(parents=True, exist_ok=True)
            self.agent_config(host_id).write_text(
                _agent_yaml(host_id, az, f"127.0.0.1:{self.fleet_port}", rng, data_dir,
                            self.heartbeat_ms, self.warm_pool))
            name = f"agent-{host_id}"
            offset = self.log_path(name).stat().st_size if self.log_path(name).exists() else 0
            argv = [str(self.agent_bin), "--config", str(self.agent_config(host_id))]
            if self.stop_nodes_on_exit:
                argv.append("--stop-nodes-on-exit")
            procs.append((host_id, name, self._spawn(name, argv), offset, rng))
        for host_id, name, p, offset, rng in procs:
            m = self._wait_line(name, p, AGENT_READY, offset)
            self.agent_ports[host_id] = int(m.group(3))
            if self.detach:
                transfer_reservation(rng[0], p.pid)
        self._write_state()

    def _write_state(self) -> None:
        state = {
            "endpoint": self.endpoint, "api_port": self.api_port, "fleet_port": self.fleet_port,
            "region": REGION, "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            "agents": {h: {"az": az, "grpc_port": self.agent_ports.get(h),
                           "port_range": list(self.port_ranges.get(h, ())),
                           "data_dir": str(self.agent_data_dir(h))}
                       for h, az in self.hosts},
        }
        (self.root / "lab.json").write_text(json.dumps(state, indent=2) + "\n")
        (self.root / "env.sh").write_text(
            "# source this file to point AWS CLI v2 / boto3 at the lab\n"
            f"export AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}\n"
            f"export AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}\n"
            f"export AWS_DEFAULT_REGION={REGION}\n"
            "export AWS_EC2_METADATA_DISABLED=true\n"
            "export AWS_PAGER=\n"
            f"export CACHEFLEET_ENDPOINT={self.endpoint}\n")

    @classmethod
    def attach(cls, root: Path | str, **kw) -> "Lab":
        """A Lab object for an existing (possibly running) lab directory."""
        lab = cls(root, detach=True, **kw)
        try:
            st = json.loads((lab.root / "lab.json").read_text())
        except (OSError, ValueError):
            return lab
        lab.api_port, lab.fleet_port = st.get("api_port"), st.get("fleet_port")
        for h, a in st.get("agents", {}).items():
            if a.get("port_range"):
                lab.port_ranges[h] = tuple(a["port_range"])
            if a.get("grpc_port"):
                lab.agent_ports[h] = a["grpc_port"]
        return lab

    # -- health ---------------------------------------------------------------------------------
    def health(self, timeout_s: float = 2.0) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}/cachefleet/health", timeout=timeout_s) as r:
            return json.loads(r.read())

    def wait_healthy(self, timeout_s: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout_s or self.ready_timeout_s)
        want = {h for h, _ in self.hosts}
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.health()
                up = {h.get("host_id") for h in last.get("hosts", []) if h.get("state") == "up"}
                if want <= up:
                    return last
            except (OSError, ValueError) as e:
                last = repr(e)
            time.sleep(0.05)
        raise LabError(f"hosts not all up after timeout; last health: {last}")

    # -- pids -------------------------------------------------------------------------------------
    def recorded_pid(self, name: str) -> int | None:
        try:
            return int(self.pid_path(name).read_text().strip())
        except (OSError, ValueError):
            return None

    def _binary_marker(self, name: str) -> str:
        return "cachefleet-orchestrator" if name == "orchestrator" else "cachefleet-agent"

    def running(self) -> dict[str, int | None]:
        """component -> live pid (None when not running)."""
        out = {}
        for name in self.components:
            pid = self.recorded_pid(name)
            ok = pid is not None and pid_alive(pid) and any(
                self._binary_marker(name) in a for a in proc_cmdline(pid))
            out[name] = pid if ok else None
        return out

    def node_records(self) -> list[dict]:
        """Every <data_dir>/nodes/<node_id>/node.json of every agent, with host_id/node_id/dir
        added."""
        recs = []
        for host_id, _ in self.hosts:
            nodes = self.agent_data_dir(host_id) / "nodes"
            if not nodes.is_dir():
                continue
            for d in sorted(nodes.iterdir()):
                rec = {}
                try:
                    rec = json.loads((d / "node.json").read_text())
                except (OSError, ValueError):
                    pass
                spec = rec.get("spec") if isinstance(rec.get("spec"), dict) else {}
                for k in ("port", "group_id"):  # the agent keeps them under "spec"
                    if k not in rec and k in spec:
                        rec[k] = spec[k]
                rec.setdefault("node_id", d.name)
                rec["host_id"] = host_id
                rec["dir"] = str(d)
                recs.append(rec)
        return recs

    def host_of_port(self, port: int) -> str | None:
        for h, (s, e) in self.port_ranges.items():
            if s <= port <= e:
                return h
        return None

    def az_of_host(self, host_id: str) -> str:
        return dict(self.hosts)[host_id]

    def redis_pids(self, include_warm: bool = True) -> list[int]:
        """Live redis-servers of this lab: node.json pids plus any redis-server working in the
        lab directory. include_warm=False leaves out the agents' idle warm-pool nodes."""
        pids = set()
        for rec in self.node_records():
            pid = rec.get("pid")
            if not include_warm and is_warm(rec["node_id"]):
                continue
            if isinstance(pid, int) and pid > 0 and is_redis_server(pid):
                pids.add(pid)
        for p in redis_processes_under(self.root):
            if not include_warm and f"/{WARM_PREFIX}" in p["cwd"]:
                continue
            pids.add(p["pid"])
        return sorted(pids)

    def warm_ports(self) -> dict[str, list[int]]:
        """host -> warm-pool ports the orchestrator knows (from /cachefleet/health)."""
        try:
            return {h.get("host_id"): list(h.get("warm_cluster_ports") or [])
                    for h in self.health().get("hosts", [])}
        except (OSError, ValueError):
            return {}

    def wait_warm(self, per_host: int, timeout_s: float = 15.0) -> bool:
        """Waits until every agent reports at least per_host warm ports (False on timeout or
        when the pool is off)."""
        if self.warm_pool < per_host:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            w = self.warm_ports()
            if len(w) >= len(self.hosts) and all(len(v) >= per_host for v in w.values()):
                return True
            time.sleep(0.1)
        return False

    # -- stop ---------------------------------------------------------------------------------
    def kill_orchestrator(self, sig: int = signal.SIGKILL) -> None:
        pid = self.recorded_pid("orchestrator")
        p = self._popen.get("orchestrator")
        if pid and pid_alive(pid):
            os.kill(pid, sig)
            if p is not None:
                p.wait(10)

    def restart_orchestrator(self) -> None:
        self._start_orchestrator(first=False)

    def kill_agent(self, host_id: str, sig: int = signal.SIGKILL) -> None:
        """Signals one agent process only (its redis-servers are in their own process groups
        and keep running)."""
        name = f"agent-{host_id}"
        pid = self.recorded_pid(name)
        p = self._popen.get(name)
        if pid and pid_alive(pid) and any("cachefleet-agent" in a for a in proc_cmdline(pid)):
            os.kill(pid, sig)
            if p is not None:
                p.wait(10)

    def restart_agent(self, host_id: str) -> None:
        """Starts one agent again with its existing config (same host id, AZ, node port range
        and data dir); returns when it serves. It re-adopts its running redis-servers."""
        name = f"agent-{host_id}"
        offset = self.log_path(name).stat().st_size if self.log_path(name).exists() else 0
        argv = [str(self.agent_bin), "--config", str(self.agent_config(host_id))]
        if self.stop_nodes_on_exit:
            argv.append("--stop-nodes-on-exit")
        p = self._spawn(name, argv)
        m = self._wait_line(name, p, AGENT_READY, offset)
        self.agent_ports[host_id] = int(m.group(3))
        if self.detach and host_id in self.port_ranges:
            transfer_reservation(self.port_ranges[host_id][0], p.pid)
        self._write_state()

    def stop_component(self, name: str, grace_s: float = 10.0) -> None:
        pid = self.recorded_pid(name)
        if pid:
            terminate_pid(pid, expect=self._binary_marker(name), grace_s=grace_s,
                          popen=self._popen.get(name))
        try:
            self.pid_path(name).unlink()
        except OSError:
            pass

    def stop(self, purge: bool = False) -> list[str]:
        """Agents and orchestrator by recorded PID, then every redis-server recorded in the
        agents' node.json files (and any other redis-server working inside the lab dir)."""
        report = []
        for name in reversed(self.components):
            pid = self.recorded_pid(name)
            if pid and pid_alive(pid):
                report.append(f"stopping {name} (pid {pid})")
            self.stop_component(name)
        for pid in self.redis_pids():
            report.append(f"stopping redis-server pid {pid}")
            terminate_pid(pid, expect="redis-server", grace_s=5.0)
        release_reservations(self._reserved or [s for s, _ in self.port_ranges.values()])
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)
            report.append(f"removed {self.root}")
        return report

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
