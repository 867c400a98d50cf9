"""The vagrant target's results: the guest's results directory unpacked on the host, merged
with what the host saw (no results, a timeout, a failed copy) into results.json and junit.xml."""
from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.results import SCHEMA, junit, model, provenance
from conformance.targets import interrupt

if TYPE_CHECKING:
    from conformance.targets.vagrant import Guest, GuestRun

GUEST_VENV = "/opt/conformance/venv"
GUEST_RESULTS = "/var/tmp/conformance-results"
LOG_TAIL_LINES = 60


def guest_dir(run_id: str) -> str:
    return f"{GUEST_RESULTS}/{run_id}"


def unpack(data: bytes, out: Path) -> list[str]:
    """Extract a tar stream into out: regular files and directories only, nothing outside."""
    names = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            target = (out / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(out.resolve()):
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            names.append(member.name.removeprefix("./"))
    return names


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no guest log)"


def finalize(out: Path, guest: Guest, run: GuestRun, run_id: str, command: list[str],
             provider: str) -> dict:
    """Merge the guest's results with what the host saw into out/results.json (and junit.xml);
    no results, a timeout or a failed copy becomes an ERROR entry with the guest log's tail."""
    try:
        results = model.load(out)
        complete = run.fetched
    except model.ResultsError:
        complete = False
        results = {
            "schema": SCHEMA,
            "run": {"id": run_id, "start": datetime.now(UTC).isoformat(),
                    "duration": run.wall_seconds, "suite": provenance.suite(),
                    "target": f"vagrant:{guest.machine}", "command": " ".join(command)},
            "kernel": {"os": guest.os, "release": guest.release, "version": None,
                       "machine": None, "config_hash": None, "cmdline": None},
            "environment": {"accel": guest.accel, "privileged": guest.sudo, "python": None,
                            "executable": f"{GUEST_VENV}/bin/python", "xdist_workers": 0},
            "tests": [],
        }
    if not complete:
        why = "; ".join(([] if run.timed_out or interrupt.requested() else [
            f"the guest run exited {run.exit_code} and no results.json came back"]) + run.notes)
        results["tests"].append({
            "nodeid": f"vagrant/{guest.machine}::run", "clauses": [], "basis": {},
            "outcome": "error", "duration": 0.0, "reason": None, "transcript": [],
            "message": f"{why}\n--- guest log tail ---\n{log_tail(out / 'guest.log')}"})
    results["vagrant"] = {"machine": guest.machine, "provider": provider, "accel": guest.accel,
                          "guest_dir": guest_dir(run_id), "exit_code": run.exit_code,
                          "timed_out": run.timed_out, "wall_seconds": run.wall_seconds,
                          "host_suite": provenance.suite(), "log": "guest.log"}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "junit.xml").write_text(junit.render(results))
    return results
