"""SIGTERM, SIGINT and SIGHUP during `conformance run`: stop what the run started, keep what it has.

`timeout`, cron and CI runners stop a job with SIGTERM (a terminal with SIGINT, a lost session
with SIGHUP). The run's VMs, vagrant ssh sessions and pytest children live in process groups of
their own (start_new_session), so a signal to the run's group does not reach them: the handler
installed by handling() records the first signal and passes it on at once to every group the
run registered (by the group leader's PID, which is the child we started: nothing else), with
the signal that stops each gracefully: SIGINT to pytest (it tears its fixtures down, namespaces
included, and writes results.json), SIGTERM to a VM's launcher and to vagrant. The code that
started each group then sees its child end, asks requested(), marks its results interrupted
and escalates to SIGKILL on its usual bounded path. The handler never raises: every wait in
the run polls with a deadline, so cleanup runs in order instead of from a random frame.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_requested: int | None = None
_groups: dict[int, int] = {}  # process-group id (the leader's PID, our child) -> first signal


def requested() -> int | None:
    """The first of SIGNALS that arrived since handling() began, or None."""
    return _requested


def name() -> str:
    return signal.Signals(_requested).name if _requested else ""


def exit_status() -> int:
    """The conventional status of a process ended by the signal: 128 + its number."""
    return 128 + (_requested or 0)


def note() -> str:
    return f"interrupted by {name()}"


def _forward(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (or the leader's PID now belongs to someone else's group)


def _handler(signum: int, frame) -> None:
    global _requested
    if _requested is None:
        _requested = signum
    for pgid, sig in list(_groups.items()):
        _forward(pgid, sig)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the handler for SIGNALS for the duration (main thread only; elsewhere a no-op)
    and restore the previous handlers after; the recorded signal starts clear."""
    global _requested
    _requested = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def group(pid: int, sig: int = signal.SIGTERM) -> Iterator[None]:
    """Register the process group we started (leader pid, start_new_session=True) for the
    duration: an interrupt sends it sig. If one already arrived, sig goes at once."""
    _groups[pid] = sig
    if _requested is not None:
        _forward(pid, sig)
    try:
        yield
    finally:
        _groups.pop(pid, None)


def registered() -> list[int]:
    return list(_groups)


def watch(pid: int, sig: int = signal.SIGTERM) -> None:
    """group() for code that cannot take a with-block: pair with unwatch(pid)."""
    _groups[pid] = sig
    if _requested is not None:
        _forward(pid, sig)


def unwatch(pid: int) -> None:
    _groups.pop(pid, None)
