"""One pytest run of some suite files, with or without a lie, bounded in time.

A run is a new session (its own process group). It is stopped when it overruns: SIGINT to the
pytest process (its pid comes from the record), so pytest tears its fixtures down and no
namespace or link is left behind, then, STOP_WAIT seconds later, SIGKILL to the process group
this module started (under the tracer, PTRACE_O_EXITKILL takes the traced processes with it).
"""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .lies import Lie

ROOT = Path(__file__).resolve().parents[2]
SUITE = "conformance/linux"
TEST_TIMEOUT = 15.0   # per test: above the suite's own deadlines (ARRIVAL, CONNECT: 10 s)
BASELINE_TEST_TIMEOUT = 120.0   # without a lie nothing should wait this long
GRACE = 20.0
STOP_WAIT = 15.0
TIMEOUT_MARK = "Timeout"   # pytest-timeout's failure message: "Failed: Timeout (>12.0s) from ..."


@dataclass
class Run:
    label: str
    files: tuple[str, ...]
    wall: float = 0.0
    status: int | None = None
    killed: bool = False
    running: str | None = None          # the test that had started and not ended at a kill
    tests: dict[str, dict] = field(default_factory=dict)   # nodeid -> record line
    log: str = ""

    def outcome(self, nodeid: str) -> str:
        return self.tests.get(nodeid, {}).get("outcome") or "not run"

    def timed_out(self, nodeid: str) -> bool:
        rec = self.tests.get(nodeid, {})
        return rec.get("outcome") in ("failed", "error") and TIMEOUT_MARK in rec.get("reason", "") \
            and "pytest-timeout" in rec.get("reason", "")


def expand(files: tuple[str, ...]) -> tuple[str, ...]:
    """Suite paths for the globs, relative to the project root, sorted."""
    found = sorted({os.path.relpath(p, ROOT) for g in files
                    for p in glob.glob(str(ROOT / SUITE / g))})
    return tuple(found)


def read_record(path: Path) -> tuple[int | None, dict[str, dict], str | None]:
    pid, tests, started = None, {}, []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill
            if "pid" in obj:
                pid = obj["pid"]
            elif "start" in obj:
                started.append(obj["start"])
            else:
                tests[obj["nodeid"]] = obj
    running = next((n for n in reversed(started) if n not in tests), None)
    return pid, tests, running


def run(label: str, files: tuple[str, ...], logs: Path, test_timeout: float, deadline: float,
        lie: Lie | None = None, timeouts: dict[str, float] | None = None) -> Run:
    """Run pytest over files (under lie when given), stopping it after deadline seconds; each
    test gets test_timeout seconds, or its entry in timeouts."""
    slug = label.replace("/", "_")
    record, log = logs / f"{slug}.jsonl", logs / f"{slug}.log"
    record.unlink(missing_ok=True)
    pytest = [sys.executable, "-m", "pytest", "-p", "tests.mutation.inject", "-q", "-rfE",
              f"--timeout={test_timeout:g}", "--timeout-method=signal", *files]
    env = dict(os.environ, MUTATION_RECORD=str(record))
    env.pop("MUTATION_LIE", None)
    env.pop("MUTATION_TIMEOUTS", None)
    if timeouts:
        table = logs / f"{slug}.timeouts.json"
        table.write_text(json.dumps(timeouts))
        env["MUTATION_TIMEOUTS"] = str(table)
    argv = pytest
    if lie is not None and lie.rules:
        argv = [sys.executable, "-m", "tests.mutation", "exec", lie.name, "--", *pytest]
    if lie is not None and lie.stream is not None:
        env["MUTATION_LIE"] = lie.name
    result = Run(label, files, log=str(log))
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            result.status = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            result.killed = True
            _stop(proc, record)
            result.status = proc.returncode
    result.wall = time.monotonic() - start
    _, result.tests, result.running = read_record(record)
    if not result.killed:
        result.running = None
    return result


def _stop(proc: subprocess.Popen, record: Path) -> None:
    pid, _, _ = read_record(record)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGINT)   # pytest: KeyboardInterrupt, fixtures torn down
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this run started
        proc.wait()


class Runner:
    """Runs the baseline (once, over every file the chosen lies concern) and the lies.

    A lie's baseline is that run restricted to the lie's files: the tests' own durations there,
    plus the run's fixed cost (start-up and collection: wall time less the tests' durations).
    One baseline run instead of one per set of files saves a pytest start-up per lie."""

    def __init__(self, logs: Path, test_timeout: float, factor: float, grace: float) -> None:
        self.logs, self.test_timeout, self.factor, self.grace = logs, test_timeout, factor, grace
        self.full: Run | None = None

    def run_baseline(self, globs: list[tuple[str, ...]]) -> Run:
        files = tuple(sorted({f for g in globs for f in expand(g)}))
        self.full = run("baseline", files, self.logs, BASELINE_TEST_TIMEOUT, 1800.0)
        return self.full

    def baseline(self, globs: tuple[str, ...]) -> Run:
        """The baseline of the lie's files, cut out of the full baseline run."""
        assert self.full is not None, "run_baseline first"
        files = expand(globs)
        tests = {n: r for n, r in self.full.tests.items() if n.split("::")[0] in files}
        fixed = max(self.full.wall - sum(r["duration"] for r in self.full.tests.values()), 0.0)
        return Run("baseline", files, wall=fixed + sum(r["duration"] for r in tests.values()),
                   status=self.full.status, tests=tests, log=self.full.log)

    def under(self, lie: Lie, base: Run) -> Run:
        """Run the lie. A test whose baseline took long gets factor x that instead of the
        per-test timeout. Afterwards base.wall takes the smaller fixed cost of the two runs
        (the full baseline collected more files)."""
        if not base.files:  # pytest without paths would run the self-tests instead
            return Run(lie.name, (), log="no suite file matches " + " ".join(lie.files))
        timeouts = {n: self.factor * r["duration"] for n, r in base.tests.items()
                    if self.factor * r["duration"] > self.test_timeout}
        got = run(lie.name, base.files, self.logs, self.test_timeout,
                  self.factor * base.wall + self.grace, lie, timeouts)
        if not got.killed and got.tests:
            fixed = got.wall - sum(r["duration"] for r in got.tests.values())
            tests = sum(r["duration"] for r in base.tests.values())
            base.wall = min(base.wall, max(fixed, 0.0) + tests)
        return got

    def baseline_problems(self) -> list[str]:
        b = self.full
        if b is None:
            return []
        bad = [n for n, r in b.tests.items() if r["outcome"] in ("failed", "error", "xpassed")]
        if bad or not b.tests:
            return ["the baseline run is not green: "
                    + (", ".join(bad) or f"no test ran (exit {b.status})")]
        return []
