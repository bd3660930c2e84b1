"""Shared fixture for the end-to-end tests (run by /usr/bin/python3).

Each test file starts its OWN lab — orchestrator + 3 agents on free ports in a temp dir — once
(`start_lab()` in setUpModule) and tears it all down by PID in tearDownModule, redis-servers
included. The daemons also get PR_SET_PDEATHSIG, and SIGTERM/SIGINT/an internal deadline raise
into the test so that teardown runs even when ctest times the test out.

Binary paths come from CACHEFLEET_AGENT_BIN / CACHEFLEET_ORCHESTRATOR_BIN (set by
tests/CMakeLists.txt) or default to build/. The lab and its helpers are the package
scripts/cftools, which ctest puts on PYTHONPATH (tests/CMakeLists.txt; by hand:
`PYTHONPATH=scripts /usr/bin/python3 tests/e2e/test_<name>.py` from the repository root).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from cftools import REPO, slots  # noqa: F401  (fx.REPO)
from cftools import lab as lablib  # noqa: F401  (the lab library shared with scripts/lab.sh)
from cftools.aws import lab_client
from cftools.errors import LabError  # noqa: F401
from cftools.lab import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Lab  # noqa: F401
from cftools.procs import is_redis_server, redis_processes_under, terminate_pid
from cftools.rediscli import cluster_check, cluster_nodes, redis_cli, write_read_keys  # noqa: F401
from cftools.slots import SLOTS

AWS = "/usr/bin/aws"

_lab: Lab | None = None
_tmp: str | None = None
_failed = False


class Deadline(Exception):
    pass


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _on_alarm(signum, frame):
    raise Deadline("test file exceeded its internal deadline")


def start_lab(name: str, **kw) -> Lab:
    """Starts this file's lab in a fresh temp dir. kw go to cftools.lab.Lab (ports_per_agent, ...)."""
    global _lab, _tmp
    _tmp = tempfile.mkdtemp(prefix=f"cf-e2e-{name}-")
    _lab = Lab(_tmp, detach=False, **kw)
    try:
        _lab.start()
    except BaseException:
        _dump_logs(_lab)
        _cleanup()
        raise
    print(f"[fixture] lab in {_tmp}: endpoint {_lab.endpoint}, node ranges "
          f"{ {h: r for h, r in _lab.port_ranges.items()} }", flush=True)
    return _lab


def lab() -> Lab:
    assert _lab is not None, "start_lab() not called"
    return _lab


def _dump_logs(lb: Lab | None) -> None:
    if lb is None:
        return
    for name in lb.components:
        print(f"---- {name} log (tail) ----\n{lb.log_tail(name, 40)}", file=sys.stderr)


def _cleanup() -> None:
    global _lab, _tmp
    if _lab is not None:
        try:
            _lab.stop()
        finally:
            left = redis_processes_under(Path(_tmp)) if _tmp else []
            for p in left:
                terminate_pid(p["pid"], expect="redis-server", grace_s=2)
    if _tmp and os.path.isdir(_tmp):
        if _failed and os.environ.get("CACHEFLEET_E2E_KEEP"):
            print(f"[fixture] kept {_tmp}", file=sys.stderr)
        else:
            shutil.rmtree(_tmp, ignore_errors=True)
    _lab = None
    _tmp = None


def stop_lab() -> None:
    if _failed:
        _dump_logs(_lab)
    _cleanup()


def run(deadline_s: int = 600) -> None:
    """unittest.main() with teardown guaranteed: SIGTERM/SIGINT and an internal alarm raise into
    the running test so tearDownModule still runs. Prints a 'N passed, N failed' line."""
    global _failed
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(deadline_s)
    class _Result(unittest.TextTestResult):
        # Mark the run failed as soon as a test fails, so that tearDownModule (which runs before
        # unittest.main returns) dumps the daemons' logs and honours CACHEFLEET_E2E_KEEP.
        def addFailure(self, test, err):
            mark_failed()
            super().addFailure(test, err)

        def addError(self, test, err):
            mark_failed()
            super().addError(test, err)

    runner = unittest.TextTestRunner(resultclass=_Result, verbosity=2, warnings="ignore")
    prog = unittest.main(module="__main__", exit=False, testRunner=runner)
    res = prog.result
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    _failed = _failed or failed > 0
    passed = res.testsRun - failed - len(res.skipped)
    print(f"{passed} passed, {failed} failed" + (f", {len(res.skipped)} skipped"
                                                 if res.skipped else ""), flush=True)
    if _lab is not None:  # setUpModule failed half-way or tearDownModule did not run
        _cleanup()
    sys.exit(0 if failed == 0 and res.testsRun > 0 else 1)


