"""Collects test reports (on the xdist controller, or the only process) and writes results:
results.json, then from it junit.xml, ktap.txt and kcidb.json (all in the results directory)."""
from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.results import SCHEMA, junit, kcidb, known_failures, ktap, provenance

MAX_MESSAGE = 8000


def _props(report) -> dict:
    return {k: v for k, v in report.user_properties}


def _skip_reason(report) -> str | None:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = report.longrepr[2]
        return reason.removeprefix("Skipped: ")
    return None


def _message(report) -> str:
    # xdist puts "[gw0] linux -- Python 3.x /path" first: drop it, so serial and xdist agree
    text = re.sub(r"\A\[gw\d+\] [^\n]*\n", "", report.longreprtext or "")
    return text if len(text) <= MAX_MESSAGE else "...\n" + text[-MAX_MESSAGE:]


def outcome_of(report) -> str | None:
    """The verdict one phase report implies, or None when the phase says nothing new."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return None


class Recorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.out_dir = Path(config.getoption("conformance_results"))
        self.start = time.time()
        self.tests: dict[str, dict] = {}

    def _entry(self, nodeid: str) -> dict:
        return self.tests.setdefault(nodeid, {
            "nodeid": nodeid, "clauses": [], "basis": {}, "outcome": None, "duration": 0.0,
            "reason": None, "message": None, "transcript": [], known_failures.PROPERTY: None,
            "kernel_log": [],
        })

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self._entry(nodeid)  # known from its start: an interrupt can then name it

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self._entry(report.nodeid)
        props = _props(report)
        entry["clauses"] = props.get("clauses", entry["clauses"])
        entry["basis"] = props.get("basis", entry["basis"])
        if props.get("transcript"):
            entry["transcript"] = props["transcript"]
        entry["kernel_log"] += props.get("kernel_log", [])  # conformance.kernel_health
        if "hypothesis_examples" in props:  # conformance.hypothesis_profiles
            entry["hypothesis_examples"] = props["hypothesis_examples"]
        if props.get(known_failures.PROPERTY):
            entry[known_failures.PROPERTY] = props[known_failures.PROPERTY]
        entry["duration"] = round(entry["duration"] + report.duration, 6)
        verdict = outcome_of(report)
        if verdict is None:
            return
        if report.when == "teardown" and entry["outcome"] in ("failed", "error"):
            return  # the first failure is the verdict; a teardown error after it adds nothing
        entry["outcome"] = verdict
        if verdict == "skipped":
            entry["reason"] = _skip_reason(report)
        elif verdict in ("xfailed", "xpassed"):
            entry["reason"] = getattr(report, "wasxfail", None) or None
            if verdict == "xfailed" and report.longrepr:  # the deviation seen: the evidence
                entry["message"] = _message(report)
        elif verdict in ("failed", "error"):
            entry["message"] = _message(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            entry = self._entry(report.nodeid or "<collection>")
            entry["outcome"] = "error"
            entry["message"] = _message(report)

    def results(self) -> dict:
        workers = getattr(self.config.option, "numprocesses", None) or 0
        run_id = (self.config.getoption("conformance_run_id") or self.out_dir.name
                  or uuid.uuid4().hex)
        command = self.config.getoption("conformance_command") or " ".join(sys.argv)
        return {
            "schema": SCHEMA,
            "run": {
                "id": run_id,
                "start": datetime.fromtimestamp(self.start, UTC).isoformat(),
                "duration": round(time.time() - self.start, 3),
                "suite": provenance.suite(),
                "target": self.config.getoption("conformance_target"),
                "command": command,
                "known_failures": [str(p) for p in known_failures.files()],
            },
            "kernel": provenance.kernel({o for t in self.tests.values() if t["reason"]
                                         for o in provenance.CONFIG_OPTION.findall(t["reason"])}),
            "environment": provenance.environment(self.config.getoption("conformance_accel"),
                                                  workers if isinstance(workers, int) else 0),
            "tests": [t for t in self.tests.values() if t["outcome"] is not None],
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            for entry in self.tests.values():
                if entry["outcome"] is None:  # started, no verdict: the run stopped under it
                    entry["outcome"] = "error"
                    entry["message"] = ("interrupted: the run was stopped (SIGINT, or SIGTERM/"
                                        "SIGHUP to conformance run) while this test ran")
        write_outputs(self.out_dir, self.results(),
                      derived=self.config.getoption("conformance_formats") == "all")


def write_outputs(out_dir: Path, data: dict, derived: bool = True) -> None:
    """results.json (atomically), then (derived) junit.xml, ktap.txt and kcidb.json from it.
    Without derived (a guest, whose host renders the rest and rewrites results.json) the JSON
    is compact: json's C encoder does not indent, and the Python one took seconds under TCG."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(data, indent=1 if derived else None) + "\n")
    os.replace(tmp, out_dir / "results.json")
    if not derived:
        return
    (out_dir / "junit.xml").write_text(junit.render(data))
    (out_dir / "ktap.txt").write_text(ktap.render(data))
    try:
        origin = kcidb.origin_from_env()
    except ValueError as exc:
        origin = kcidb.DEFAULT_ORIGIN
        sys.stderr.write(f"conformance: {exc}; kcidb.json uses origin {origin!r}\n")
    (out_dir / "kcidb.json").write_text(kcidb.dumps(data, origin))
