"""Write one static HTML page of several runs: kernels as columns, the catalog's clauses grouped
by feature as rows, each cell coloured by the verdict of the clause's tests on that kernel, the
reason on hover and a link to the failure report (the run's reports/ directory, as `conformance
report` writes it). Runs of the same kernel release sit side by side, oldest first, as a trend.
No script and no network: the page is one file that opens anywhere. Exit 0 when the page was
written, 2 on a missing or malformed results file."""
from __future__ import annotations

import argparse
from pathlib import Path

from conformance.cli import EXIT_OK, UsageError
from conformance.results import compare, model

HELP = "one static HTML page: kernels x clauses, coloured by verdict (several runs: a trend)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS", nargs="+",
                   help="results.json files or run directories (any number)")
    p.add_argument("--out", metavar="FILE", default="matrix.html",
                   help="the page to write (default matrix.html)")
    p.add_argument("--title", default="zerocopy-conformance: kernels x clauses")
    p.add_argument("--changed", action="store_true",
                   help="only the clauses whose verdict is not the same on every run")


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    from conformance import catalog
    from conformance.results import html
    runs = []
    for given in ns.results:
        try:
            results = compare.read(given)
        except model.ResultsError as exc:
            raise UsageError(f"conformance matrix: {exc}") from None
        path = Path(given)
        runs.append(html.Run(results, path if path.is_dir() else path.parent))
    try:
        clauses = catalog.load_all()
    except catalog.CatalogError as exc:
        raise UsageError(f"conformance matrix: {exc}") from None
    out = Path(ns.out)
    try:
        out.write_text(html.page(runs, clauses, out.parent, ns.title, ns.changed))
    except OSError as exc:
        raise UsageError(f"conformance matrix: cannot write {out}: {exc.strerror or exc}") from None
    print(f"conformance matrix: {len(runs)} run(s), page in {out}")
    return EXIT_OK
