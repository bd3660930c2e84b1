"""The drill's actions on local processes (the lab's): only loopback endpoints, only
redis-servers / cachefleet-agents, each pid checked in /proc before it is signalled. SIGKILL of
a primary's redis-server, SIGKILL of a whole host (its agent and every redis-server in its data
dir), and the agent's restart afterwards."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from cftools.errors import EXIT_FAILED, DrillError
from cftools.lab import AGENT_READY
from cftools.ports import transfer_reservation
from cftools.procs import pid_alive, proc_cmdline, redis_processes_under


LOOPBACK = ("127.", "::1", "localhost")


def is_loopback(host: str) -> bool:
    return host.startswith(LOOPBACK)


def redis_pid_of(host: str, port: int) -> int:
    """The pid of the redis-server serving host:port (INFO server process_id), checked against
    /proc: a live redis-server whose process title names that port. Loopback only."""
    import redis
    if not is_loopback(host):
        raise DrillError(f"{host}:{port} is not a loopback address: kill actions only run "
                         "against a lab on this machine")
    r = redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        pid = int(r.info("server")["process_id"])
    except Exception as e:  # noqa: BLE001
        raise DrillError(f"INFO on {host}:{port} failed: {e}", EXIT_FAILED) from e
    finally:
        r.close()
    argv = proc_cmdline(pid)
    if not argv or not os.path.basename(argv[0].split()[0]).startswith("redis-server") \
            or f":{port}" not in " ".join(argv) or not pid_alive(pid):
        raise DrillError(f"pid {pid} (from INFO on {host}:{port}) is not a local redis-server on "
                         f"that port ({' '.join(argv) or 'gone'}): refusing to kill it")
    return pid


def lab_state(lab_dir: Path) -> dict:
    try:
        return json.loads((Path(lab_dir) / "lab.json").read_text())
    except (OSError, ValueError) as e:
        raise DrillError(f"no lab state in {lab_dir} ({e}); kill-host needs the lab directory "
                         "(--lab-dir or CACHEFLEET_LAB_DIR)") from e


def host_of_node(lab_dir: Path, node_port: int, node_id: str | None = None) -> str:
    st = lab_state(lab_dir)
    for h, a in (st.get("agents") or {}).items():
        data = Path(a.get("data_dir") or Path(lab_dir) / "agents" / h / "data")
        if node_id and (data / "nodes" / node_id).is_dir():
            return h
    for h, a in (st.get("agents") or {}).items():
        rng = a.get("port_range") or []
        if len(rng) == 2 and rng[0] <= node_port <= rng[1]:
            return h
    raise DrillError(f"no agent of the lab in {lab_dir} hosts port {node_port}")


def kill_host(lab_dir: Path, host_id: str) -> dict:
    """SIGKILL of the agent `host_id` of the lab in lab_dir and of every redis-server working
    in its data dir (its nodes and its warm pool): the host is gone. Returns what was killed and
    how to start the agent again (its argv)."""
    lab_dir = Path(lab_dir).resolve()
    st = lab_state(lab_dir)
    a = (st.get("agents") or {}).get(host_id)
    if not a:
        raise DrillError(f"the lab in {lab_dir} has no agent {host_id}")
    try:
        pid = int((lab_dir / "pids" / f"agent-{host_id}.pid").read_text().strip())
    except (OSError, ValueError) as e:
        raise DrillError(f"no pid file for agent {host_id} in {lab_dir}/pids") from e
    argv = proc_cmdline(pid)
    if not pid_alive(pid) or not any("cachefleet-agent" in x for x in argv) \
            or not any(str(lab_dir) in x for x in argv):
        raise DrillError(f"pid {pid} is not the running agent {host_id} of {lab_dir}")
    data = Path(a.get("data_dir") or lab_dir / "agents" / host_id / "data")
    nodes = sorted(p["pid"] for p in redis_processes_under(data))
    t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    for n in nodes:
        try:
            os.kill(n, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return {"host": host_id, "agent_pid": pid, "redis_pids": nodes, "agent_argv": argv,
            "t": t}


def restart_agent(lab_dir: Path, host_id: str, argv: list[str], timeout_s: float = 30.0) -> int:
    """Starts the agent again with the argv it had (same config: host id, ports, data dir), in
    its own session, its output appended to the lab's log, its pid in the lab's pid file (what
    `lab.sh down` and the test fixtures stop). Returns when it serves."""
    lab_dir = Path(lab_dir).resolve()
    log = lab_dir / "logs" / f"agent-{host_id}.log"
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as f:
        f.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} cachefleet drill restarting: "
                f"{' '.join(argv)}\n".encode())
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=str(lab_dir), start_new_session=True, close_fds=True)
    (lab_dir / "pids" / f"agent-{host_id}.pid").write_text(f"{p.pid}\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            f.seek(offset)
            m = AGENT_READY.search(f.read())
        if m:
            st = lab_state(lab_dir)
            if host_id in st.get("agents", {}):
                st["agents"][host_id]["grpc_port"] = int(m.group(3))
                (lab_dir / "lab.json").write_text(json.dumps(st, indent=2) + "\n")
            rng = st.get("agents", {}).get(host_id, {}).get("port_range")
            if rng:
                try:
                    transfer_reservation(rng[0], p.pid)
                except Exception:  # noqa: BLE001
                    pass
            return p.pid
        if p.poll() is not None:
            raise DrillError(f"agent {host_id} exited with {p.returncode} on restart",
                             EXIT_FAILED)
        time.sleep(0.05)
    raise DrillError(f"agent {host_id} not serving {timeout_s:g} s after its restart",
                     EXIT_FAILED)

