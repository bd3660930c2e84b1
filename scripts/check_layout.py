#!/usr/bin/env python3
"""The house rules of the C++ tree, checked in CI (registered as the ctest `layout_check`).

  * no folder under orchestrator/ or agent/ holds more than 15 source files (.cc/.h);
  * no .cc file is over 800 lines in orchestrator/ or over 1,000 in agent/;
  * no function is over 150 lines (signature line to closing brace; lambdas count inside the
    function that holds them);
  * the agent's arrows: redis/ is the base (includes no other agent folder), nodes/ and slots/
    include redis/ and themselves (never each other), runtime/ may include all three;
  * the orchestrator's arrows: a base folder includes only the base folders below it, a feature
    folder includes the base and itself, never another feature, except the pairs on
    FEATURE_ALLOW (where two features really meet). Tests, testing/, main.cc and app.* may
    include anything.

Exit status 1 with one line per violation; 0 and a summary line otherwise.
Usage: scripts/check_layout.py [repo root]
"""
import re
import sys
from pathlib import Path

MAX_FILES_PER_FOLDER = 15
MAX_CC_LINES = {"orchestrator": 800, "agent": 1000}
MAX_FUNCTION_LINES = 150

# The orchestrator's base, bottom first: a folder may include the folders before it.
BASE_ORDER = ["api", "core", "catalog", "placement", "store", "fleet", "operations"]
# api/server sits on api (the protocol); nothing in the base includes it.
BASE_BELOW = {
    "api": set(),
    "api/server": {"api"},
    "core": {"api"},
    "catalog": {"api", "core"},
    "placement": {"api", "core"},
    "store": {"api", "core", "placement"},
    "fleet": {"api", "core", "placement", "store"},
    "operations": {"api", "core", "catalog", "placement", "store", "fleet"},
}
FEATURES = {"groups", "reshard", "replicas", "failover", "modify", "parameters",
            "rolling_restart", "events", "tags"}
# (from feature, included header): where two features meet today. Keep it short.
FEATURE_ALLOW = {
    # EngineVersion is one of ModifyReplicationGroup's parameter sets: rolling_restart registers
    # its upgrade (a rolling restart) on ModifyGroupFrontend (AddEngineVersionSet).
    ("rolling_restart", "modify/modify_group_frontend.h"),
    # RebootCacheCluster answers with DescribeCacheClusters' CacheCluster (RenderCacheCluster)
    # and checks the id with the same rule (NormalizeCacheClusterId).
    ("rolling_restart", "groups/cache_cluster_frontend.h"),
}

# Violations that predate the check, by key (see problem keys below). The list may only shrink:
# a violation not on it fails, and so does an entry that no longer happens (remove it).
KNOWN = set()

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"orchestrator/([^"]+)"', re.M)

