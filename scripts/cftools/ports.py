"""Node-port ranges for the lab's agents and the benchmarks' plain redis-servers: ranges that are
free now together with their cluster bus ports (+10000), preferably below the kernel's ephemeral
range, reserved in a small flock-protected file in /tmp so that labs started at the same moment
(ctest -j) never pick overlapping ranges. Ports are never hard-coded."""
from __future__ import annotations

import fcntl
import json
import os
import random
import socket
import time
from pathlib import Path

from cftools.errors import LabError
from cftools.procs import pid_alive

_RESERVATIONS = Path(os.environ.get("CACHEFLEET_PORT_RESERVATIONS",
                                    "/tmp/cachefleet-port-reservations.json"))


def bindable(port: int) -> bool:
    """True if nothing listens on the TCP port on any local address. SO_REUSEADDR as the
    servers use it (redis, Beast, gRPC): TIME_WAIT leftovers of earlier connections don't
    count, a listener does."""
    families = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::"))
    for fam, addr in families:
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
        except OSError as e:
            if fam == socket.AF_INET6 and e.errno in (97, 99):  # no IPv6 on this box
                continue
            return False
        finally:
            s.close()
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


class _ReservationFile:
    """flock-protected JSON list of {"owner": pid, "start": s, "end": e} node-port ranges."""

    def __init__(self, path: Path = _RESERVATIONS):
        self.path = path

    def __enter__(self):
        self.fd = os.open(str(self.path) + ".lock", os.O_CREAT | os.O_RDWR, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            self.entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = []
        self.entries = [e for e in self.entries if pid_alive(int(e.get("owner", 0)))]
        return self

    def __exit__(self, *exc):
        try:
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 <= b1 and b0 <= a1


def reserve_port_ranges(count: int, size: int, owner: int | None = None,
                        preferred: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Picks `count` disjoint ranges of `size` node ports each, all currently free together with
    their bus ports (+10000, at most 65535), not reserved by another live lab. `preferred`
    ranges (e.g. from an existing lab config) are kept when still free."""
    owner = owner or os.getpid()
    lo_eph, hi_eph = _ephemeral_range()
    # Prefer node ports p with p and p + 10000 both below the ephemeral range, so outgoing
    # connections never grab them between our check and redis' bind.
    windows = []
    if lo_eph - 10000 - 1 - 10000 >= size:
        windows.append((10000, lo_eph - 10000 - 1))
    windows.append((1024, 65535 - 10000))
    with _ReservationFile() as res:
        taken = [(int(e["start"]), int(e["end"])) for e in res.entries]

        def usable(s: int, e: int) -> bool:
            if s < 1024 or e + 10000 > 65535:
                return False
            for t0, t1 in taken:
                for a0, a1 in ((s, e), (s + 10000, e + 10000)):
                    for b0, b1 in ((t0, t1), (t0 + 10000, t1 + 10000)):
                        if _overlaps(a0, a1, b0, b1):
                            return False
            return all(bindable(p) and bindable(p + 10000) for p in range(s, e + 1))

        chosen: list[tuple[int, int]] = []
        for s, e in (preferred or [])[:count]:
            if e - s + 1 >= 1 and usable(s, e):
                chosen.append((s, e))
                taken.append((s, e))
            else:
                chosen = []
                break
        if len(chosen) < count:
            chosen = []
            taken = [(int(e["start"]), int(e["end"])) for e in res.entries]
            rng = random.Random(os.getpid() ^ int(time.time() * 1000))
            for w0, w1 in windows:
                attempts = 0
                while len(chosen) < count and attempts < 400:
                    attempts += 1
                    if w1 - w0 + 1 < size:
                        break
                    s = rng.randrange(w0, w1 - size + 2)
                    if usable(s, s + size - 1):
                        chosen.append((s, s + size - 1))
                        taken.append((s, s + size - 1))
                if len(chosen) == count:
                    break
            if len(chosen) < count:
                raise LabError(f"could not find {count} free port ranges of {size} ports")
        for s, e in chosen:
            res.entries.append({"owner": owner, "start": s, "end": e})
    return chosen


def transfer_reservation(start: int, new_owner: int) -> None:
    with _ReservationFile() as res:
        for e in res.entries:
            if int(e["start"]) == start:
                e["owner"] = new_owner


def release_reservations(starts: list[int]) -> None:
    with _ReservationFile() as res:
        res.entries = [e for e in res.entries if int(e["start"]) not in starts]

