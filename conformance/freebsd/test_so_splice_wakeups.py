"""SO_SPLICE wakeups: data arriving on a spliced source wakes only the splice worker, never the
source's own readers; the unsplice wakes them. A reader asleep in recv(2) on the source even
keeps the splice from forwarding until it returns.

Sources: uipc_sockbuf.c sorwakeup_locked() (SB_SPLICED -> splice_push(), not sowakeup(): no
selwakeup, no sbwait wakeup, no SIGIO); uipc_socket.c so_unsplice() (ends with sorwakeup() of the
source), soreceive_generic() and soreceive_stream() (hold the receive I/O lock while asleep in
sbwait()) and splice_lock_pair() (the worker waits for that lock). Cases: no SIGIO for spliced data, SIGIO from
the unsplice; a poller of the source sleeps through spliced traffic and wakes at the unsplice;
a recv(2) asleep on the source (bounded by SO_RCVTIMEO) stalls the splice until it returns.
"""
import fcntl
import os
import select
import signal
import time

import pytest

from conformance.abi.so_splice import set_receive_timeout, unsplice
from conformance.deadlines import ABSENCE, ARRIVAL
from conformance.fixtures.background import wait_for_wchan
from conformance.fixtures.freebsd_splice_state import (
    fill_until_stuck,
    poll_events,
    shrink_buffers,
)
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

# SO_RCVTIMEO of the reader that sleeps in recv(2) on the spliced source: how long the splice is
# expected to stall. It must outlast finding the sleeping thread with procstat(1) plus the ABSENCE
# window in which the byte must not be forwarded.
STALL = 3.0


@pytest.mark.parametrize("blocked_signals", [{signal.SIGIO}], indirect=True, ids=["SIGIO"])
@pytest.mark.clause("FBSD-SPLICE-NO-WAKEUPS", "FBSD-SPLICE-UNSPLICE-WAKEUP")
def test_no_sigio_for_spliced_data_but_one_from_the_unsplice(spliced_pair, blocked_signals):
    """O_ASYNC on the source: forwarding a byte raises no SIGIO; unsplicing raises one."""
    sp = spliced_pair
    fcntl.fcntl(sp.source, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(sp.source, fcntl.F_SETFL, fcntl.fcntl(sp.source, fcntl.F_GETFL) | os.O_ASYNC)
    sp.writer.sendall(b"q")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"q"
    assert not blocked_signals.take(signal.SIGIO), "SIGIO for data the splice forwarded"
    unsplice(sp.source)
    assert blocked_signals.take(signal.SIGIO), "no SIGIO from the unsplice's wakeup"


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-WAKEUP", "FBSD-SPLICE-NORMAL-AFTER-UNSPLICE")
def test_a_poller_of_the_source_wakes_at_the_unsplice(make_spliced_pair, background):
    """A thread polling the source with bytes waiting on it stays asleep while spliced and
    returns POLLIN as soon as the source is unspliced."""
    sp = make_spliced_pair()
    shrink_buffers(sp)
    fill_until_stuck(sp.writer, sp.source)
    poller = background(lambda: poll_events(sp.source, select.POLLIN, ARRIVAL), "poller")
    asleep = not poller.wait(ABSENCE)
    unsplice(sp.source)
    started = time.monotonic()
    revents = poller.result(ARRIVAL)
    woke_after = time.monotonic() - started
    assert asleep, "the poller returned while the source was still spliced"
    assert revents & select.POLLIN, f"poller revents {revents:#x}, expected POLLIN"
    assert woke_after < ABSENCE, f"the poller woke {woke_after:.3f}s after the unsplice"


@pytest.mark.requires(os="freebsd", feature="PROCSTAT")
@pytest.mark.clause("FBSD-SPLICE-BLOCKED-RECV-STALLS")
def test_a_recv_asleep_on_the_source_stalls_the_splice(spliced_pair, background):
    """recv(2) asleep on the source: a byte sent meanwhile reaches the reader only after that
    recv gives up (SO_RCVTIMEO, EAGAIN); the recv itself never gets it."""
    sp = spliced_pair
    set_receive_timeout(sp.source, STALL)

    def blocked_recv():
        try:
            return sp.source.recv(1)
        except BlockingIOError:
            return None

    reader = background(blocked_recv, "recv on the spliced source")
    if not wait_for_wchan("sbwait"):
        raise RuntimeError("harness: the recv thread never went to sleep in sbwait")
    sp.writer.sendall(b"s")
    forwarded_early = poll_events(sp.reader, select.POLLIN, ABSENCE)
    got = reader.result(STALL + ARRIVAL)
    assert got is None, f"the sleeping recv returned {got!r}: woken by spliced data"
    assert not forwarded_early, "the splice forwarded while a recv slept on the source"
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"s", "byte not forwarded after the recv"
