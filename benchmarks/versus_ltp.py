"""The Linux sendfile + splice tests of this suite against LTP's sendfile/splice binaries, run
side by side on this machine (issue 16's "within 1.5x of LTP" yardstick).

    python3 benchmarks/versus_ltp.py --ltp ~/ltp [--repeat 5] [--workers 0,2]

--ltp is a built LTP tree (`make autotools && ./configure && make -C lib && make -C
testcases/kernel/syscalls/sendfile && make -C testcases/kernel/syscalls/splice`): its 25
binaries (sendfile02..09, their _64 builds, splice01..09) run one after another as LTP's runner
runs them. Ours: `conformance run` on conformance/linux/test_sendfile_*.py and test_splice_*.py,
once per xdist worker count in --workers (0 = serial). Runs alternate so load drifts hit both
sides alike; the table gives the median and the spread of the wall time, and the CPU time the
children used (user + system), which load disturbs far less. Root is needed (both suites).
Benchmark output, not a test: nothing here passes or fails on a figure.
"""
from __future__ import annotations

import argparse
import glob
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LTP_DIRS = ("testcases/kernel/syscalls/sendfile", "testcases/kernel/syscalls/splice")
OURS = ("conformance/linux/test_sendfile_*.py", "conformance/linux/test_splice_*.py")
RUN_DEADLINE = 600.0


def ltp_binaries(tree: Path) -> list[Path]:
    found = sorted(p for d in LTP_DIRS for p in (tree / d).iterdir()
                   if p.is_file() and os.access(p, os.X_OK) and p.suffix not in (".o", ".c", ".h"))
    if not found:
        sys.exit(f"versus_ltp: no built binaries under {tree}/{{{','.join(LTP_DIRS)}}}")
    return found


def timed(argv_list: list[list[str]], env: dict, cwd: Path) -> tuple[float, float, list[int]]:
    """Run each argv in turn; (wall seconds, children's CPU seconds, exit codes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    codes = [subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=RUN_DEADLINE, check=False).returncode
             for argv in argv_list]
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, codes


def ours_argv(workers: int, results: str) -> list[str]:
    files = sorted(f for pattern in OURS for f in glob.glob(str(REPO / pattern)))
    rel = [str(Path(f).relative_to(REPO)) for f in files]
    xdist = ["-n", str(workers)] if workers else ["-p", "no:xdist"]
    return [str(REPO / ".venv/bin/conformance"), "run", "--results", results, "--", "-q",
            *xdist, *rel]


def summary(name: str, runs: list[tuple[float, float, list[int]]]) -> str:
    walls = [w for w, _, _ in runs]
    cpus = [c for _, c, _ in runs]
    bad = sum(1 for _, _, codes in runs if any(codes))
    return (f"| {name} | {statistics.median(walls):.1f} | {min(walls):.1f}-{max(walls):.1f} | "
            f"{statistics.median(cpus):.1f} | {len(runs)} | {bad} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ltp", required=True, type=Path, help="a built LTP tree")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", default="0,2", help="xdist worker counts for our run, e.g. 0,2")
    ns = ap.parse_args()
    binaries = ltp_binaries(ns.ltp)
    workers = [int(w) for w in ns.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="versus-ltp-") as tmp:
        ltp_env = dict(os.environ, LTPROOT=str(ns.ltp), TMPDIR=tmp)
        ltp_runs, our_runs = [], {w: [] for w in workers}
        for _ in range(ns.repeat):
            ltp_runs.append(timed([[str(b)] for b in binaries], ltp_env, Path(tmp)))
            for w in workers:
                our_runs[w].append(timed([ours_argv(w, f"{tmp}/results")], dict(os.environ),
                                         REPO))
    n_ours = len(sorted(f for pattern in OURS for f in glob.glob(str(REPO / pattern))))
    print(f"LTP: {len(binaries)} binaries from {ns.ltp}; ours: {n_ours} test files "
          f"(sendfile + splice); {ns.repeat} alternating runs; load average now "
          f"{os.getloadavg()[0]:.2f}")
    print("| run | wall median s | wall range s | CPU median s | runs | runs with a failure |")
    print("|---|---|---|---|---|---|")
    print(summary("LTP sendfile + splice binaries", ltp_runs))
    for w, runs in our_runs.items():
        label = "serial" if w == 0 else f"-n {w}"
        print(summary(f"conformance run, sendfile + splice ({label})", runs))
    ltp_median = statistics.median(w for w, _, _ in ltp_runs)
    for w, runs in our_runs.items():
        ratio = statistics.median(x for x, _, _ in runs) / ltp_median
        print(f"ratio to LTP ({'serial' if w == 0 else f'-n {w}'}): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
