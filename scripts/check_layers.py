#!/usr/bin/env python3
"""Checks Hearth's layer graph on the sources (no build needed; the test command runs it).

Fails, naming file and line, on
  - an #include "<folder>/..." that reaches a folder the including folder may not use
    (LAYERS below: the one table of who may use whom, the same graph as the libraries'
    target_link_libraries and README's "Layout"), and
  - a third-party header wrapped by one layer included anywhere else (THIRD_PARTY), and
  - README.md's table of the layers (the block after "what it uses directly") differing
    from LAYERS.

The build checks the first rule too, for what it compiles: each library exports an include
root holding only its own folder (CMakeLists.txt, hearth_layer_includes). It cannot check
the second: every third-party header is in /usr/include, visible to every target.

Usage: scripts/check_layers.py [file ...]   (default: every C++ file git knows)
"""
import re
import subprocess
import sys
from pathlib import Path

# folder -> the folders it uses directly; it may include them and, transitively, what they use.
# Keep this in step with the libraries' target_link_libraries and README's graph.
LAYERS = {
    "common": [],
    "crypto": ["common"],
    "protocol": ["crypto"],  # base64url and the roster's name validators
    "storage": ["crypto"],
    "triage": ["protocol"],
    "host": ["protocol", "storage"],  # hearthd's config, case record, retention, page
    "server": ["host", "triage"],
    "clients": ["protocol"],  # never storage, host or server
    "admin": ["clients", "triage", "host"],  # never server
    "tools": ["crypto"],
    "tests": ["admin", "server"],  # may test every library
    "bench": ["tests", "clients", "server"],
}

# A third-party header (the include's prefix) and the only files or folders (ending in "/")
# that may include it: the layer that wraps it, plus the tests and benchmarks that must
# reach under the wrapper. nlohmann/json: the wire codec, the JSON-file helper and the five
# file loaders (config, rules, scenario, directory, org state).
THIRD_PARTY = {
    "nlohmann/": [
        "protocol/codec.cpp",
        "protocol/json_fields.h",
        "protocol/json_fields.cpp",
        "host/config.cpp",
        "triage/rules.cpp",
        "triage/simulation.cpp",
        "clients/lib/directory.cpp",
        "admin/org.cpp",
        "tests/",  # test vectors are JSON; the integration tests speak the wire by hand
    ],
    "sqlite3.h": ["storage/", "bench/storage_bench.cpp"],
    "sodium": ["crypto/", "tests/crypto/"],
}

# Not in README's table: the programs and tests at the top of the graph.
NOT_IN_README = {"common", "tools", "tests", "bench"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def closure(folder, seen=None):
    seen = set() if seen is None else seen
    if folder not in seen:
        seen.add(folder)
        for used in LAYERS[folder]:
            closure(used, seen)
    return seen


def allowed(path, patterns):
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in patterns)


def check(path, text):
    folder = path.split("/", 1)[0]
    problems = []
    if folder not in LAYERS:
        return [f"{path}: its folder {folder}/ is not in scripts/check_layers.py's LAYERS table"]
    may_use = closure(folder)
    for number, line in enumerate(text.splitlines(), 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        kind, header = m.groups()
        target = header.split("/", 1)[0]
        if kind == '"' and "/" in header and target in LAYERS and target not in may_use:
            problems.append(f"{path}:{number}: {folder}/ may not include {header} "
                            f"({folder} uses only {', '.join(sorted(may_use))})")
        for prefix, files in THIRD_PARTY.items():
            if header.startswith(prefix) and not allowed(path, files):
                problems.append(f"{path}:{number}: {header} is included only by "
                                f"{', '.join(files)} (scripts/check_layers.py, THIRD_PARTY)")
    return problems


def readme_problems(root):
    text = (root / "README.md").read_text(encoding="utf-8")
    m = re.search(r"what it uses directly.*?```\n(.*?)```", text, re.S)
    if not m:
        return ["README.md: no table after \"what it uses directly\""]
    table = {}
    for line in m.group(1).splitlines():
        folder, _, rest = line.partition(" ")
        uses = rest.split("(", 1)[0]
        table[folder] = sorted(u.strip() for u in uses.split(",") if u.strip())
    expected = {k: sorted(v) for k, v in LAYERS.items() if k not in NOT_IN_README}
    if table != expected:
        return [f"README.md: the layer table says {table}, scripts/check_layers.py says {expected}"]
    return []


def main():
    root = Path(__file__).resolve().parent.parent
    files = sys.argv[1:] or subprocess.run(
        ["git", "-C", str(root), "ls-files", "*.h", "*.cpp"], check=True, capture_output=True,
        text=True).stdout.split()
    for name in LAYERS:
        closure(name)  # a typo in the table fails here, not halfway through
    problems = readme_problems(root)
    for name in files:
        problems += check(name, (root / name).read_text(encoding="utf-8", errors="replace"))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"layers: {len(problems)} wrong include(s)", file=sys.stderr)
        return 1
    print(f"layers: {len(files)} files follow the layer graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
