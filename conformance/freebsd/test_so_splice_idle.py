"""SO_SPLICE sp_idle: a non-zero sp_idle ends the splice that long after the setsockopt call,
however much data is flowing; {0, 0} sets no timer; the timeval is not validated.

Sources: getsockopt(2) SO_SPLICE ("automatically be unspliced once the specified amount of time
has elapsed since the initial call to setsockopt()"); uipc_socket.c so_splice() (one
taskqueue_enqueue_timeout_sbt(tvtosbt(sp_idle)), precision C_PREL(4) = 1/16 of the interval),
so_splice_timeout(); subr_taskqueue.c (a negative interval is negated). FreeBSD's
splice_limit_timeout sleeps 550 ms and sends nothing after the deadline, so it cannot tell an
absolute timer from an inactivity timer; here a probe byte is sent, and waited for, without pause
from the setsockopt call until one stays behind on the source, which places the unsplice between
two sends and proves traffic flowed right up to it. Bounds: no earlier than sp_idle -
SPLICE_IDLE_EARLY, no later than sp_idle * (1 + 1/16) + SPLICE_IDLE_LATE (conformance/deadlines.py).
Cases: a 0.5 s timer; invalid timevals {-1, 500000} (0.5 s) and {0, 1000000} (1 s); {0, 0}; no
SO_ERROR after the timer.
"""
import errno
import select
import time
from typing import NamedTuple

import pytest

from conformance.abi.so_splice import bytes_spliced, socket_error, unsplice
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL, SPLICE_IDLE_EARLY, SPLICE_IDLE_LATE
from conformance.fixtures.freebsd_splice import Spliced, splice_registered

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

CALLOUT_PRECISION = 1 / 16  # C_PREL(4) in so_splice(): the callout may run this fraction late


class Trickle(NamedTuple):
    forwarded: int                 # probe bytes that reached the reader
    last_forwarded: float | None   # when the last of them was sent, seconds after setsockopt
    stranded: float | None         # when the first byte left on the source was sent (None: none)


def trickle(sp: Spliced, t0: float, until: float) -> Trickle:
    """Send one probe byte at a time, each waited for on the reader or on the source, until one
    stays on the source (the splice is gone) or `until` seconds after t0 have passed."""
    p = select.poll()
    p.register(sp.reader, select.POLLIN)
    p.register(sp.source, select.POLLIN)
    forwarded, last = 0, None
    while (sent := time.monotonic() - t0) < until:
        sp.writer.send(b"p")
        ready = dict(p.poll(ARRIVAL * 1000))
        if sp.reader.fileno() in ready:
            assert sp.reader.recv(16) == b"p", "one probe byte at a time"
            forwarded, last = forwarded + 1, sent
        elif sp.source.fileno() in ready:
            assert sp.source.recv(16) == b"p", "the byte left behind is the probe byte"
            if last is not None and sent - last > SPLICE_IDLE_EARLY / 2:
                raise RuntimeError(f"harness: the probe loop paused {sent - last:.3f}s (more than "
                                   f"{SPLICE_IDLE_EARLY / 2}s) just as the splice ended")
            return Trickle(forwarded, last, sent)
        else:
            raise AssertionError(f"probe byte sent {sent:.3f}s after setsockopt reached neither "
                                 f"the reader nor the source within {ARRIVAL}s")
    return Trickle(forwarded, last, None)


def late_bound(expected: float) -> float:
    return expected * (1 + CALLOUT_PRECISION) + SPLICE_IDLE_LATE


class IdleCase(NamedTuple):
    timeval: tuple[int, int]   # (tv_sec, tv_usec) exactly as passed
    expected: float            # seconds the timer should run
    clause: str

    def param(self):
        sec, usec = self.timeval
        return pytest.param(self, id=f"idle={sec}s+{usec}us", marks=pytest.mark.clause(self.clause))


CASES = [
    IdleCase((0, 500_000), 0.5, "FBSD-SPLICE-IDLE-UNSPLICE"),
    # Negative tv_sec only: a negative tv_usec reaches ustosbt(), which some releases assert on.
    IdleCase((-1, 500_000), 0.5, "FBSD-SPLICE-IDLE-INVALID-ACCEPTED"),
    IdleCase((0, 1_000_000), 1.0, "FBSD-SPLICE-IDLE-INVALID-ACCEPTED"),
]


@pytest.fixture
def pairs(make_tcp_pairs):
    """writer/source and sink/reader connections, not spliced yet: the test times setsockopt."""
    writer, source = make_tcp_pairs()
    sink, reader = make_tcp_pairs()
    return Spliced(writer, source, sink, reader)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
@pytest.mark.clause("FBSD-SPLICE-IDLE-IS-ABSOLUTE")
def test_idle_timer_ends_splice_on_time_despite_traffic(case, pairs, socket_stack):
    """The splice forwards non-stop traffic until sp_idle after setsockopt, then stops."""
    t0 = time.monotonic()
    splice_registered(socket_stack, pairs.source, pairs.sink, idle=case.timeval)
    run = trickle(pairs, t0, late_bound(case.expected))
    assert run.stranded is not None, (
        f"still forwarding {late_bound(case.expected):.3f}s after setsockopt with sp_idle "
        f"{case.timeval} (expected to end at {case.expected}s); {run.forwarded} probe bytes")
    assert run.last_forwarded is not None and \
        run.last_forwarded >= case.expected - SPLICE_IDLE_EARLY, (
            f"unspliced too early: last byte forwarded was sent {run.last_forwarded}s after "
            f"setsockopt, first left behind at {run.stranded:.3f}s; sp_idle {case.timeval} "
            f"should run {case.expected}s")


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-NOT-SPLICED", "FBSD-SPLICE-GET-AFTER-UNSPLICE")
def test_splice_ended_by_timer_is_gone_and_keeps_its_count(pairs, socket_stack):
    """After the timer the socket is not spliced (unsplice: ENOTCONN) and the count is kept."""
    t0 = time.monotonic()
    splice_registered(socket_stack, pairs.source, pairs.sink, idle=0.1)
    run = trickle(pairs, t0, late_bound(0.1))
    assert run.stranded is not None, "the 0.1 s timer never ended the splice"
    expect_errno(lambda: unsplice(pairs.source), errno.ENOTCONN, "unsplice after the timer")
    assert bytes_spliced(pairs.source) == run.forwarded


@pytest.mark.clause("FBSD-SPLICE-IDLE-NO-SOERROR")
def test_idle_timeout_sets_no_error(pairs, socket_stack):
    """The timer unsplices silently: SO_ERROR on the source reads 0."""
    t0 = time.monotonic()
    splice_registered(socket_stack, pairs.source, pairs.sink, idle=0.1)
    assert trickle(pairs, t0, late_bound(0.1)).stranded is not None, "the timer never fired"
    err = socket_error(pairs.source)
    assert err == 0, f"SO_ERROR after the idle timeout: {errno.errorcode.get(err, err)}"


@pytest.mark.clause("FBSD-SPLICE-IDLE-ZERO")
def test_zero_idle_sets_no_timer(pairs, socket_stack):
    """{0, 0}: still forwarding well past the longest timer the other cases use."""
    t0 = time.monotonic()
    splice_registered(socket_stack, pairs.source, pairs.sink, idle=(0, 0))
    run = trickle(pairs, t0, late_bound(0.5))
    assert run.stranded is None, (
        f"sp_idle {{0, 0}} ended the splice: a probe byte sent {run.stranded:.3f}s after "
        f"setsockopt stayed on the source")
