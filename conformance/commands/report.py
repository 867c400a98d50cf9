"""Write one markdown bug report per failure of a run (or, with --baseline, per regression
against that run), ready to paste into a bug tracker: title, kernel(s) and config hash, the
clause with its source, expected vs observed, the syscall transcript, the rerun command and a
standalone reproducer where the calls allow. With --baseline, lost-coverage.md also lists the
tests that ran in the baseline and are skipped, xfailed or gone now, with their causes and what
explains them. Exit 0 when the reports were written (or there was nothing to report), 2 on a
missing or malformed results file."""
from __future__ import annotations

import argparse
from pathlib import Path

from conformance import catalog
from conformance.cli import EXIT_OK, UsageError
from conformance.commands.compare import load_pair
from conformance.results import compare, lost_coverage, model, report

HELP = "one markdown bug report per failure, or per regression against --baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS", help="results.json or its run directory")
    p.add_argument("--baseline", metavar="BASE", default=None,
                   help="report only regressions against this run (results.json or directory)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where the reports go (default: reports/ in RESULTS' run directory)")


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    if ns.baseline:
        baseline, results = load_pair(ns.baseline, ns.results, "report")
    else:
        try:
            results, baseline = compare.read(ns.results), None
        except model.ResultsError as exc:
            raise UsageError(f"conformance report: {exc}") from None
    given = Path(ns.results)
    out = Path(ns.out) if ns.out else (given if given.is_dir() else given.parent) / "reports"
    try:
        clauses = catalog.load_all()
    except catalog.CatalogError as exc:
        raise UsageError(f"conformance report: {exc}") from None
    try:
        written = report.write_all(results, out, clauses, baseline)
    except OSError as exc:
        raise UsageError(f"conformance report: cannot write to {out}: "
                         f"{exc.strerror or exc}") from None
    what = "regression" if baseline is not None else "failure"
    if not written:
        lost = " and no lost coverage" if baseline is not None else ""
        print(f"conformance report: no {what}{lost} in {ns.results}: nothing to report")
        return EXIT_OK
    for path in written:
        print(path)
    reports = [p for p in written if p.name != lost_coverage.FILE]
    also = f", and {lost_coverage.FILE}" if len(reports) < len(written) else ""
    print(f"conformance report: {len(reports)} {what} report(s) in {out}{also}")
    return EXIT_OK
