"""Local processes: liveness and /proc lookups, PR_SET_PDEATHSIG, stopping a pid (only while it
is still the process we mean), and starting this package's own modules in a child Python."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# The interpreter for child processes of ours (Debian's boto3 and redis-py live there).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)  # scripts/


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except OSError:
        return False


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def proc_cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def is_redis_server(pid: int) -> bool:
    """True if pid is a live redis-server (argv[0] or its process title says so)."""
    argv = proc_cmdline(pid)
    if not argv or not pid_alive(pid):
        return False
    return os.path.basename(argv[0].split()[0]).startswith("redis-server")


def set_pdeathsig(sig: int = signal.SIGTERM) -> None:
    """A preexec_fn: runs in the child between fork and exec. If the parent dies (even by
    SIGKILL), the kernel sends this child `sig` (default SIGTERM), so no daemon outlives a
    crashed test run."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def set_pdeathsig_kill() -> None:
    """set_pdeathsig with SIGKILL (a client process that must die with its parent at once)."""
    set_pdeathsig(signal.SIGKILL)


def terminate_pid(pid: int, expect: str | None = None, grace_s: float = 10.0,
                  popen: subprocess.Popen | None = None) -> bool:
    """SIGTERM, then SIGKILL after grace_s. If `expect` is given, the pid is only signalled
    while its command line contains that string (guards against a recycled pid).
    Returns True if a process was signalled."""
    if not pid_alive(pid):
        if popen is not None:
            popen.poll()
        return False
    if expect is not None and not any(expect in a for a in proc_cmdline(pid)):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return True
        elif not pid_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if popen is not None:
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
    else:
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    return True


def redis_processes_under(root: Path) -> list[dict]:
    """Every live redis-server whose working directory (redis chdirs into its `dir`) is inside
    root: these are ours even if no node.json recorded them."""
    root_s = str(Path(root).resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if not is_redis_server(pid):
            continue
        cwd = proc_cwd(pid)
        if cwd == root_s or cwd.startswith(root_s + "/"):
            found.append({"pid": pid, "cwd": cwd, "cmdline": " ".join(proc_cmdline(pid))})
    return found


def module_argv(module: str, *args: str) -> list[str]:
    """argv that runs one of this package's modules as a program (`python3 -m cftools.<x>`)."""
    return [PYTHON, "-m", module, *args]


def module_env(env: dict | None = None) -> dict:
    """The environment for module_argv: `env` (default ours) with scripts/ first on PYTHONPATH,
    so that the child finds the package wherever it was started from."""
    env = dict(os.environ if env is None else env)
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + rest if rest else "")
    return env
