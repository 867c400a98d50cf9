#!/usr/bin/env python3
"""Where the time of a conformance run goes (issue 16), as a table: benchmark output, not a test.

    sudo .venv/bin/python benchmarks/profile.py [--before REF] [--guest RUN_DIR ...] [--json F]

Host, for the checkout (and, with --before, for git REF extracted into a scratch directory):
- interpreter start and each heavy import in a fresh interpreter (CPU: user + system);
- collection of the Linux suite with no compiled files (PYTHONDONTWRITEBYTECODE) and with the
  bytecode cache `conformance run` keeps (host.bytecode_cache);
- the Linux suite serially (-p no:xdist) and with the run's default (`-n auto --dist loadgroup`
  where the tree has that default), through benchmarks/profile_plugin.py: per file the wall and
  CPU time of its tests, setup/teardown (namespaces), the time tests spent idle (wall - CPU:
  quiet windows, deadlines, ACK waits), the MSG_ZEROCOPY no-notification watches, the 2 GiB
  MAX_RW_COUNT transfer and the hypothesis tests;
Guest, for each --guest RUN_DIR (a `conformance run --kernel` results directory): QEMU start to
the kernel's first console line, the kernel's own boot (printk time of the last line before the
guest script), the guest script's start (vm.boot_seconds), pytest in the guest
(run.duration) and the whole VM (vm.wall_seconds).
CPU figures hold under load; wall figures only on a quiet machine: the table says which load
it saw (the 1-minute load average before and after).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
IMPORTS = {"interpreter start": "pass", "pytest": "import pytest",
           "hypothesis": "import hypothesis", "pyroute2": "import pyroute2",
           "scapy (lazy: wire tests only)": "import scapy.all", "xdist": "import xdist",
           "conformance plugin + fixtures": "import conformance.plugin"}
BIG_TRANSFER = "test_sendfile_limits.py::test_one_call_moves_at_most_max_rw_count"
HYPOTHESIS_TESTS = ("test_msg_zerocopy_properties.py::", "test_splice_conservation.py::",
                    "test_sendfile_arithmetic.py::")


def timed(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, int]:
    """(wall, CPU of the children, exit status) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    code = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


