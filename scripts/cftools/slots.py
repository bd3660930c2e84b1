"""Redis Cluster slots: the key -> slot hash, slot range text and CLUSTER NODES parsing (the one
copy the lab, the data-set helpers, the drill, the tests and the benchmarks share)."""
from __future__ import annotations

from binascii import crc_hqx

SLOTS = 16384


def key_slot(key: bytes) -> int:
    """CLUSTER KEYSLOT: CRC16 (XMODEM) of the key, or of its {hash tag}, modulo 16384."""
    s = key.find(b"{")
    if s > -1:
        e = key.find(b"}", s + 1)
        if e > -1 and e != s + 1:
            key = key[s + 1:e]
    return crc_hqx(key, 0) % SLOTS


def range_list(text: str | None) -> list[tuple[int, int]]:
    """'0-5460' or '0-100,200-300' (also space separated) -> [(0, 5460), ...]."""
    out = []
    for part in (text or "").replace(" ", ",").split(","):
        if part:
            a, _, b = part.partition("-")
            out.append((int(a), int(b or a)))
    return out


def parse_ranges(text: str | None) -> set[int]:
    """'0-100,200' -> the set of slots."""
    out: set[int] = set()
    for a, b in range_list(text):
        out.update(range(a, b + 1))
    return out


def ranges_of(slots) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(slots):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def ranges_text(slots) -> str:
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges_of(slots))


def parse_cluster_nodes(text: str, default_host: str = "") -> list[dict]:
    """CLUSTER NODES output -> one dict per node: id, host (default_host when the node shows
    none), port (0 when it shows none), addr (host, port), flags, master (id or None), link,
    ranges (owned slot ranges), slots (owned slots, a set) and open (the bracketed
    migrating / importing tokens)."""
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        addr = parts[1].split("@")[0].split(",")[0]
        h, _, p = addr.rpartition(":")
        ranges, opened = [], []
        for tok in parts[8:]:
            if tok.startswith("["):
                opened.append(tok)
                continue
            a, _, b = tok.partition("-")
            ranges.append((int(a), int(b or a)))
        owned: set[int] = set()
        for a, b in ranges:
            owned.update(range(a, b + 1))
        host, port = h or default_host, int(p) if p.isdigit() else 0
        nodes.append({"id": parts[0], "host": host, "port": port, "addr": (host, port),
                      "flags": parts[2].split(","),
                      "master": None if parts[3] == "-" else parts[3], "link": parts[7],
                      "ranges": ranges, "slots": owned, "open": opened})
    return nodes