# The agent: which folders each folder may include (besides itself).
AGENT_ALLOWED = {
    "redis": set(),
    "nodes": {"redis"},
    "slots": {"redis"},
    "runtime": {"redis", "nodes", "slots"},
}
AGENT_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"agent/([^"/]+)/[^"]+"', re.M)


def source_files(root, top):
    return sorted(p for p in (root / top).rglob("*") if p.suffix in (".cc", ".h") and p.is_file())


def strip_code(text):
    """Blanks comments, string and char literals (keeping newlines) so braces can be counted."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                out.append(" ")  # digit separator: 60'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """Yields (name, first line, last line) of every function body at namespace or class scope."""
    code = strip_code(text)
    scopes = []  # one entry per open brace: "scope" (namespace/class/extern), "body", "other"
    header_start = 0  # where the text that precedes the next brace starts
    line = 1
    body_start = None
    body_name = ""
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in ";" and (not scopes or scopes[-1] == "scope"):
            header_start = i + 1
        elif c == "{":
            if scopes and scopes[-1] != "scope":
                scopes.append("other")
                continue
            header = code[header_start:i]
            flat = " ".join(header.split())
            if re.search(r"\b(namespace|class|struct|union|enum)\b", flat.split("(")[0]) or \
                    flat.startswith('extern "C"') or "(" not in flat:
                scopes.append("scope")
            elif re.match(r"^[^(]*=", flat):
                scopes.append("other")  # an initializer: T x = {...}
            else:
                scopes.append("body")
                lead = len(header) - len(header.lstrip())
                first = line - header[lead:].count("\n")
                body_start = first
                m = re.search(r"([~\w:]+)\s*\(", flat)
                body_name = m.group(1) if m else flat[:40]
        elif c == "}":
            if not scopes:
                continue
            kind = scopes.pop()
            if kind == "body":
                yield body_name, body_start, line
            if not scopes or scopes[-1] == "scope":
                header_start = i + 1
    return


def check(root):
    problems = []
    counted = {"folders": 0, "files": 0, "functions": 0}
    for top in ("orchestrator", "agent"):
        folders = {}
        for p in source_files(root, top):
            folders.setdefault(p.parent, []).append(p)
        for folder, files in sorted(folders.items()):
            counted["folders"] += 1
            if len(files) > MAX_FILES_PER_FOLDER:
                problems.append((f"files:{folder.relative_to(root)}", f"{folder.relative_to(root)}: {len(files)} source files "
                                f"(at most {MAX_FILES_PER_FOLDER})"))
        for p in source_files(root, top):
            counted["files"] += 1
            text = p.read_text()
            rel = p.relative_to(root)
            nlines = text.count("\n")
            if p.suffix == ".cc" and nlines > MAX_CC_LINES[top]:
                problems.append((f"lines:{rel}", f"{rel}: {nlines} lines (a .cc file in {top}/ has at most "
                                f"{MAX_CC_LINES[top]})"))
            for name, first, last in functions(text):
                counted["functions"] += 1
                if last - first + 1 > MAX_FUNCTION_LINES:
                    problems.append((f"function:{rel}:{name}", f"{rel}:{first}: {name} is {last - first + 1} lines "
                                    f"(at most {MAX_FUNCTION_LINES})"))
    problems += check_arrows(root)
    problems += check_agent_arrows(root)
    return problems, counted


def folder_of(rel):
    """orchestrator/<folder>/... -> folder ('api/server' for the server), None for top files."""
    parts = rel.parts[1:-1]
    if not parts:
        return None
    if parts[0] == "api" and len(parts) > 1 and parts[1] == "server":
        return "api/server"
    return parts[0]


def check_arrows(root):
    problems = []
    for p in source_files(root, "orchestrator"):
        rel = p.relative_to(root)
        src = folder_of(rel)
        if src is None or src == "testing" or "tests" in rel.parts:
            continue
        for inc in INCLUDE_RE.findall(p.read_text()):
            dst = folder_of(Path("orchestrator") / inc)
            if dst is None or dst == src:
                continue
            if src in FEATURES:
                if dst in FEATURES and (src, inc) not in FEATURE_ALLOW:
                    problems.append((f"arrow:{rel}:{inc}", f"{rel}: feature {src}/ includes feature header {inc} "
                                    "(not on the allow-list in scripts/check_layout.py)"))
                elif dst in ("testing", "api/server"):
                    problems.append((f"arrow:{rel}:{inc}", f"{rel}: feature {src}/ includes {inc}"))
            elif src in BASE_BELOW:
                if dst not in BASE_BELOW[src]:
                    problems.append((f"arrow:{rel}:{inc}", f"{rel}: base folder {src}/ includes "
                                     f"{inc} ({dst}/ is not below it)"))
            else:
                problems.append((f"arrow:{rel}", f"{rel}: folder {src}/ is neither base nor feature"))
    return problems


def check_agent_arrows(root):
    problems = []
    for p in source_files(root, "agent"):
        rel = p.relative_to(root)
        parts = rel.parts[1:-1]
        if not parts or parts[0] == "tests" or "tests" in parts:
            continue  # agent/main.cc and the tests may include anything
        src = parts[0]
        if src not in AGENT_ALLOWED:
            problems.append((f"arrow:{rel}", f"{rel}: agent folder {src}/ has no arrows in "
                             "scripts/check_layout.py"))
            continue
        for dst in AGENT_INCLUDE_RE.findall(p.read_text()):
            if dst != src and dst not in AGENT_ALLOWED[src]:
                problems.append((f"arrow:{rel}:{dst}", f"{rel}: agent/{src}/ includes agent/{dst}/ "
                                 f"(allowed: {', '.join(sorted(AGENT_ALLOWED[src])) or 'none'})"))
    return problems


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0] if args else Path(__file__).resolve().parent.parent)
    problems, counted = check(root)
    if "--keys" in sys.argv:  # print the keys of today's violations (to review KNOWN)
        for key, _ in problems:
            print(f'    "{key}",')
        return 0
    new = [msg for key, msg in problems if key not in KNOWN]
    gone = sorted(KNOWN - {key for key, _ in problems})
    for msg in new:
        print(msg)
    for key in gone:
        print(f"{key}: fixed; remove it from KNOWN in scripts/check_layout.py")
    known = len(problems) - len(new)
    print(f"layout: {counted['folders']} folders, {counted['files']} files, "
          f"{counted['functions']} functions checked; {len(new)} new problem(s), "
          f"{known} known (still to fix), {len(gone)} stale")
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
