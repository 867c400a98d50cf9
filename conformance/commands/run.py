"""Run the suite of an OS against a target (default: the running kernel) and write
results/<run-id>/results.json and junit.xml. Arguments after -- go to pytest."""
from __future__ import annotations

import argparse
import platform
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

from conformance import catalog
from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.results import model
from conformance.targets import host

HELP = "run the suite against a target (default: this kernel)"
PASSES_PYTEST_ARGS = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--os", choices=catalog.OSES, default=None,
                   help="which suite (default: the running OS)")
    p.add_argument("--results", metavar="DIR", default="results",
                   help="results go to DIR/<run-id>/ (default: results)")


def running_os() -> str:
    name = platform.system().lower()
    return name if name in catalog.OSES else "linux"


def new_run_dir(base: str, target: str) -> tuple[str, Path]:
    """Make DIR/<run-id>/ and check it is writable, or raise UsageError."""
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
    return run_id, out.resolve()


def summarize(out: Path, wall: float) -> dict:
    """Print the run's summary lines from its results.json and return the counts."""
    results = model.load(out)
    c = model.counts(results)
    k = results["kernel"]
    print(f"\nkernel {k['os']} {k['release']} ({results['run']['target']}); "
          f"results: {out}/results.json, junit.xml")
    print(f"conformance: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, "
          f"{c['xfailed']} xfailed, {c['xpassed']} xpassed, {c['error']} errors "
          f"in {wall:.1f}s on {k['os']} {k['release']}")
    return c


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    os_name = ns.os or running_os()
    run_id, out = new_run_dir(ns.results, "host")
    start = time.monotonic()
    code = host.run_pytest(os_name, out, run_id, ["conformance", *argv], pytest_args)
    wall = time.monotonic() - start
    try:
        c = summarize(out, wall)
    except model.ResultsError as exc:
        raise UsageError(f"conformance run: pytest exited {code} without results ({exc})") from None
    if code in (0, 1):
        return code
    if code == 5:  # nothing collected (e.g. -k matched nothing): not a kernel failure
        return EXIT_OK if not sum(c.values()) else EXIT_FAIL
    raise UsageError(f"conformance run: pytest could not run the suite (exit {code}); see above")
