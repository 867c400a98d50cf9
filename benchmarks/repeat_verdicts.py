"""Same verdicts in parallel as serially, and nothing left behind: one serial run of the host
suite (`-p no:xdist`), then N runs with the default (`conformance run`: pytest-xdist, one worker
per CPU), each compared test by test with the serial one; before the first run and after the
last, a snapshot of what the suite may touch on this host (namespaces in the netns directory,
links in this namespace, the sysctls below), which must be equal.

    sudo .venv/bin/python benchmarks/repeat_verdicts.py --repeats 20 --results /var/tmp/rep

Prints one line per run (wall seconds, workers, differing tests) and exits 1 on any difference.
The wall times are only comparable on a quiet machine (no VM, build or other run alongside).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# sysctls a test sets (in a test namespace, or restored at teardown) or that bound what it does
SYSCTL_DIRS = ["net/core", "net/ipv4", "net/ipv6/conf/all", "net/ipv6/conf/default"]
SYSCTL_FILES = ["kernel/domainname", "kernel/hostname", "fs/pipe-max-size",
                "fs/pipe-user-pages-soft", "fs/pipe-user-pages-hard", "vm/max_map_count"]


def snapshot() -> dict:
    """What a leak would change: namespace names, link names, sysctl values."""
    netns_dir = os.environ.get("CONFORMANCE_NETNS_DIR") or "/var/run/netns"
    try:
        netns = sorted(os.listdir(netns_dir))
    except FileNotFoundError:
        netns = []
    links = sorted(os.listdir("/sys/class/net"))
    sysctls = {}
    for d in SYSCTL_DIRS:
        base = Path("/proc/sys", d)
        for f in sorted(p for p in base.iterdir() if p.is_file()) if base.is_dir() else []:
            sysctls[str(f.relative_to("/proc/sys"))] = _read(f)
    for name in SYSCTL_FILES:
        sysctls[name] = _read(Path("/proc/sys", name))
    return {"netns": netns, "links": links, "sysctls": sysctls}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def run(results: Path, extra: list[str]) -> tuple[dict[str, str], float, int]:
    """{nodeid: outcome}, wall seconds and xdist workers of one `conformance run`."""
    before = set(results.iterdir()) if results.exists() else set()
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--results", str(results),
                    "--", "-q", *extra], cwd=REPO, stdout=subprocess.DEVNULL, check=False)
    wall = time.monotonic() - start
    new = [p for p in set(results.iterdir()) - before if (p / "results.json").exists()]
    if len(new) != 1:
        raise SystemExit(f"repeat_verdicts: expected one new run under {results}, found {new}")
    data = json.loads((new[0] / "results.json").read_text())
    return ({t["nodeid"]: t["outcome"] for t in data["tests"]}, wall,
            data["environment"].get("xdist_workers") or 0)


def differences(base: dict[str, str], other: dict[str, str]) -> list[str]:
    return [f"{n}: serial {base.get(n)}, parallel {other.get(n)}"
            for n in sorted(set(base) | set(other)) if base.get(n) != other.get(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--results", type=Path, default=Path("/var/tmp/conformance-repeat"))
    p.add_argument("--json", type=Path, help="write the figures here too")
    ns = p.parse_args(argv)
    ns.results.mkdir(parents=True, exist_ok=True)
    first = snapshot()
    serial, wall, _ = run(ns.results, ["-p", "no:xdist"])
    print(f"serial: {wall:.1f}s, {len(serial)} tests", flush=True)
    rows, bad = [], 0
    for i in range(ns.repeats):
        got, wall, workers = run(ns.results, [])
        diff = differences(serial, got)
        bad += bool(diff)
        rows.append({"run": i + 1, "wall": round(wall, 1), "workers": workers, "diff": diff})
        print(f"run {i + 1}: {wall:.1f}s, {workers} workers, "
              f"{len(diff)} differing tests" + "".join(f"\n  {d}" for d in diff), flush=True)
    last = snapshot()
    left = {k: (first[k], last[k]) for k in first if first[k] != last[k]}
    for key, (a, b) in left.items():
        if isinstance(a, dict):
            changed = {n: (a.get(n), b.get(n)) for n in set(a) | set(b) if a.get(n) != b.get(n)}
            print(f"left behind: {key} changed: {changed}")
        else:
            print(f"left behind: {key}: before {a}, after {b}")
    walls = sorted(r["wall"] for r in rows)
    if walls:
        print(f"parallel: median {walls[len(walls) // 2]:.1f}s (min {walls[0]:.1f}, "
              f"max {walls[-1]:.1f}); {bad} of {len(rows)} runs differ from the serial one; "
              f"{'nothing' if not left else len(left)} left behind")
    if ns.json:
        ns.json.write_text(json.dumps({"serial": serial, "runs": rows, "left": left}, indent=1))
    return 1 if bad or left else 0


if __name__ == "__main__":
    sys.exit(main())
