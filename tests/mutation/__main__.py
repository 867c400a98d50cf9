"""Run the mutation self-test: python -m tests.mutation [--lie NAME ...] [--json FILE].
(`python -m tests.mutation exec LIE -- COMMAND...` runs one command under one kernel lie.)

As root on Linux x86_64, from the project root. The suite files the chosen lies concern run
once without any lie (the baseline, in this same invocation), then each lie's files run under
that lie; the kill matrix is printed, and the exit status is 1 when a lie survives, a run takes
more than --factor times its baseline, or a lie's answer has the wrong shape (see
tests.mutation.lies), 2 when this machine cannot run it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from . import matrix, runs, tracer
from .lies import CANARY, DEFAULT, LIES


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    p.add_argument("--lie", action="append", choices=sorted(LIES), metavar="NAME",
                   help="run only this lie (repeatable); default: all but the canary")
    p.add_argument("--except", dest="skip", action="append", default=[], choices=sorted(LIES),
                   metavar="NAME", help="leave this lie out (repeatable)")
    p.add_argument("--canary", action="store_true",
                   help=f"also run {CANARY.name}, a lie no suite survives (checks the harness)")
    p.add_argument("--factor", type=float, default=5.0,
                   help="a run slower than FACTOR x its baseline fails (default 5)")
    p.add_argument("--test-timeout", type=float, default=runs.TEST_TIMEOUT, metavar="S",
                   help="pytest-timeout per test, so a spinning test costs little "
                        f"(default {runs.TEST_TIMEOUT:g}, above the suite's own 10 s deadlines)")
    p.add_argument("--grace", type=float, default=runs.GRACE, metavar="S",
                   help="a run is stopped this long after FACTOR x baseline (default "
                        f"{runs.GRACE:g}): it has failed already, the rest shows which tests crawl")
    p.add_argument("--json", metavar="FILE", help="write the matrix and every verdict as JSON")
    p.add_argument("--logs", metavar="DIR", help="keep each run's pytest output and record here")
    p.add_argument("--list", action="store_true", help="list the lies and exit")
    return p.parse_args(argv)


def cannot_run() -> str | None:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"needs Linux on x86_64, not {platform.system()} {platform.machine()}"
    if os.geteuid() != 0:
        return "needs root (the suite's network tests and the seccomp filter without no_new_privs)"
    try:
        import pytest_timeout  # noqa: F401
    except ImportError:
        return "needs pytest-timeout (pip install pytest-timeout)"
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["exec"]:
        return tracer.main(argv[1:])
    args = parse(argv)
    if args.list:
        for lie in LIES.values():
            print(f"{lie.name:28} {lie.mechanism:8} {lie.kind:10} {lie.says}")
        return 0
    if why := cannot_run():
        print(f"mutation: {why}", file=sys.stderr)
        return 2
    names = [n for n in args.lie or DEFAULT + ([CANARY.name] if args.canary else [])
             if n not in args.skip]
    logs = Path(args.logs or tempfile.mkdtemp(prefix="mutation-"))
    logs.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    runner = runs.Runner(logs, args.test_timeout, args.factor, args.grace)
    print("mutation: baseline (no lie) ...", flush=True)
    full = runner.run_baseline([LIES[n].files for n in names])
    verdicts = []
    for name in names:
        lie = LIES[name]
        base = runner.baseline(lie.files)
        print(f"mutation: {name} ...", flush=True)
        run = runner.under(lie, base)
        verdicts.append(matrix.evaluate(lie, base, run, args.factor))
    total = time.monotonic() - start
    print(matrix.render(verdicts, total, full, platform.release()))
    for problem in runner.baseline_problems():
        print(f"mutation: {problem}")
    if args.json:
        Path(args.json).write_text(json.dumps(matrix.as_json(verdicts, total), indent=1) + "\n")
    print(f"mutation: logs in {logs}")
    return 1 if any(v.problems for v in verdicts) or runner.baseline_problems() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
