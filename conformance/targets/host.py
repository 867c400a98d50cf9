"""The host target: pytest on the running kernel, in a child process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent.parent


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
    return subprocess.run(plan.argv(argv), cwd=SUITE_DIR.parent, env=plan.env()).returncode
