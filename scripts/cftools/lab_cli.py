"""Implements scripts/lab.sh (`python3 -m cftools.lab_cli`): up | down [--purge] | status | demo |
running."""
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time

from cftools import REPO, rediscli
from cftools import lab as lablib
from cftools.aws import lab_client
from cftools.errors import LabError

AWS = "/usr/bin/aws"
LAB_DIR = lablib.default_lab_dir()


def lab_obj() -> lablib.Lab:
    return lablib.Lab.attach(LAB_DIR)


def all_running(lab: lablib.Lab) -> bool:
    return all(pid is not None for pid in lab.running().values())


def print_access(lab: lablib.Lab) -> None:
    ep = lab.endpoint
    print(f"""
cachefleet lab is up (state in {lab.root})
  endpoint          {ep}
  region            {lablib.REGION}
  access key id     {lablib.ACCESS_KEY_ID}
  secret access key {lablib.SECRET_ACCESS_KEY}
  (the credentials are documented in {lab.orchestrator_config})

AWS CLI v2 (copy-paste):
  source {lab.root / 'env.sh'}        # sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION
  /usr/bin/aws elasticache create-replication-group --endpoint-url {ep} \\
      --replication-group-id my-cluster --replication-group-description "my cluster" \\
      --engine redis --cache-node-type cache.t3.micro \\
      --cache-parameter-group-name default.redis7.cluster.on \\
      --num-node-groups 3 --replicas-per-node-group 1 --automatic-failover-enabled
  /usr/bin/aws elasticache describe-replication-groups --endpoint-url {ep} --replication-group-id my-cluster
  /usr/bin/aws elasticache create-replication-group --endpoint-url {ep} \\
      --replication-group-id my-primary --replication-group-description "primary + 2 replicas" \\
      --engine redis --cache-node-type cache.t3.micro --num-cache-clusters 3 \\
      --preferred-cache-cluster-a-zs lab-a lab-b lab-c
  /usr/bin/aws elasticache modify-replication-group-shard-configuration --endpoint-url {ep} \\
      --replication-group-id my-cluster --node-group-count 5 --apply-immediately
  {REPO / 'scripts' / 'cachefleet'} watch my-cluster   # the reshard's progress bar
  /usr/bin/aws elasticache delete-replication-group --endpoint-url {ep} --replication-group-id my-cluster

boto3 (/usr/bin/python3):
  boto3.client("elasticache", endpoint_url="{ep}", region_name="{lablib.REGION}",
               aws_access_key_id="{lablib.ACCESS_KEY_ID}",
               aws_secret_access_key="{lablib.SECRET_ACCESS_KEY}")

Stop it with: scripts/lab.sh down   (add --purge to delete {lab.root})""")


def cmd_up(quiet: bool = False) -> lablib.Lab:
    lab = lab_obj()
    running = lab.running()
    if all(running.values()):
        try:
            lab.wait_healthy(timeout_s=10)
            if not quiet:
                print("lab already running")
                print_access(lab)
            return lab
        except LabError as e:
            print(f"lab processes run but are not healthy ({e}); restarting", file=sys.stderr)
    if any(running.values()) or lab.redis_pids():
        print("a partial lab is running; stopping it first", file=sys.stderr)
        for line in lab.stop():
            print("  " + line, file=sys.stderr)
    lab = lablib.Lab(LAB_DIR, detach=True)
    lab.start()
    for name, pid in lab.running().items():
        print(f"  {name:<20} pid {pid}")
    print_access(lab)
    return lab


def cmd_down(purge: bool) -> int:
    lab = lab_obj()
    lines = lab.stop(purge=purge)
    for line in lines:
        print(line)
    left = lab.redis_pids() if lab.root.exists() else []
    print("lab stopped" + (f"; redis-servers still alive: {left}" if left else ""))
    return 1 if left else 0


