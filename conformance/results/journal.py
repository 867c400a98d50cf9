"""A line per finished test, appended as it finishes (journal.jsonl next to results.json).

results.json is written when the session ends; a kernel that panics or hangs mid-run never
gets there. The kernel target rebuilds the verdicts of the tests that did finish from this
journal, so they are kept.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

JOURNAL = "journal.jsonl"


class Journal:
    def __init__(self, path: Path, recorder) -> None:
        self.path = path
        self.recorder = recorder

    @pytest.hookimpl(trylast=True)  # after the recorder has folded this report in
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        entry = self.recorder.tests.get(report.nodeid)
        if entry and entry.get("outcome"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()


def read(path: Path) -> list[dict]:
    """The finished tests of a journal, the last line per node id winning; a torn last line
    (the writer died mid-write) is ignored."""
    tests: dict[str, dict] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        tests[entry["nodeid"]] = entry
    return list(tests.values())
