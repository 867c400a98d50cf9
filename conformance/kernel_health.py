"""Per-test kernel health (a pytest plugin the conformance plugin registers in every process).

Around each test phase (setup, call, teardown) the kernel log records that arrived since the
previous phase and a new trouble taint are parsed into incidents (conformance.kernel_log); a
phase that saw any carries them as the `kernel_log` user property, which the recorder folds
into tests[].kernel_log, and as a "kernel log" report section. Under pytest-xdist every worker
reads /dev/kmsg itself: with several workers, an incident is attributed to each test that was
running when it was logged, except where the report names its task (`PID: N`) and that task is
alive and neither this worker nor one of its descendants (another worker's test logged it). A
task that has exited (a forked child an oops killed) is placed through the run's child registry:
fixtures.isolation calls forked(pid) for each child it forks, which leaves a file named by the
child's pid, holding the forking worker's pid, in a directory all workers of one xdist run share
(named by the controller's pid, removed by the controller at the end). An exited task nobody
registered cannot be placed and stays with every test that was running.

When a test kills its xdist worker (a signal, an oops in the syscall it made), pytest-xdist
reports "worker crashed" and starts a new worker for the remaining tests; the controller then
names the signal the worker died of and attaches the records logged since that test started.
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conformance import kernel_log

PROPERTY = "kernel_log"
WORKER_EXIT_DEADLINE = 5.0
MAX_BUFFER = 5000


def worker_exit(worker) -> str:
    """How an xdist worker ended: 'killed by SIGKILL', 'exit status 3', or why it is unknown.
    execnet keeps the worker's Popen object on its gateway's io (gateway._io.popen)."""
    popen = getattr(getattr(getattr(worker, "gateway", None), "_io", None), "popen", None)
    if popen is None:
        return "its exit status is unknown (no execnet popen gateway)"
    try:
        code = popen.wait(timeout=WORKER_EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        return f"it had not exited {WORKER_EXIT_DEADLINE:.0f}s later"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def registry_dir(controller: int) -> Path:
    return Path(tempfile.gettempdir()) / f"conformance-children-{controller}"


_registry: Path | None = None  # set in an xdist worker (register)


def _open_registry(controller: int) -> Path | None:
    """The run's child registry: created by whichever worker comes first, mode 0700; a path
    that is not our own plain directory (a symlink, another user's) is not used."""
    path = registry_dir(controller)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    st = path.lstat()
    return path if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() else None


def forked(pid: int) -> None:
    """Record that this process forked pid (fixtures.isolation), so that an incident the child
    logged before it exited stays with this worker's test only."""
    if _registry is not None:
        try:
            (_registry / str(pid)).write_text(str(os.getpid()))
        except OSError:
            pass


def _forked_by(pid: int) -> int | None:
    if _registry is None:
        return None
    try:
        return int((_registry / str(pid)).read_text())
    except (OSError, ValueError):
        return None


def logged_elsewhere(incident: dict, me: int | None = None) -> bool:
    """True when the incident names a live task that is not `me` (this process) nor one of its
    descendants, or an exited task the registry says another worker forked: another xdist
    worker's test logged it."""
    me = os.getpid() if me is None else me
    pid = incident.get("pid")
    if pid is None or pid == me:
        return False
    if not os.path.exists(f"/proc/{pid}"):
        owner = _forked_by(pid)
        return owner is not None and owner != me
    seen, cur = set(), pid
    while cur and cur not in seen and cur != 1:
        if cur == me:
            return False
        seen.add(cur)
        cur = _parent(cur)
    return True


class KernelHealth:
    """Workers and serial runs: the incidents of each test phase."""

    def __init__(self) -> None:
        self.watcher = kernel_log.Watcher()

    @property
    def reason(self) -> str | None:
        return self.watcher.reason

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        found = [i for i in self.watcher.collect() if not logged_elsewhere(i)]
        if found:
            report.user_properties.append((PROPERTY, found))
            report.sections.append((f"kernel log ({call.when})",
                                    kernel_log.format_entries(found)))


class CrashExplainer:
    """The xdist controller (its own /dev/kmsg reader): remember where each test started in
    the log, and when a test's worker crashes, name how it died and quote the log since."""

    def __init__(self) -> None:
        self.watcher = kernel_log.Watcher()
        self.buffer: list[kernel_log.Record] = []
        self.started: dict[str, int] = {}           # nodeid -> index into buffer

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.buffer.extend(self.watcher.records())
        if len(self.buffer) > MAX_BUFFER:
            keep = min(self.started.values(), default=len(self.buffer))
            self.buffer = self.buffer[keep:]
            self.started = {k: v - keep for k, v in self.started.items()}
        self.started[nodeid] = len(self.buffer)

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.started.pop(nodeid, None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched) -> None:
        self.buffer.extend(self.watcher.records())
        since = self.buffer[self.started.pop(crashitem, 0):]
        found = [i.to_json() for i in kernel_log.incidents(since)]
        how = worker_exit(getattr(report, "node", None))
        text = f"{report.longrepr}: the test's process was {how}" if how.startswith(
            "killed") else f"{report.longrepr}: {how}"
        if found:
            text += "\n--- kernel log ---\n" + kernel_log.format_entries(found)
            report.user_properties.append((PROPERTY, found))
        elif self.watcher.reason:
            text += f"\n(kernel log not read: {self.watcher.reason})"
        report.longrepr = text


def register(config: pytest.Config) -> None:
    """Called by the conformance plugin's pytest_configure (Linux only: /dev/kmsg)."""
    import platform
    if platform.system() != "Linux":
        return
    global _registry
    config.pluginmanager.register(KernelHealth(), "conformance-kernel-health")
    if hasattr(config, "workerinput"):
        _registry = _open_registry(os.getppid())  # execnet workers are the controller's children
    else:
        config.pluginmanager.register(CrashExplainer(), "conformance-crash-explainer")
        config.add_cleanup(lambda: shutil.rmtree(registry_dir(os.getpid()), ignore_errors=True))
