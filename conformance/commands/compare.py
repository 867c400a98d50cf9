"""Compare two runs test by test: regressions (passed -> failed/error), lost coverage (a test
that ran is now skipped, xfailed or gone) and lost coverage the runs' records explain, fixes and
new tests, each with its cause. Exits 1 when there is a regression or unexplained lost coverage,
0 otherwise, 2 on a missing or malformed results file or mismatched schemas."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap

from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.results import compare, model

PLURAL = {"regression": "regressions", "fix": "fixes", "new known failure": "new known failures",
          "known failure gone": "known failures gone", "failure changed": "failures changed",
          "other": "others", "new test": "new tests"}
HELP = "compare two results (BASE, CAND): regressions, lost coverage, fixes, new tests"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="results.json or its run directory (the baseline)")
    p.add_argument("cand", metavar="CAND", help="results.json or its run directory (the candidate)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def load_pair(base: str, cand: str, who: str) -> tuple[dict, dict]:
    try:
        return compare.read(base), compare.read(cand)
    except model.ResultsError as exc:
        raise UsageError(f"conformance {who}: {exc}") from None


def _run_line(label: str, p: dict) -> str:
    config = (p["config_hash"] or "config unknown")[:19]
    suite = (p["suite_commit"] or "unknown")[:12] + ("+dirty" if p.get("suite_dirty") else "")
    return (f"{label}  {p['os']} {p['release']} {p['machine']}  {config}  "
            f"suite {suite}  {p['tests']} tests  run {p['run_id']}")


def table(result: dict, width: int) -> list[str]:
    lines = [_run_line("BASE", result["base"]), _run_line("CAND", result["cand"])]
    lines += [f"  changed: {c}" for c in result["context"]]
    diffs = result["differences"]
    if diffs:
        kind_w = max(len("KIND"), *(len(d["kind"]) for d in diffs))
        verdict = [f"{d['base'] or '-'} -> {d['cand'] or '-'}" for d in diffs]
        verd_w = max(len("BASE -> CAND"), *(len(v) for v in verdict))
        lines += ["", f"{'KIND':<{kind_w}}  {'BASE -> CAND':<{verd_w}}  TEST"]
        for d, v in zip(diffs, verdict):
            lines.append(f"{d['kind']:<{kind_w}}  {v:<{verd_w}}  {d['nodeid']}")
            for label in ("cause", "explanation"):
                if d[label]:
                    lines += textwrap.wrap(f"{label}: {d[label]}", width=width,
                                           initial_indent=" " * (kind_w + 2),
                                           subsequent_indent=" " * (kind_w + 4 + len(label)))
    c = result["counts"]
    parts = [f"{c[k]} {PLURAL.get(k, k) if c[k] > 1 else k}" for k in compare.KINDS if c[k]]
    parts.append(f"{c['unchanged']} unchanged")
    lines += ["", "compare: " + ", ".join(parts)]
    return lines


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    base, cand = load_pair(ns.base, ns.cand, "compare")
    result = compare.compare(base, cand)
    width = max(80, shutil.get_terminal_size((160, 24)).columns)
    text = json.dumps(result, indent=1) if ns.json else "\n".join(table(result, width))
    try:
        print(text, flush=True)
    except BrokenPipeError:  # piped into head: the reader is gone, the verdict still counts
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_FAIL if any(result["counts"][k] for k in compare.FAILING) else EXIT_OK
