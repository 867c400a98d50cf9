#!/usr/bin/env python3
"""Benchmark: network-fixture setup/teardown time per test, and the Linux suite's wall time
serially and with -n 2. Prints figures; asserts nothing (speeds belong in the README, not in
timed tests). Run as root from the repository root: python3 benchmarks/netns_setup.py
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]


def phase_times() -> dict[str, list[float]]:
    """Setup timed in the benchmark body itself; teardown from pytest's --durations (10 ms
    resolution)."""
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as setup_file:
        out = subprocess.run([*PYTEST, "--durations=0", "--durations-min=0",
                              str(HERE / "bench_netns_topology.py")], capture_output=True,
                             text=True, cwd=HERE.parent, check=False,
                             env={**os.environ, "BENCH_OUT": setup_file.name}).stdout
        setup = [float(line) for line in setup_file.read().split()]
    teardown = [float(m.group(1)) for m in
                re.finditer(r"^([\d.]+)s teardown\s+\S*test_veth_topology", out, re.MULTILINE)]
    if not setup:
        sys.exit("no timings: run as root on Linux (the benchmark skips otherwise)\n" + out[-2000:])
    return {"setup": setup, "teardown (10 ms resolution)": teardown}


def wall(args: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([*PYTEST, "conformance/linux", *args], capture_output=True, cwd=HERE.parent,
                   check=False)
    return time.monotonic() - start


def main() -> None:
    times = phase_times()
    for phase, values in times.items():
        ms = sorted(v * 1000 for v in values)
        print(f"veth topology {phase}: median {statistics.median(ms):.1f} ms, "
              f"p90 {ms[int(len(ms) * 0.9) - 1]:.1f} ms over {len(ms)} tests")
    print(f"Linux suite wall time: serial {wall([]):.1f} s, -n 2 {wall(['-n', '2']):.1f} s")


if __name__ == "__main__":
    main()
