"""pytest plugin of the mutation runs (`-p tests.mutation.inject`), inert unless told by the
environment:

- MUTATION_RECORD=FILE: one JSON line per event: {"pid"} at start, {"start": nodeid} when a test
  begins, and {"nodeid", "outcome", "reason", "message", "duration"} when it ends, flushed at
  once, so a run killed for overrunning still tells which test was running and what had ended.
- MUTATION_TIMEOUTS=FILE: a JSON object {nodeid: seconds}, a pytest-timeout mark for each of
  those tests (tests whose baseline is long get factor x their baseline, not --timeout).
- MUTATION_LIE=NAME, for a lie of mechanism "binding": every error-queue read the suite makes
  (socket.socket.recvmsg with MSG_ERRQUEUE, which recv_errqueue and read_error_queue call, and
  conformance.abi.zerocopy.recvmmsg_errqueue) goes through the lie's Stream for that socket.
  The kernel's answer is read for real and then dropped, repeated, held back, merged or edited:
  the suite sees exactly what a kernel queueing such notifications would give it. Tampering
  with the queue inside the kernel is impractical; this is the layer right above it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import weakref

import pytest

_out = None
_state: dict[str, dict] = {}


def _write(obj: dict) -> None:
    if _out is not None:
        _out.write(json.dumps(obj) + "\n")
        _out.flush()


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip()[:400]


def _outcome(report: pytest.TestReport) -> tuple[str, str] | None:
    """(outcome, reason or message) for a phase that decides the verdict, else None."""
    if hasattr(report, "wasxfail"):
        return ("xfailed", report.wasxfail) if report.skipped else ("xpassed", report.wasxfail)
    if report.failed:
        return ("failed" if report.when == "call" else "error"), _message(report)
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    if report.when == "call":
        return "passed", ""
    return None


def pytest_configure(config: pytest.Config) -> None:
    global _out
    if path := os.environ.get("MUTATION_RECORD"):
        _out = open(path, "a", buffering=1)  # noqa: SIM115 (closed in pytest_unconfigure)
        _write({"pid": os.getpid()})
    if name := os.environ.get("MUTATION_LIE"):
        from .lies import LIES
        lie = LIES[name]
        if lie.stream is not None:
            _Tamper(lie.stream).install()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _out
    if _out is not None:
        _out.close()
        _out = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if path := os.environ.get("MUTATION_TIMEOUTS"):
        with open(path) as f:
            table = json.load(f)
        for item in items:
            if item.nodeid in table:
                item.add_marker(pytest.mark.timeout(table[item.nodeid]))


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _state[nodeid] = {"nodeid": nodeid, "outcome": None, "reason": "", "duration": 0.0}
    _write({"start": nodeid})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    st = _state.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": None,
                                           "reason": "", "duration": 0.0})
    st["duration"] += report.duration
    got = _outcome(report)
    if got and (st["outcome"] in (None, "passed") or got[0] in ("failed", "error")
                and st["outcome"] not in ("failed", "error")):
        st["outcome"], st["reason"] = got
    if report.when == "teardown":
        _write(_state.pop(report.nodeid))


class _Tamper:
    """Routes the suite's error-queue reads through one Stream per socket."""

    def __init__(self, stream_factory) -> None:
        self.factory = stream_factory
        self.streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def stream(self, sock: socket.socket):
        if sock not in self.streams:
            self.streams[sock] = self.factory()
        return self.streams[sock]

    def install(self) -> None:
        from .lies import MSG_ERRQUEUE, Msg
        real_recvmsg = socket.socket.recvmsg
        tamper = self

        def recvmsg(sock, bufsize, ancbufsize=0, flags=0):
            if not flags & MSG_ERRQUEUE:
                return real_recvmsg(sock, bufsize, ancbufsize, flags)

            def pull() -> Msg:
                data, anc, msg_flags, address = real_recvmsg(sock, bufsize, ancbufsize, flags)
                return Msg(anc, lambda a: (data, a, msg_flags, address))

            return tamper.stream(sock).next(pull).result()

        socket.socket.recvmsg = recvmsg
        self._wrap_recvmmsg(Msg)

    def _wrap_recvmmsg(self, msg_cls) -> None:
        from conformance.abi import zerocopy
        from conformance.abi.errqueue import recverr
        real = zerocopy.recvmmsg_errqueue
        tamper = self

        def recvmmsg_errqueue(sock, vlen, *args, **kwargs):
            try:
                got = list(real(sock, vlen, *args, **kwargs))
            except BlockingIOError:  # empty for the kernel; the stream may still hold reads
                got = []

            def pull():
                if not got:
                    raise BlockingIOError(11, "Resource temporarily unavailable")
                read = got.pop(0)
                return msg_cls(read.ancdata, lambda a, r=read: r._replace(ancdata=a,
                                                                          recverr=recverr(a)))

            out = []
            stream = tamper.stream(sock)
            while len(out) < vlen:
                try:
                    out.append(stream.next(pull).result())
                except BlockingIOError:
                    break
            if not out:
                raise BlockingIOError(11, "Resource temporarily unavailable")
            return out

        recvmmsg_errqueue.__wrapped__ = real
        self.real_recvmmsg, self.fake_recvmmsg = real, recvmmsg_errqueue
        zerocopy.recvmmsg_errqueue = recvmmsg_errqueue
        _TAMPERS.append(self)


_TAMPERS: list[_Tamper] = []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Test modules imported recvmmsg_errqueue by name: point those names at the wrapper too."""
    for tamper in _TAMPERS:
        for module in list(sys.modules.values()):
            for attr, value in list(getattr(module, "__dict__", {}).items()):
                if value is tamper.real_recvmmsg:
                    setattr(module, attr, tamper.fake_recvmmsg)
