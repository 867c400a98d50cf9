"""pytest plugin for benchmarks/profile.py (loaded with `-p profile_plugin`, benchmarks/ on
PYTHONPATH): for every test phase the wall time and this process's CPU time, and the time spent
in the MSG_ZEROCOPY watches for what must not arrive (Notifications.quiet, until_released,
wait_released); one JSON file per process in $PROFILE_PLUGIN_OUT. Measures, asserts nothing."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

WATCHES = ("quiet", "until_released")
_phases: list[dict] = []
_watch = {"seconds": 0.0, "calls": 0}


def _timed(fn):
    def wrapper(*args, **kwargs):
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            _watch["seconds"] += time.monotonic() - start
            _watch["calls"] += 1
    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    try:
        from conformance.fixtures import zerocopy
    except ImportError:
        return
    for name in WATCHES:
        if hasattr(zerocopy.Notifications, name):
            setattr(zerocopy.Notifications, name, _timed(getattr(zerocopy.Notifications, name)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _phase(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _phase(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield from _phase(item, "teardown")


def _phase(item, when: str):
    wall, cpu, watch = time.monotonic(), time.process_time(), _watch["seconds"]
    yield
    _phases.append({"nodeid": item.nodeid, "when": when,
                    "wall": time.monotonic() - wall, "cpu": time.process_time() - cpu,
                    "watch": _watch["seconds"] - watch})


def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("PROFILE_PLUGIN_OUT")
    if not out:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"{worker}-{os.getpid()}.json").write_text(json.dumps(
        {"phases": _phases, "process_cpu": time.process_time(), "watch_calls": _watch["calls"]}))