def tree_env(tree: Path, cache: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX",)}
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(HERE)])
    if cache is None:  # cold: an empty prefix hides any __pycache__ in the trees
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = "/nonexistent/conformance-profile-cold"  # never written
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def extract(ref: str, into: Path) -> Path:
    """git archive REF into a directory importable as `conformance` (fixtures as
    conformance/fixtures, as the installed package maps it)."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True,
                          check=True).stdout
    tree = into / "tree"
    tree.mkdir(parents=True)
    with tempfile.TemporaryFile() as fh:
        fh.write(data)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(tree, filter="data")
    (tree / "conformance" / "fixtures").symlink_to(tree / "fixtures")
    return tree


def imports(rows: list, repeat: int) -> None:
    for name, stmt in IMPORTS.items():
        cpus = [timed([sys.executable, "-c", stmt], tree_env(REPO, None), REPO)[1]
                for _ in range(repeat)]
        rows.append(("import", name, None, statistics.median(cpus)))


def collection(rows: list, label: str, tree: Path, scratch: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
            str(tree / "conformance" / "linux")]
    wall, cpu, _ = timed(argv, tree_env(tree, None), tree)
    rows.append((label, "collection, nothing compiled", wall, cpu))
    cache = scratch / f"pycache-{label}"
    timed(argv, tree_env(tree, cache), tree)  # fills the cache
    wall, cpu, _ = timed(argv, tree_env(tree, cache), tree)
    rows.append((label, "collection, bytecode cache warm", wall, cpu))


def suite(rows: list, label: str, tree: Path, scratch: Path, mode: str, extra: list[str]) -> dict:
    out = scratch / f"plugin-{label}-{mode}"
    env = {**tree_env(tree, scratch / f"pycache-{label}"), "PROFILE_PLUGIN_OUT": str(out)}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "profile_plugin",
            "-q", str(tree / "conformance" / "linux"), *extra]
    wall, cpu, code = timed(argv, env, tree)
    rows.append((label, f"Linux suite, {mode} (exit {code})", wall, cpu))
    return summarise(rows, label, mode, out)


def summarise(rows: list, label: str, mode: str, out: Path) -> dict:
    phases = [p for f in out.glob("*.json") for p in json.loads(f.read_text())["phases"]]
    by_file: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    setup = idle = watch = big = hyp = 0.0
    for p in phases:
        name = p["nodeid"].split("::")[0].rsplit("/", 1)[-1]
        by_file[name][0] += p["wall"]
        by_file[name][1] += p["cpu"]
        idle += max(0.0, p["wall"] - p["cpu"])
        watch += p["watch"]
        setup += p["wall"] if p["when"] != "call" else 0.0
        big += p["wall"] if BIG_TRANSFER in p["nodeid"] else 0.0
        hyp += p["wall"] if any(h in p["nodeid"] for h in HYPOTHESIS_TESTS) else 0.0
    tests = sum(w for w, _ in by_file.values())
    rows.append((label, f"  {mode}: tests' own time (all workers)", tests,
                 sum(c for _, c in by_file.values())))
    rows.append((label, f"  {mode}: setup + teardown (namespaces, files)", setup, None))
    rows.append((label, f"  {mode}: idle in tests (wall - CPU: windows, waits)", idle, None))
    rows.append((label, f"  {mode}: MSG_ZEROCOPY no-notification watches", watch, None))
    rows.append((label, f"  {mode}: 2 GiB MAX_RW_COUNT transfer", big, None))
    rows.append((label, f"  {mode}: hypothesis tests", hyp, None))
    for name, (w, c) in sorted(by_file.items(), key=lambda kv: -kv[1][0])[:8]:
        rows.append((label, f"    {mode}: {name}", w, c))
    return {"files": dict(by_file), "idle": idle, "watch": watch}


def console_times(console: Path) -> tuple[float | None, float | None]:
    """(printk time of the first kernel line, of the last before the guest script's output)."""
    stamps = [float(m.group(1)) for m in re.finditer(r"^\[\s*(\d+\.\d+)\]", console.read_text(
        errors="replace"), re.MULTILINE)] if console.exists() else []
    return (stamps[0], stamps[-1]) if stamps else (None, None)


def guest(rows: list, run_dir: Path) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    vm = data.get("vm") or {}
    label = f"guest {run_dir.name[:40]}, root over {vm.get('root_fs') or '9p'}"
    env = data.get("environment") or {}
    _, last_printk = console_times(run_dir / "console.log")
    rows.append((label, f"kernel printk clock at its last line ({env.get('accel')})",
                 last_printk, None))
    rows.append((label, "VM start to guest script (vm.boot_seconds)", vm.get("boot_seconds"), None))
    pytest_line = f"pytest in the guest, {env.get('xdist_workers')} workers (run.duration)"
    rows.append((label, pytest_line, data["run"].get("duration"), None))
    rows.append((label, "VM start to results (vm.wall_seconds)", vm.get("wall_seconds"), None))


def table(rows: list, load: tuple[float, float]) -> str:
    head = (f"load average (1 min) before {load[0]:.2f}, after {load[1]:.2f}; "
            "wall figures are quiet-machine figures only when both are low")
    lines = [head, "",
             "| tree | what | wall s | CPU s |", "|---|---|---:|---:|"]
    for tree, what, wall, cpu in rows:
        w = f"{wall:.2f}" if isinstance(wall, float | int) else "-"
        c = f"{cpu:.2f}" if isinstance(cpu, float | int) else "-"
        lines.append(f"| {tree} | {what} | {w} | {c} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", metavar="REF", help="also profile git REF (e.g. HEAD)")
    p.add_argument("--guest", metavar="RUN_DIR", type=Path, action="append", default=[])
    p.add_argument("--no-host", action="store_true", help="only the --guest directories")
    p.add_argument("--repeat", type=int, default=3, help="imports: median of this many")
    p.add_argument("--json", type=Path)
    ns = p.parse_args(argv)
    rows: list = []
    load0 = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="conformance-profile-"))
    try:
        if not ns.no_host:
            imports(rows, ns.repeat)
            trees = [("now", REPO, ["-n", "auto", "--dist", "loadgroup"])]
            if ns.before:
                trees.insert(0, (ns.before, extract(ns.before, scratch), []))
            for label, tree, default in trees:
                collection(rows, label, tree, scratch)
                suite(rows, label, tree, scratch, "serial", ["-p", "no:xdist"])
                if default:
                    suite(rows, label, tree, scratch, "default " + " ".join(default), default)
        for run_dir in ns.guest:
            guest(rows, run_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(table(rows, (load0, os.getloadavg()[0])))
    if ns.json:
        ns.json.write_text(json.dumps({"rows": rows, "load": [load0, os.getloadavg()[0]]},
                                      indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
