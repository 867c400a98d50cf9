"""Clause coverage: each clause with the tests that cite it, and for each clause without a
test the reason; for each clause resting on a reading of the source (basis "source"), where that
reading is (file, function, commit) and whether someone other than its author has re-read it.
Exits 1 when a test cites an unknown clause or a suite test cites none."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from conformance import catalog
from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.targets.host import SUITE_DIR

HELP = "clause coverage: clause -> tests; clauses without a test and why"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--os", choices=catalog.OSES, default=None, help="one OS (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def coverage(os_name: str | None) -> dict:
    """Collect the suites and map clause -> tests; problems are orphan tests and unknown IDs."""
    oses = [os_name] if os_name else list(catalog.OSES)
    with tempfile.TemporaryDirectory() as tmp:
        map_file = Path(tmp) / "map.json"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
             f"--conformance-clause-map={map_file}", *(str(SUITE_DIR / o) for o in oses)],
            check=False, cwd=SUITE_DIR.parent, capture_output=True,
            text=True)
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
                     "untested_reason": None if tests else (clause.untestable or "NO TEST YET"),
                     **evidence(clause)})
    return {"clauses": rows, "problems": data["problems"]}


# The OSes whose source-basis clauses must carry evidence and a review (spec/README.md): no
# kernel of theirs has run the suite, so a reading of the source is all a verdict rests on.
REVIEWED_OSES = ("freebsd",)


def evidence(clause: catalog.Clause) -> dict:
    """The source-reading evidence of a clause, for the JSON rows: {} unless basis is "source"
    on an OS in REVIEWED_OSES."""
    if clause.basis != "source" or clause.os not in REVIEWED_OSES:
        return {}
    review = clause.reviewed
    return {"evidence": {"file": clause.source_file, "function": clause.source_function,
                         "commit": clause.source_commit},
            "reviewed": None if review is None else {
                "commit": review.commit, "date": review.date, "verdict": review.verdict,
                "by": review.by}}


def review_label(row: dict) -> str:
    """' [source, reviewed: confirmed 2026-12-04]' or ' [source, NOT REVIEWED]' for the text."""
    if row["basis"] != "source" or "reviewed" not in row:
        return f"[{row['basis']}]"
    review = row["reviewed"]
    if review is None:
        return "[source, NOT REVIEWED]"
    return f"[source, reviewed: {review['verdict']} ({review['date']}, {review['by']})]"


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    cov = coverage(ns.os)
    if ns.json:
        print(json.dumps(cov, indent=1))
    else:
        for row in cov["clauses"]:
            print(f"{row['id']}  {review_label(row)}")
            for t in row["tests"]:
                print(f"    {t}")
            if not row["tests"]:
                print(f"    (no test: {row['untested_reason']})")
        tested = sum(1 for r in cov["clauses"] if r["tests"])
        print(f"\n{tested}/{len(cov['clauses'])} clauses have tests; "
              f"{len(cov['problems'])} problems")
        for o in dict.fromkeys(r["os"] for r in cov["clauses"]):
            source = [r for r in cov["clauses"] if r["os"] == o and "reviewed" in r]
            if not source:
                continue
            missing = [r["id"] for r in source if not r["reviewed"]]
            print(f"{o}: {len(source) - len(missing)}/{len(source)} source-basis clauses reviewed "
                  f"by someone other than their author"
                  + (f"; not reviewed: {', '.join(missing)}" if 0 < len(missing) <= 12 else ""))
        for p in cov["problems"]:
            print(f"PROBLEM: {p}")
    return EXIT_FAIL if cov["problems"] else EXIT_OK