def cmd_status() -> int:
    lab = lab_obj()
    if not lab.root.exists():
        print(f"no lab at {lab.root}")
        return 1
    running = lab.running()
    print(f"lab dir   {lab.root}")
    print(f"endpoint  {lab.endpoint if lab.api_port else '-'}")
    for name, pid in running.items():
        extra = ""
        if name.startswith("agent-"):
            h = name[len("agent-"):]
            rng = lab.port_ranges.get(h)
            extra = f"  grpc 127.0.0.1:{lab.agent_ports.get(h)}  node ports {rng[0]}-{rng[1]}" \
                if rng else ""
        elif lab.api_port:
            extra = f"  api 127.0.0.1:{lab.api_port}  fleet 127.0.0.1:{lab.fleet_port}"
        print(f"  {name:<20} {'pid ' + str(pid) if pid else 'not running':<14}{extra}")
    nodes = [r for r in lab.node_records()]
    live = set(lab.redis_pids())
    warm = [r for r in nodes if lablib.is_warm(r["node_id"]) and r.get("pid") in live]
    print(f"redis-server processes: {len(live)} running "
          f"({len(warm)} of them idle in the agents' warm pools)")
    for r in nodes:
        if lablib.is_warm(r["node_id"]):
            continue
        pid = r.get("pid")
        state = "running" if pid in live else "not running"
        print(f"  {r['node_id']:<28} {r['host_id']:<8} port {r.get('port', '?'):<6} "
              f"pid {pid} ({state})")
    if running.get("orchestrator"):
        try:
            h = lab.health()
            print("hosts: " + ", ".join(f"{x.get('host_id')}/{x.get('az')}={x.get('state')}"
                                        for x in h.get("hosts", [])))
            c = lab_client(lab)
            groups = []
            for page in c.get_paginator("describe_replication_groups").paginate():
                groups += page["ReplicationGroups"]
            print(f"replication groups: {len(groups)}")
            for g in groups:
                print(f"  {g['ReplicationGroupId']:<30} {g['Status']:<10} "
                      f"cluster_mode={'on' if g.get('ClusterEnabled') else 'off'} "
                      f"members={len(g.get('MemberClusters', []))}")
        except Exception as e:  # status must never crash on a half-working lab
            print(f"(could not query the API: {e})")
    return 0 if all(running.values()) else 3


# ---------------------------------------------------------------------------------------------
# demo


def aws(lab: lablib.Lab, *args: str, check: bool = True) -> dict:
    argv = [AWS, "elasticache", *args, "--endpoint-url", lab.endpoint, "--output", "json"]
    r = subprocess.run(argv, capture_output=True, text=True, env=lab.client_env(), timeout=120)
    if check and r.returncode != 0:
        raise SystemExit(f"aws failed ({r.returncode}): {' '.join(argv)}\n{r.stderr}")
    if r.returncode != 0:
        return {"_error": r.stderr.strip(), "_rc": r.returncode}
    return json.loads(r.stdout) if r.stdout.strip() else {}


def show(cmd: list[str]) -> None:
    print("$ " + " ".join(shlex.quote(c) for c in cmd))


