"""`cachefleet watch` and `cachefleet operations` (scripts/cachefleet): the orchestrator's
unsigned JSON endpoint `GET /cachefleet/operations?group=<id>`, the progress line (terminal) or
lines (no terminal), and the closing summary. Only the Python standard library."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cftools.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CodedError
from cftools.lab import default_lab_dir
from cftools.procs import pid_alive, proc_cmdline

TERMINAL_STATES = {"succeeded", "failed", "cancelled", "canceled"}
SUCCESS_STATES = {"succeeded"}


class CliError(CodedError):
    """A command that cannot go on; code is its exit code."""


# ---------------------------------------------------------------------------------------------
# Endpoint


def lab_endpoint() -> str | None:
    """The endpoint of the lab in CACHEFLEET_LAB_DIR (default <repo>/.lab) if its orchestrator
    runs (pid file alive and a cachefleet-orchestrator), else None."""
    lab_dir = default_lab_dir()
    try:
        state = json.loads((lab_dir / "lab.json").read_text())
        pid = int((lab_dir / "pids" / "orchestrator.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid) or not any("cachefleet-orchestrator" in a for a in proc_cmdline(pid)):
        return None
    ep = state.get("endpoint")
    if not ep and state.get("api_port"):
        ep = f"http://127.0.0.1:{state['api_port']}"
    return ep or None


def resolve_endpoint(arg: str | None) -> str:
    ep = arg or lab_endpoint() or os.environ.get("CACHEFLEET_ENDPOINT")
    if not ep:
        raise CliError("no endpoint: pass --endpoint-url, start the lab (scripts/lab.sh up) or "
                       "set CACHEFLEET_ENDPOINT")
    if "://" not in ep:
        ep = "http://" + ep
    return ep.rstrip("/")


# ---------------------------------------------------------------------------------------------
# The orchestrator's operations endpoint


class Unreachable(Exception):
    pass


class OperationsApi:
    def __init__(self, endpoint: str, timeout_s: float = 3.0):
        self.endpoint = endpoint
        self.timeout_s = timeout_s

    def list(self, group: str) -> list[dict]:
        """Operations of `group` (as the orchestrator returns them). Raises Unreachable on
        connection errors / 5xx, CliError on answers that will not get better."""
        url = f"{self.endpoint}/cachefleet/operations?{urllib.parse.urlencode({'group': group})}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            if e.code >= 500:
                raise Unreachable(f"HTTP {e.code}") from e
            detail = e.read().decode(errors="replace")[:200]
            raise CliError(f"GET {url}: HTTP {e.code} {detail}".strip(), EXIT_USAGE) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Unreachable(str(reason)) from e
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise Unreachable(f"not JSON: {body[:80]!r}") from e
        ops = doc.get("operations") if isinstance(doc, dict) else None
        if not isinstance(ops, list):
            raise CliError(f"GET {url}: no 'operations' list in the answer", EXIT_USAGE)
        return [o for o in ops if isinstance(o, dict)]


def is_terminal(op: dict) -> bool:
    return str(op.get("state", "")).lower() in TERMINAL_STATES or bool(op.get("finished_at"))


def succeeded(op: dict) -> bool:
    return str(op.get("state", "")).lower() in SUCCESS_STATES


def pick_operation(ops: list[dict], op_id: str | None, kind: str | None) -> dict | None:
    """The operation to follow: the given id; else the newest unfinished one (of `kind`);
    else the newest one."""
    if kind:  # "reshard" also matches "reshard-scale-out" etc.
        ops = [o for o in ops if str(o.get("kind", "")) == kind
               or str(o.get("kind", "")).startswith(kind + "-")]
    if op_id is not None:
        return next((o for o in ops if str(o.get("id")) == str(op_id)), None)
    if not ops:
        return None

    def key(o):
        try:
            return (0, int(o.get("id")))
        except (TypeError, ValueError):
            return (1, str(o.get("id")))
    ops = sorted(ops, key=key)
    running = [o for o in ops if not is_terminal(o)]
    return (running or ops)[-1]


# ---------------------------------------------------------------------------------------------
# Formatting


def _num(v, default=0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def human(n: float) -> str:
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    n = float(n)
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def duration(s: float | None) -> str:
    if s is None or s < 0:
        return "-"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def fields(op: dict) -> dict:
    """The numbers of one operation, defaulted."""
    return {
        "pct": max(0.0, min(100.0, _num(op.get("progress_percentage")))),
        "slots_done": int(_num(op.get("slots_done"))),
        "slots_planned": int(_num(op.get("slots_planned"))),
        "keys_moved": int(_num(op.get("keys_moved"))),
        "keys_total": int(_num(op.get("keys_total"))),
        "bytes_moved": int(_num(op.get("bytes_moved"))),
        "kps": _num(op.get("keys_per_second")),
        "eta": op.get("eta_seconds"),
        "retries": int(_num(op.get("retries"))),
        "last_error": str(op.get("last_error") or ""),
        "state": str(op.get("state") or "?"),
        "step": str(op.get("step") or ""),
    }


def status_text(op: dict) -> str:
    """Everything but the bar: '42.5%  slots 1720/4096  keys 84.0k/200.0k  31.2k keys/s  ETA 4s'."""
    f = fields(op)
    parts = [f"{f['pct']:5.1f}%"]
    if f["slots_planned"]:
        parts.append(f"slots {f['slots_done']}/{f['slots_planned']}")
    if f["keys_total"] or f["keys_moved"]:
        parts.append(f"keys {human(f['keys_moved'])}/{human(f['keys_total'])}")
    if f["kps"] > 0:
        parts.append(f"{human(f['kps'])} keys/s")
    if f["eta"] is not None and not is_terminal(op) and _num(f["eta"], -1) >= 0:
        parts.append(f"ETA {duration(_num(f['eta']))}")
    if f["retries"]:
        parts.append(f"retries {f['retries']}")
    if f["last_error"]:
        parts.append(f"last error: {f['last_error']}")
    return "  ".join(parts)


def bar(pct: float, width: int) -> str:
    width = max(width, 5)
    filled = pct / 100.0 * width
    full = int(filled)
    partial = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < width else ""
    return "█" * full + (partial if full < width else "") + " " * (width - full - len(partial))


def tty_line(op: dict, label: str, columns: int) -> str:
    """One terminal line: label [bar] status, shortened to fit `columns`."""
    f = fields(op)
    text = status_text(op)
    fixed = len(label) + 4 + len(text)
    bar_w = max(10, min(40, columns - fixed))
    line = f"{label} [{bar(f['pct'], bar_w)}] {text}"
    if len(line) > columns - 1:
        line = line[:max(columns - 2, 10)] + "…"
    return line


def plain_line(op: dict, label: str) -> str:
    f = fields(op)
    st = f["step"] if len(f["step"]) <= 72 else f["step"][:71] + "…"
    step = f" ({st})" if st else ""
    return f"{time.strftime('%H:%M:%S')} {label} {f['state']}{step}  {status_text(op)}"


def started_seconds(op: dict) -> float | None:
    """Wall seconds between started_at and finished_at when both are given (ISO-8601 strings or
    epoch seconds / milliseconds)."""
    def parse(v):
        if v in (None, "", 0):
            return None
        if isinstance(v, (int, float)):
            return v / 1000.0 if v > 1e11 else float(v)
        try:
            from datetime import datetime
            return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    a, b = parse(op.get("started_at")), parse(op.get("finished_at"))
    return b - a if a is not None and b is not None and b >= a else None


def summary(op: dict, group: str) -> str:
    f = fields(op)
    took = started_seconds(op)
    parts = [f"{op.get('kind', 'operation')} {op.get('id')} of {group} {f['state']}"]
    if took is not None:
        parts[0] += f" in {took:.1f} s"
    details = []
    if f["slots_planned"]:
        details.append(f"{f['slots_done']}/{f['slots_planned']} slots")
    if f["keys_total"] or f["keys_moved"]:
        details.append(f"{f['keys_moved']:,} keys moved")
    if f["bytes_moved"]:
        details.append(human_bytes(f["bytes_moved"]))
    if took and f["keys_moved"]:
        details.append(f"{human(f['keys_moved'] / took)} keys/s")
    details.append(f"retries {f['retries']}")
    out = parts[0] + ": " + ", ".join(details)
    if f["last_error"] and not succeeded(op):
        out += f"\nerror: {f['last_error']}"
    elif f["last_error"]:
        out += f" (last retried error: {f['last_error']})"
    return out


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_watch(args) -> int:
    api = OperationsApi(resolve_endpoint(args.endpoint_url))
    out = sys.stdout
    tty = out.isatty() if args.tty is None else args.tty
    interval = args.interval
    plain_every = 1.0
    started = time.monotonic()
    unreachable_since: float | None = None
    followed_id = args.operation
    last: dict | None = None
    last_plain = 0.0
    drawn = False

    def clear():
        nonlocal drawn
        if tty and drawn:
            out.write("\r\x1b[K")
            drawn = False

    try:
        while True:
            now = time.monotonic()
            if args.timeout and now - started > args.timeout:
                clear()
                print(f"cachefleet watch: gave up after {args.timeout:g} s"
                      + (f"; last seen: {status_text(last)}" if last else ""), file=sys.stderr)
                return EXIT_UNREACHABLE
            try:
                ops = api.list(args.replication_group_id)
                unreachable_since = None
            except Unreachable as e:
                unreachable_since = unreachable_since or now
                if now - unreachable_since > args.unreachable_timeout:
                    clear()
                    print(f"cachefleet watch: {api.endpoint} unreachable for "
                          f"{args.unreachable_timeout:g} s: {e}", file=sys.stderr)
                    return EXIT_UNREACHABLE
                if tty:
                    clear()
                    out.write(f"(orchestrator unreachable: {e}; retrying)")
                    out.flush()
                    drawn = True
                elif now - last_plain >= plain_every:
                    print(f"{time.strftime('%H:%M:%S')} orchestrator unreachable: {e}; retrying",
                          flush=True)
                    last_plain = now
                time.sleep(interval)
                continue

            op = pick_operation(ops, followed_id, args.kind)
            if op is None:
                if followed_id is not None and last is not None:
                    # The operation we followed is no longer listed.
                    clear()
                    if fields(last)["pct"] >= 100.0:
                        print(summary(dict(last, state="succeeded"), args.replication_group_id))
                        return EXIT_OK
                    print(f"cachefleet watch: operation {followed_id} is no longer listed; "
                          f"last seen: {status_text(last)}", file=sys.stderr)
                    return EXIT_UNREACHABLE
                if now - started > args.wait_start:
                    what = f"operation {followed_id}" if followed_id else "no operation"
                    print(f"cachefleet watch: {what} found for replication group "
                          f"{args.replication_group_id}", file=sys.stderr)
                    return EXIT_USAGE
                time.sleep(interval)
                continue
            followed_id = str(op.get("id"))
            last = op
            label = f"{op.get('kind', 'op')} {args.replication_group_id}"
            if is_terminal(op):
                clear()
                if tty:
                    out.write(tty_line(op, label, shutil.get_terminal_size().columns) + "\n")
                else:
                    print(plain_line(op, label))
                print(summary(op, args.replication_group_id), flush=True)
                return EXIT_OK if succeeded(op) else EXIT_FAILED
            if tty:
                out.write("\r\x1b[K" + tty_line(op, label, shutil.get_terminal_size().columns))
                out.flush()
                drawn = True
            elif now - last_plain >= plain_every:
                print(plain_line(op, label), flush=True)
                last_plain = now
            time.sleep(interval)
    except KeyboardInterrupt:
        clear()
        print("interrupted (the operation goes on)", file=sys.stderr)
        return 130


def cmd_operations(args) -> int:
    api = OperationsApi(resolve_endpoint(args.endpoint_url))
    try:
        ops = api.list(args.replication_group_id)
    except Unreachable as e:
        raise CliError(f"{api.endpoint} unreachable: {e}", EXIT_UNREACHABLE)
    if args.json:
        print(json.dumps({"operations": ops}, indent=2))
        return EXIT_OK
    if not ops:
        print(f"no operations for {args.replication_group_id}")
        return EXIT_OK
    print(f"{'id':>6}  {'kind':<10} {'state':<12} {'step':<24} progress")
    for op in ops:
        f = fields(op)
        print(f"{str(op.get('id')):>6}  {str(op.get('kind', '')):<10} {f['state']:<12} "
              f"{f['step'][:24]:<24} {status_text(op)}")
    return EXIT_OK