def mark_failed() -> None:
    global _failed
    _failed = True


# ---------------------------------------------------------------------------------------------
# Clients


def aws(*args: str, expect_ok: bool = True, secret: str | None = None,
        access_key: str | None = None, timeout_s: float = 120) -> tuple[int, dict | None, str]:
    """Runs `/usr/bin/aws elasticache <args> --endpoint-url <lab> --output json`.
    Returns (exit code, parsed JSON or None, stderr)."""
    argv = [AWS, "elasticache", *args, "--endpoint-url", lab().endpoint, "--output", "json",
            "--cli-read-timeout", "60", "--cli-connect-timeout", "10"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                       env=lab().client_env(secret=secret, access_key=access_key))
    out = None
    if r.stdout.strip():
        try:
            out = json.loads(r.stdout)
        except ValueError:
            out = {"_raw": r.stdout}
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed rc={r.returncode}: {r.stderr.strip()}")
    return r.returncode, out, r.stderr


def client(**kw):
    return lab_client(lab(), **kw)


_tls = threading.local()


def _c():
    c = getattr(_tls, "client", None)
    if c is None:
        c = _tls.client = client()
    return c


def raw_call(params: dict, secret: str = SECRET_ACCESS_KEY,
             access_key: str = ACCESS_KEY_ID) -> tuple[int, str | None, str]:
    """Sends an arbitrary SigV4-signed Query request (for what boto3 refuses to send).
    Returns (HTTP status, error Code or None, body)."""
    import re
    import urllib.error
    import urllib.parse
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = urllib.parse.urlencode(params)
    req = AWSRequest(method="POST", url=lab().endpoint + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(access_key, secret), "elasticache", REGION).add_auth(req)
    p = req.prepare()
    ureq = urllib.request.Request(p.url, data=body.encode(), method="POST",
                                  headers=dict(p.headers.items()))
    try:
        with urllib.request.urlopen(ureq, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return status, (m.group(1) if m else None), text


def describe(gid: str | None = None) -> list[dict]:
    """Every replication group (following Marker) or one group by id."""
    c = _c()
    if gid is not None:
        return c.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"]
    out, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = c.describe_replication_groups(**kw)
        out += page["ReplicationGroups"]
        marker = page.get("Marker")
        if not marker:
            return out


def error_code(e) -> tuple[str, int]:
    return (e.response.get("Error", {}).get("Code"),
            e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def wait_status(gid: str, want: str = "available", timeout_s: float = 120, poll_s: float = 0.1,
                seen: list | None = None) -> dict:
    """Polls DescribeReplicationGroups until Status == want. Fails at once on create-failed
    (or on any status outside creating/want). `seen` collects the statuses observed."""
    from botocore.exceptions import ClientError
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            g = describe(gid)[0]
        except ClientError as e:
            raise AssertionError(f"{gid}: describe failed while waiting for {want}: "
                                 f"{error_code(e)}")
        if seen is not None and (not seen or seen[-1] != g["Status"]):
            seen.append(g["Status"])
        if g["Status"] == want:
            return g
        if g["Status"] not in ("creating", "modifying", want):
            raise AssertionError(f"{gid}: status {g['Status']} while waiting for {want}")
        last = g["Status"]
        time.sleep(poll_s)
    raise AssertionError(f"{gid}: still {last} after {timeout_s}s waiting for {want}")


def wait_gone(gid: str, timeout_s: float = 120, poll_s: float = 0.1,
              seen: list | None = None) -> None:
    """Polls until DescribeReplicationGroups answers ReplicationGroupNotFoundFault (404). The
    group must show 'deleting' (never 'available') until then."""
    from botocore.exceptions import ClientError
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            g = describe(gid)[0]
        except ClientError as e:
            code, status = error_code(e)
            if code == "ReplicationGroupNotFoundFault" and status == 404:
                return
            raise AssertionError(f"{gid}: unexpected error while deleting: {code} {status}")
        if seen is not None and (not seen or seen[-1] != g["Status"]):
            seen.append(g["Status"])
        if g["Status"] != "deleting":
            raise AssertionError(f"{gid}: status {g['Status']} after DeleteReplicationGroup")
        time.sleep(poll_s)
    raise AssertionError(f"{gid}: not gone after {timeout_s}s")


# ---------------------------------------------------------------------------------------------
# Checks shared by the test files


def parse_slots(s: str) -> list[tuple[int, int]]:
    """'0-5460' or '0-100,200-300' (also space separated) -> [(0, 5460), ...]."""
    return slots.range_list(s)


def assert_slots_cover_exactly_once(tc: unittest.TestCase, rg: dict) -> None:
    counts = [0] * SLOTS
    for ng in rg["NodeGroups"]:
        tc.assertIn("Slots", ng, f"node group {ng.get('NodeGroupId')} has no Slots")
        for a, b in parse_slots(ng["Slots"]):
            tc.assertTrue(0 <= a <= b < SLOTS, f"bad range {a}-{b} in {ng['Slots']}")
            for s in range(a, b + 1):
                counts[s] += 1
    missing = [s for s in range(SLOTS) if counts[s] == 0]
    dup = [s for s in range(SLOTS) if counts[s] > 1]
    tc.assertEqual(missing, [], f"slots not covered (first ones): {missing[:10]}")
    tc.assertEqual(dup, [], f"slots covered twice (first ones): {dup[:10]}")


def member_records(member_ids) -> dict[str, dict]:
    """node_id -> node.json record (with host_id/dir) for the given cache cluster ids."""
    want = set(member_ids)
    return {r["node_id"]: r for r in lab().node_records() if r["node_id"] in want}


def record_port(rec: dict) -> int | None:
    for k in ("port",):
        if isinstance(rec.get(k), int):
            return rec[k]
    spec = rec.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("port"), int):
        return spec["port"]
    return None


def group_processes(member_ids) -> list[dict]:
    """Live redis-servers belonging to these cache clusters: by node.json pid, and by working
    directory inside a node dir named after the member."""
    ids = set(member_ids)
    found = {}
    for r in lab().node_records():
        if r["node_id"] in ids and isinstance(r.get("pid"), int) and is_redis_server(r["pid"]):
            found[r["pid"]] = {"pid": r["pid"], "node_id": r["node_id"]}
    for p in redis_processes_under(lab().root):
        parts = Path(p["cwd"]).parts
        for nid in ids:
            if nid in parts:
                found.setdefault(p["pid"], {"pid": p["pid"], "node_id": nid})
    return list(found.values())


def all_lab_redis() -> list[int]:
    """Live redis-servers of the lab that are nodes of some group (not idle warm-pool nodes)."""
    return lab().redis_pids(include_warm=False)


def assert_group_gone(tc: unittest.TestCase, member_ids, pids_before) -> None:
    """No redis-server of the group alive (by the pids seen before the delete and by a fresh
    scan), and no data directory of any member left on any agent."""
    alive = [p for p in pids_before if is_redis_server(p)]
    tc.assertEqual(alive, [], f"redis-server pids of the deleted group still alive: {alive}")
    tc.assertEqual(group_processes(member_ids), [], "redis-servers of the deleted group remain")
    left = []
    for host_id, _ in lab().hosts:
        for nid in member_ids:
            d = lab().agent_data_dir(host_id) / "nodes" / nid
            if d.exists():
                left.append(str(d))
    tc.assertEqual(left, [], "data directories of the deleted group remain")


def primaries_and_replicas(cfg_host: str, cfg_port: int) -> tuple[list[dict], list[dict]]:
    nodes = cluster_nodes(cfg_host, cfg_port)
    masters = [n for n in nodes if "master" in n["flags"]]
    replicas = [n for n in nodes if "slave" in n["flags"]]
    return masters, replicas
