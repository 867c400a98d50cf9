"""`conformance`: run | clauses.

Exit status: 0 nothing failed or errored; 1 failures; 2 bad usage or an environment that
cannot run the suite (one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from conformance import catalog
from conformance.results import model

SUITE_DIR = Path(__file__).resolve().parent
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input or an environment that cannot run: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="conformance", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the suite for an OS against a target (default: this kernel)",
                         description="Arguments after -- go to pytest.")
    run.add_argument("--os", choices=catalog.OSES, default=None,
                     help="which suite (default: the running OS)")
    run.add_argument("--results", metavar="DIR", default="results",
                     help="results go to DIR/<run-id>/ (default: results)")
    cl = sub.add_parser("clauses", help="clause coverage: clause -> tests; clauses without a test")
    cl.add_argument("--os", choices=catalog.OSES, default=None, help="one OS (default: all)")
    cl.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _running_os() -> str:
    name = platform.system().lower()
    return name if name in catalog.OSES else "linux"


def _results_dir(base: str, target: str) -> tuple[str, Path]:
    run_id = (datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
              + f"-{target}-{secrets.token_hex(3)}")
    out = Path(base) / run_id
    try:
        out.mkdir(parents=True)
        probe = out / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"conformance run: results directory {base!r} is not writable: "
                         f"{exc.strerror or exc}") from None
    return run_id, out


def _pytest(args: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=SUITE_DIR.parent).returncode


def cmd_run(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    os_name = ns.os or _running_os()
    run_id, out = _results_dir(ns.results, "host")
    start = time.monotonic()
    code = _pytest([str(SUITE_DIR / os_name), "--strict-markers",
                    f"--conformance-results={out.resolve()}", f"--conformance-run-id={run_id}",
                    "--conformance-target=host",
                    f"--conformance-command={' '.join(['conformance', *argv])}", *pytest_args])
    wall = time.monotonic() - start
    try:
        results = model.load(out)
    except model.ResultsError as exc:
        raise UsageError(f"conformance run: pytest exited {code} without results ({exc})") from None
    c = model.counts(results)
    k = results["kernel"]
    print(f"\nkernel {k['os']} {k['release']} ({results['run']['target']}); "
          f"results: {out}/results.json, junit.xml")
    print(f"conformance: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, "
          f"{c['xfailed']} xfailed, {c['xpassed']} xpassed, {c['error']} errors "
          f"in {wall:.1f}s on {k['os']} {k['release']}")
    if code in (0, 1):
        return code
    if code == 5:  # no tests collected (e.g. -k matched nothing): not a failure of the kernel
        return EXIT_OK if not results["tests"] else EXIT_FAIL
    raise UsageError(f"conformance run: pytest could not run the suite (exit {code}); see above")


def clause_coverage(os_name: str | None) -> dict:
    """Collect the suites and map clause -> tests; problems are orphan tests and unknown IDs."""
    oses = [os_name] if os_name else list(catalog.OSES)
    with tempfile.TemporaryDirectory() as tmp:
        map_file = Path(tmp) / "map.json"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
             f"--conformance-clause-map={map_file}", *(str(SUITE_DIR / o) for o in oses)],
            cwd=SUITE_DIR.parent, capture_output=True, text=True)
        if not map_file.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            raise UsageError(f"conformance clauses: collection failed: {tail[0]}")
        data = json.loads(map_file.read_text())
    clauses = {}
    for o in oses:
        clauses.update(catalog.load(o))
    by_clause: dict[str, list[str]] = {cid: [] for cid in clauses}
    for nodeid, ids in data["tests"].items():
        for cid in ids:
            by_clause.setdefault(cid, []).append(nodeid)
    rows = []
    for cid, clause in clauses.items():
        tests = by_clause.get(cid, [])
        rows.append({"id": cid, "os": clause.os, "feature": clause.feature, "basis": clause.basis,
                     "tests": tests,
                     "untested_reason": None if tests else (clause.untestable or "NO TEST YET")})
    return {"clauses": rows, "problems": data["problems"]}


def cmd_clauses(ns: argparse.Namespace) -> int:
    cov = clause_coverage(ns.os)
    if ns.json:
        print(json.dumps(cov, indent=1))
    else:
        for row in cov["clauses"]:
            print(f"{row['id']}  [{row['basis']}]")
            for t in row["tests"]:
                print(f"    {t}")
            if not row["tests"]:
                print(f"    (no test: {row['untested_reason']})")
        tested = sum(1 for r in cov["clauses"] if r["tests"])
        print(f"\n{tested}/{len(cov['clauses'])} clauses have tests; "
              f"{len(cov['problems'])} problems")
        for p in cov["problems"]:
            print(f"PROBLEM: {p}")
    return EXIT_FAIL if cov["problems"] else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    try:
        ns = _parser().parse_args(own)
        if ns.command == "run":
            return cmd_run(ns, pytest_args, argv)
        if pytest_args:
            raise UsageError("conformance: only `run` passes arguments after -- to pytest")
        return cmd_clauses(ns)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
