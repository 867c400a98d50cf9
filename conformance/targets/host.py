"""The host target: pytest on the running kernel, in a child process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


# Options that decide the worker count; options that want the tests in this one process (a
# debugger, output straight to the terminal, no tests run). With any of them no default applies.
WORKER_CHOICES = ("-n", "--numprocesses", "--dist")
SERIAL_CHOICES = ("--pdb", "--trace", "-s", "--capture=no", "--collect-only", "--co")
WARM_DEADLINE = 30.0


def chose_workers(pytest_args: list[str]) -> bool:
    """Whether the pytest arguments already decide how tests are spread over processes."""
    for i, a in enumerate(pytest_args):
        if a in WORKER_CHOICES or a.startswith(("-n", "--numprocesses=", "--dist=")):
            return True
        if a == "-p" and i + 1 < len(pytest_args) and "xdist" in pytest_args[i + 1]:
            return True
        if a.startswith("-p") and "xdist" in a:
            return True
    return False


def with_workers(pytest_args: list[str], workers: str = "auto") -> list[str]:
    """pytest-xdist by default (`-n auto`: one worker per CPU this process may use, in a guest
    one per vCPU; --dist loadgroup keeps each xdist_group on one worker), unless the user chose
    (chose_workers), wants one process (SERIAL_CHOICES) or named single tests (a node id: a
    bisect step, a rerun), where starting workers costs more than it saves. Tests that must not overlap with a sibling share an
    xdist_group; results.json records the worker count (environment.xdist_workers)."""
    if (chose_workers(pytest_args) or any(a in SERIAL_CHOICES for a in pytest_args)
            or any("::" in a for a in pytest_args if not a.startswith("-"))):
        return pytest_args
    return ["-n", workers, "--dist", "loadgroup", *pytest_args]


def bytecode_cache() -> Path:
    """Where compiled modules and pytest's rewritten test modules are kept between runs:
    $XDG_CACHE_HOME/conformance/pycache, else ~/.cache/conformance/pycache (a guest reads it
    through the host root filesystem virtme-ng shares)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).resolve() / "conformance" / "pycache"


def bytecode_env(env: dict[str, str], cache: Path) -> dict[str, str]:
    """env with compiled modules kept under cache (PYTHONPYCACHEPREFIX; pytest keeps its
    rewritten test modules there too) and written even where PYTHONDONTWRITEBYTECODE is set:
    the prefix keeps them out of the source tree, which is what that setting usually protects.
    Without it every pytest process, every xdist worker and every guest compiles the suite
    again: about 2 s of CPU each on the host, several times that under TCG. A prefix the user
    set stands."""
    if env.get("PYTHONPYCACHEPREFIX"):
        return env
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = str(cache)
    return out


def run_pytest(os_name: str, out: Path, run_id: str, command: list[str],
               pytest_args: list[str]) -> int:
    """Run the suite here (in parallel by default: with_workers); when not root on Linux,
    inside an unprivileged user + net + mount namespace where the kernel allows it (else the
    network tests skip, and we say why)."""
    from conformance.targets import rootless
    argv = pytest_argv(os_name, out, run_id, command, with_workers(pytest_args))
    plan = rootless.plan() if os_name == "linux" else rootless.Plan(None, None)
    if plan.reason:
        print(f"conformance run: {plan.reason}; the network tests will skip", file=sys.stderr)
    return supervise(plan.argv(argv), bytecode_env(plan.env(), bytecode_cache()))


def warm_bytecode(os_name: str, cache: Path) -> subprocess.Popen:
    """Start compiling the suite into cache (pytest --collect-only: modules and rewritten test
    modules, the parsed catalogs, hypothesis's local constants) in the background, so a guest
    that reads the host's files (virtme-ng) finds them ready instead of redoing them under
    emulation; the caller waits on or ignores the process.
    The guest uses a cache only when its source file is unchanged, so a stale one is harmless."""
    script = ("import compileall, os, sys, execnet, pytest, xdist\n"
              "for m in (execnet, xdist):  # what only xdist workers import\n"
              "    compileall.compile_dir(os.path.dirname(m.__file__), quiet=2)\n"
              "sys.exit(pytest.main(['-p', 'no:cacheprovider', '--collect-only', '-q', "
              f"{str(SUITE_DIR / os_name)!r}]))")
    argv = [sys.executable, "-c", script]
    env = {**bytecode_env(dict(os.environ), cache),
           "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis_storage(cache))}
    return subprocess.Popen(argv, cwd=SUITE_DIR.parent, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)


def hypothesis_storage(cache: Path) -> Path:
    """Where warm_bytecode's collection keeps hypothesis's files: its `constants` directory is
    the cache of the constants hypothesis reads out of every local module when a worker collects
    (ast-parsed per module, named by the source's hash, so never stale). A guest's run links
    its own storage's `constants` here (kernel.guest_script): with a cold cache each guest
    worker parsed the suite's modules again under TCG."""
    return cache / "hypothesis-storage"


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


@contextmanager
def warming(os_name: str, cache: Path, enabled: bool = True) -> Iterator[None]:
    """warm_bytecode() for the duration of the block (the VMs' boots); at its end the warm-up
    gets WARM_DEADLINE more seconds, then its process group is stopped."""
    proc = warm_bytecode(os_name, cache) if enabled else None
    try:
        yield
    finally:
        if proc is not None:
            try:
                proc.wait(WARM_DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