def cmd_demo() -> int:
    lab = cmd_up(quiet=True)
    ep = lab.endpoint
    print(f"lab running: endpoint {ep}, region {lablib.REGION}, key {lablib.ACCESS_KEY_ID} "
          f"(secret in {lab.orchestrator_config})\n")
    existing = {g["ReplicationGroupId"] for g in
                aws(lab, "describe-replication-groups").get("ReplicationGroups", [])}
    gid = "demo"
    n = 1
    while gid in existing:
        n += 1
        gid = f"demo-{n}"
    create = ["create-replication-group", "--replication-group-id", gid,
              "--replication-group-description", "cachefleet demo: 3 shards x 1 replica",
              "--engine", "redis", "--cache-node-type", "cache.t3.micro",
              "--cache-parameter-group-name", "default.redis7.cluster.on",
              "--num-node-groups", "3", "--replicas-per-node-group", "1",
              "--automatic-failover-enabled"]
    print("1. Create a cluster-mode-enabled replication group with AWS CLI v2:")
    show([AWS, "elasticache", *create, "--endpoint-url", ep])
    t0 = time.monotonic()
    rg = aws(lab, *create)["ReplicationGroup"]
    print(f"   -> Status {rg['Status']}\n")

    print("2. Wait for 'available' (describe-replication-groups every 0.2 s):")
    status, last_print = rg["Status"], None
    deadline = time.monotonic() + 180
    while True:
        d = aws(lab, "describe-replication-groups", "--replication-group-id", gid)
        rg = d["ReplicationGroups"][0]
        status = rg["Status"]
        if status != last_print:
            print(f"   {time.monotonic() - t0:6.2f}s  {status}")
            last_print = status
        if status == "available":
            break
        if status in ("create-failed", "deleting", "deleted") or time.monotonic() > deadline:
            print(f"   group did not become available (status {status})")
            return 1
        time.sleep(0.2)
    print(f"   available after {time.monotonic() - t0:.2f}s\n")

    print("3. The group as DescribeReplicationGroups reports it:")
    cfg = rg.get("ConfigurationEndpoint") or {}
    print(f"   {gid}: ClusterEnabled={rg.get('ClusterEnabled')} "
          f"AutomaticFailover={rg.get('AutomaticFailover')} "
          f"ConfigurationEndpoint={cfg.get('Address')}:{cfg.get('Port')}")
    recs = {r["node_id"]: r for r in lab.node_records()}
    roles = {}
    try:
        for nd in rediscli.cluster_nodes(cfg["Address"], cfg["Port"]):
            roles[nd["port"]] = "primary" if "master" in nd["flags"] else "replica"
    except Exception:
        pass
    for ng in rg.get("NodeGroups", []):
        print(f"   node group {ng['NodeGroupId']}  slots {ng.get('Slots', '?')}  "
              f"status {ng.get('Status')}")
        for m in ng.get("NodeGroupMembers", []):
            rec = recs.get(m["CacheClusterId"], {})
            port = rec.get("port")
            ep_m = m.get("ReadEndpoint") or ({"Address": "127.0.0.1", "Port": port}
                                              if port else {})
            print(f"     {m['CacheClusterId']:<18} AZ {m.get('PreferredAvailabilityZone', '?'):<6} "
                  f"endpoint {ep_m.get('Address', '?')}:{ep_m.get('Port', '?'):<6} "
                  f"role {m.get('CurrentRole') or roles.get(port, '?')}")
    print()
    host, port = cfg.get("Address"), cfg.get("Port")
    print("4. redis-cli --cluster check against the configuration endpoint:")
    show(["redis-cli", "--cluster", "check", f"{host}:{port}"])
    ok, out = rediscli.cluster_check(host, port)
    print("   " + "\n   ".join(out.strip().splitlines()))
    print(f"   => {'clean' if ok else 'PROBLEMS FOUND'}\n")

    print("5. Write and read 1000 keys through redis-cli -c (follows MOVED redirects):")
    show(["redis-cli", "-c", "-h", host, "-p", str(port), "SET", "demo:key:<i>", "value-<i>"])
    res = rediscli.write_read_keys(host, port, 1000, prefix="demo:key:")
    print(f"   wrote {res['written']}/1000 (OK replies), read back {res['read_ok']}/1000 matching")
    for nd in rediscli.cluster_nodes(host, port):
        if "master" in nd["flags"] and nd["slots"]:
            k = rediscli.redis_cli(nd["host"], nd["port"], "DBSIZE").stdout.strip()
            rng = ",".join(f"{a}-{b}" for a, b in nd["slots"])
            print(f"   primary {nd['host']}:{nd['port']} slots {rng}: {k} keys")
    good = ok and res["written"] == 1000 and res["read_ok"] == 1000
    print(f"""
The group '{gid}' is left running. Play with it:
  redis-cli -c -h {host} -p {port}
  source {lab.root / 'env.sh'}; /usr/bin/aws elasticache describe-replication-groups --endpoint-url {ep}
Delete it:
  /usr/bin/aws elasticache delete-replication-group --replication-group-id {gid} --endpoint-url {ep}
Stop the lab:
  scripts/lab.sh down""")
    print("\ndemo " + ("succeeded" if good else "FAILED"))
    return 0 if good else 1


def main() -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `lab.sh status | head` must not trace back
    args = sys.argv[1:]
    cmd = args[0] if args else ""
    try:
        if cmd == "up":
            cmd_up()
            return 0
        if cmd == "down":
            return cmd_down(purge="--purge" in args[1:])
        if cmd == "status":
            return cmd_status()
        if cmd == "demo":
            return cmd_demo()
        if cmd == "running":
            return 0 if all_running(lab_obj()) else 1
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    print("usage: scripts/lab.sh up | down [--purge] | status | demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
