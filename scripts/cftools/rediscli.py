"""redis-cli helpers (no Python Redis client needed): a command, `--cluster check`, CLUSTER
NODES, and writing / reading keys through `redis-cli -c`."""
from __future__ import annotations

import os
import re
import subprocess

from cftools.errors import LabError
from cftools.slots import parse_cluster_nodes

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def redis_cli(host: str, port: int, *args: str, stdin: str | None = None,
              timeout_s: float = 60.0, cluster: bool = False) -> subprocess.CompletedProcess:
    argv = ["redis-cli", "-h", host, "-p", str(port)] + (["-c"] if cluster else []) + list(args)
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout_s)


def cluster_check(host: str, port: int) -> tuple[bool, str]:
    """`redis-cli --cluster check`: clean means exit 0, both [OK] lines, no [ERR]/[WARNING]."""
    r = redis_cli(host, port, "--cluster", "check", f"{host}:{port}")
    out = _ANSI.sub("", r.stdout + r.stderr)
    ok = (r.returncode == 0 and "[OK] All nodes agree about slots configuration." in out
          and "[OK] All 16384 slots covered." in out and "[ERR]" not in out
          and "[WARNING]" not in out)
    return ok, out


def cluster_nodes(host: str, port: int) -> list[dict]:
    """CLUSTER NODES parsed (slots.parse_cluster_nodes): id, host, port, flags, master (id or
    None), slots (owned ranges, bracketed open-slot tokens skipped), link."""
    r = redis_cli(host, port, "CLUSTER", "NODES")
    if r.returncode != 0 or r.stdout.startswith("ERR"):
        raise LabError(f"CLUSTER NODES on {host}:{port} failed: {r.stdout}{r.stderr}")
    # Here "slots" are the owned ranges [(a, b), ...] (parse_cluster_nodes' "ranges").
    return [dict(n, slots=n["ranges"]) for n in parse_cluster_nodes(r.stdout)]


def write_read_keys(host: str, port: int, n: int = 1000, prefix: str = "cf:key:",
                    cluster: bool = True) -> dict:
    """Writes n keys through `redis-cli -c` (following MOVED), reads them back the same way and
    reports {"written": OKs, "read_ok": matching values, "mismatches": [...]}."""
    keys = [f"{prefix}{i}" for i in range(n)]
    vals = [f"value-{i}-{os.getpid()}" for i in range(n)]
    w = redis_cli(host, port, stdin="".join(f"SET {k} {v}\n" for k, v in zip(keys, vals)),
                  cluster=cluster, timeout_s=120)
    replies = [ln for ln in _ANSI.sub("", w.stdout).splitlines()
               if ln and not ln.startswith("-> Redirected")]
    written = sum(1 for ln in replies if ln == "OK")
    r = redis_cli(host, port, stdin="".join(f"GET {k}\n" for k in keys), cluster=cluster,
                  timeout_s=120)
    got = [ln for ln in _ANSI.sub("", r.stdout).splitlines() if not ln.startswith("-> Redirected")]
    mismatches = [(k, v, g) for k, v, g in zip(keys, vals, got) if v != g]
    read_ok = sum(1 for v, g in zip(vals, got) if v == g)
    return {"written": written, "read_ok": read_ok, "mismatches": mismatches[:5],
            "write_errors": [ln for ln in replies if ln != "OK"][:5],
            "stderr": (w.stderr + r.stderr)[-500:]}

