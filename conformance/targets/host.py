"""The host target: pytest on the running kernel, in a child process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance.targets import interrupt

SUITE_DIR = Path(__file__).resolve().parent.parent
POLL = 0.2
INTERRUPT_GRACE = 20.0  # pytest's teardown after SIGINT: namespaces, captures, results.json
STOP_DEADLINE = 5.0


def pytest_argv(os_name: str, out: Path, run_id: str, command: list[str], pytest_args: list[str],
                target: str = "host", accel: str = "none") -> list[str]:
    """The pytest command line that runs one OS's suite and writes results into out.

    When the pytest arguments name tests (a node id or a path under conformance/), those run
    instead of the whole suite directory.
    """
    names_tests = any("::" in a or a.startswith("conformance/") for a in pytest_args
                      if not a.startswith("-"))
    suite = [] if names_tests else [str(SUITE_DIR / os_name)]
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers",
            *suite, f"--conformance-results={out}",
            f"--conformance-run-id={run_id}", f"--conformance-target={target}",
            f"--conformance-accel={accel}", f"--conformance-command={' '.join(command)}",
            *pytest_args]


def run_pytest(os_name: str, out: Path, run_id: str, command: list[str],
               pytest_args: list[str]) -> int:
    """Run the suite here; when not root on Linux, inside an unprivileged user + net + mount
    namespace where the kernel allows it (else the network tests skip, and we say why)."""
    from conformance.targets import rootless
    argv = pytest_argv(os_name, out, run_id, command, pytest_args)
    plan = rootless.plan() if os_name == "linux" else rootless.Plan(None, None)
    if plan.reason:
        print(f"conformance run: {plan.reason}; the network tests will skip", file=sys.stderr)
    return supervise(plan.argv(argv), plan.env())


def supervise(argv: list[str], env: dict[str, str]) -> int:
    """Run pytest in a process group of its own and wait for it; on SIGTERM/SIGINT/SIGHUP to
    us it gets SIGINT (pytest tears its fixtures down and writes what it has), then, past
    INTERRUPT_GRACE, SIGTERM and SIGKILL to the group. Returns pytest's exit status."""
    proc = subprocess.Popen(argv, cwd=SUITE_DIR.parent, env=env, start_new_session=True)
    with interrupt.group(proc.pid, signal.SIGINT):
        code = _wait(proc, None)
        if code is None:  # interrupted and still tearing down
            code = _wait(proc, INTERRUPT_GRACE)
    if code is None or _group_alive(proc.pid):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            code = _wait(proc, STOP_DEADLINE, stop_on_interrupt=False)
            if code is not None and not _group_alive(proc.pid):
                break
    return proc.wait() if code is None else code


def _wait(proc: subprocess.Popen, deadline: float | None, stop_on_interrupt: bool = True):
    """proc's exit status, or None when the deadline passed (or an interrupt arrived)."""
    start = time.monotonic()
    while True:
        try:
            return proc.wait(timeout=POLL)
        except subprocess.TimeoutExpired:
            pass
        if deadline is None and stop_on_interrupt and interrupt.requested():
            return None
        if deadline is not None and time.monotonic() - start > deadline:
            return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
