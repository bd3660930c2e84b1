"""The drill's client in its own process (so that the drill's polling never shares the GIL with
it): LoadProcess starts `python3 -m cftools.drill_load` with a JSON spec, stops it with a line
on stdin and reads back every write attempt it recorded (seq, slot, start, end, outcome, WAIT
result, node).

Times are CLOCK_MONOTONIC seconds (time.monotonic()), which is the same clock in every process
of the machine, so the load process's records and the drill's trigger time compare directly.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time

from cftools.drill_client import ClusterWriter, StandaloneWriter, error_kind, make_resolver
from cftools.errors import EXIT_FAILED, DrillError
from cftools.procs import module_argv, module_env, set_pdeathsig_kill
from cftools.slots import key_slot

LOAD_MODULE = "cftools.drill_load"  # what LoadProcess runs (`python3 -m`)


# ---------------------------------------------------------------------------------------------
# The load loop (runs in the load process)

# One record per write attempt, a list to keep the file small:
R_SEQ, R_SLOT, R_T0, R_T1, R_OK, R_ERR, R_WAIT, R_TW, R_NODE = range(9)
# R_WAIT: None (no WAIT after this write), n >= 0 (WAIT's reply), -1 (WAIT raised)


def run_load(writer, *, rate: float, prefix: str, run_id: str, wait_every: int,
             wait_timeout_ms: int, retry_s: float, stop: threading.Event,
             on_first_ok=None, max_writes: int = 0) -> dict:
    period = 1.0 / rate if rate > 0 else 0.0
    records: list[list] = []
    nodes: dict[str, int] = {}
    seq = 0
    first_ok = False
    next_t = time.monotonic()
    while not stop.is_set() and (not max_writes or seq < max_writes):
        seq += 1
        key = f"{prefix}{seq}"
        val = f"{seq}:{run_id}".encode()
        slot = key_slot(key.encode())
        t0 = time.monotonic()
        ok, err, wres, tw = 0, "", None, 0.0
        try:
            h = writer.write(key, val)
            t1 = time.monotonic()
            ok = 1
            if wait_every and seq % wait_every == 0:
                try:
                    wres = writer.wait(h, 1, wait_timeout_ms)
                except Exception:  # noqa: BLE001 — acknowledged, but not confirmed
                    wres = -1
                tw = time.monotonic()
        except Exception as e:  # noqa: BLE001 — every client-visible error counts
            t1 = time.monotonic()
            err = error_kind(e)
        node = writer.node_name()
        ni = nodes.setdefault(node, len(nodes))
        records.append([seq, slot, round(t0, 6), round(t1, 6), ok, err, wres, round(tw, 6),
                        ni])
        if ok and not first_ok:
            first_ok = True
            if on_first_ok:
                on_first_ok()
        now = time.monotonic()
        next_t += period
        if not ok:
            next_t = max(next_t, now + retry_s)
        if next_t - now > 0:
            stop.wait(next_t - now)
        elif now - next_t > 1.0:  # far behind (a long block): don't burst afterwards
            next_t = now
    return {"records": records, "nodes": {v: k for k, v in nodes.items()}}


def _load_main(argv) -> int:
    """`python3 -m cftools.drill_load`: reads one JSON spec line on stdin, prints `ready` once a write has
    been acknowledged (or `failed <why>`), runs until a line (or EOF) on stdin, writes the
    records to spec["out"] and prints `done`."""
    # RedisCluster logs every error it handles with log.exception(); without a handler Python
    # prints them all on stderr. The errors are what we count, not what we print.
    rc_log = logging.getLogger("redis.cluster")
    rc_log.addHandler(logging.NullHandler())
    rc_log.propagate = False
    rc_log.setLevel(logging.CRITICAL)
    spec = json.loads(sys.stdin.readline())
    stop = threading.Event()
    ready = threading.Event()
    try:
        if spec["mode"] == "cluster":
            writer = ClusterWriter(spec["startup"], spec.get("socket_timeout_s", 1.0),
                                   spec.get("retry_ms", 20) / 1000.0,
                                   spec.get("client", "short-retry"))
        else:
            writer = StandaloneWriter(make_resolver(spec["resolver"]),
                                      spec.get("socket_timeout_s", 1.0),
                                      spec.get("retry_ms", 20) / 1000.0)
    except Exception as e:  # noqa: BLE001
        print(f"failed {type(e).__name__}: {e}", flush=True)
        return 1
    result: dict = {}
    started = time.monotonic()

    def work():
        try:
            result.update(run_load(
                writer, rate=spec.get("rate", 500), prefix=spec["prefix"],
                run_id=spec["run_id"], wait_every=spec.get("wait_every", 10),
                wait_timeout_ms=spec.get("wait_timeout_ms", 200),
                retry_s=spec.get("retry_ms", 20) / 1000.0, stop=stop, on_first_ok=ready.set))
        except BaseException as e:  # noqa: BLE001
            result["fatal"] = f"{type(e).__name__}: {e}"
        finally:
            ready.set()

    t = threading.Thread(target=work, daemon=True)
    t.start()
    if not ready.wait(spec.get("ready_timeout_s", 30)):
        print("failed no write acknowledged within the ready timeout", flush=True)
        stop.set()
        t.join(10)
        return 1
    print("ready" if "fatal" not in result else f"failed {result['fatal']}", flush=True)
    sys.stdin.readline()
    stop.set()
    t.join(30)
    writer.close()
    result.update({"started": started, "stopped": time.monotonic(), "spec": spec,
                   "resolves": getattr(writer, "resolves", 0),
                   "refreshes": getattr(writer, "refreshes", 0)})
    tmp = spec["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, spec["out"])
    print("done", flush=True)
    return 0


class LoadProcess:
    """The client in its own process. `with LoadProcess(spec) as lp: ...; res = lp.stop()`.
    spec: mode ("cluster" | "standalone"), startup [[host, port]...] (cluster) or resolver
    (standalone, see make_resolver), rate, wait_every, wait_timeout_ms, retry_ms, prefix,
    run_id, socket_timeout_s, client ("short-retry" | "redis-py")."""

    def __init__(self, spec: dict):
        self.spec = dict(spec)
        self.spec.setdefault("run_id", f"{os.getpid()}-{int(time.time() * 1000)}")
        self.spec.setdefault("prefix", f"cfdrill:{self.spec['run_id']}:")
        fd, self.out = tempfile.mkstemp(prefix="cfdrill-load-", suffix=".json")
        os.close(fd)
        os.unlink(self.out)
        self.spec["out"] = self.out
        self.p: subprocess.Popen | None = None
        self.result: dict | None = None

    def start(self, timeout_s: float = 40.0) -> "LoadProcess":
        # stderr to a file, not a pipe: a chatty child must never block on a full pipe.
        self.err = tempfile.TemporaryFile(prefix="cfdrill-load-err-")
        self.p = subprocess.Popen(module_argv(LOAD_MODULE), env=module_env(),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True,
                                  preexec_fn=set_pdeathsig_kill, close_fds=True)
        self.p.stdin.write(json.dumps(self.spec) + "\n")
        self.p.stdin.flush()
        line = self._readline(timeout_s)
        if line.strip() != "ready":
            err = self.kill()
            raise DrillError(f"the client load did not start: {line.strip() or '(no output)'}"
                             + (f"; {err.strip()[-400:]}" if err.strip() else ""), EXIT_FAILED)
        return self

    def _readline(self, timeout_s: float) -> str:
        out: list[str] = []
        t = threading.Thread(target=lambda: out.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout_s)
        return out[0] if out else ""

    def stop(self, timeout_s: float = 30.0) -> dict:
        """Stops the load (it finishes its current write), returns its records."""
        if self.result is not None:
            return self.result
        try:
            self.p.stdin.write("stop\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        line = self._readline(timeout_s)
        if line.strip() != "done":
            err = self.kill()
            raise DrillError(f"the client load did not stop cleanly: {line.strip()!r} "
                             f"{err.strip()[-400:]}", EXIT_FAILED)
        self.p.wait(10)
        for f in (self.p.stdin, self.p.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass
        with open(self.out) as f:
            self.result = json.load(f)
        os.unlink(self.out)
        return self.result

    def kill(self) -> str:
        """Ends the process whatever it does; returns its stderr."""
        err = ""
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
        if self.p is not None:
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            for f in (self.p.stdin, self.p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            try:
                self.err.seek(0)
                err = self.err.read()[-4000:].decode(errors="replace")
                self.err.close()
            except (OSError, ValueError):
                pass
        for f in (self.out, self.out + ".tmp"):
            try:
                os.unlink(f)
            except OSError:
                pass
        return err or ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.result is None:
            self.kill()


if __name__ == "__main__":
    raise SystemExit(_load_main(sys.argv[1:]))
