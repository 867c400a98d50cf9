"""SO_SPLICE readiness: poll(2)/select(2) hide data waiting on a spliced source and hide a
spliced sink's room; kevent(2) hides the source (EVFILT_READ) but not the sink (EVFILT_WRITE).

Sources: uipc_socket.c sopoll_generic() (POLLIN needs soreadabledata() && !isspliced(); POLLOUT
needs sowriteable() && !issplicedback(); the SBS_CANTRCVMORE branch is not gated), filt_soread()
(returns 0 while SB_SPLICED), filt_sowrite() (no splice check); socket_splice.c splice_kevent, which
only checks after the data has been forwarded. Here data is made to wait on the source: the
reader does not read and the sink-side buffers are small, so the chain fills (FIONREAD on the
source > 0 while spliced). Cases: poll, select and EVFILT_READ stay silent with bytes waiting;
poll reports POLLIN for a source at EOF that is still spliced (fixture spliced_at_eof: an EOF
normally dissolves the splice first, and an unspliced socket at EOF would show POLLIN whatever
the splice code did); poll and select never show the sink writable although a write succeeds;
EVFILT_WRITE on the sink fires.
"""
import select
import socket

import pytest

from conformance.abi.so_splice import pending_bytes
from conformance.deadlines import ABSENCE, ARRIVAL
from conformance.fixtures.freebsd_splice_state import (
    fill_until_stuck,
    kevent_wait,
    poll_events,
    shrink_buffers,
)
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")


@pytest.fixture
def stuck(make_spliced_pair):
    """A splice whose sink is full: bytes wait on the source, still spliced. (Spliced, waiting)"""
    sp = make_spliced_pair()
    shrink_buffers(sp)
    fill_until_stuck(sp.writer, sp.source)
    return sp, pending_bytes(sp.source)


@pytest.mark.clause("FBSD-SPLICE-POLL-NO-POLLIN", "FBSD-SPLICE-FIONREAD")
def test_poll_shows_no_pollin_for_bytes_waiting_on_a_spliced_source(stuck):
    """FIONREAD counts unforwarded bytes on the source, yet poll reports no POLLIN."""
    sp, waiting = stuck
    revents = poll_events(sp.source, select.POLLIN | select.POLLRDNORM, ABSENCE)
    assert not revents, f"poll revents {revents:#x} with {waiting} bytes waiting, still spliced"


@pytest.mark.clause("FBSD-SPLICE-POLL-NO-POLLIN")
def test_select_shows_a_spliced_source_unreadable(stuck):
    """select(2) does not list the spliced source as readable while bytes wait on it."""
    sp, waiting = stuck
    readable, _, _ = select.select([sp.source], [], [], ABSENCE)
    assert not readable, f"select: readable with {waiting} bytes waiting, still spliced"


@pytest.mark.clause("FBSD-SPLICE-KEVENT-READ-SILENT")
def test_kevent_read_is_silent_with_bytes_waiting(stuck):
    """EVFILT_READ registered on the spliced source does not fire while bytes wait on it."""
    sp, waiting = stuck
    event = kevent_wait(sp.source, select.KQ_FILTER_READ, ABSENCE)
    assert event is None, f"EVFILT_READ fired ({event}) with {waiting} bytes waiting, still spliced"


@pytest.mark.clause("FBSD-SPLICE-POLL-NO-POLLIN")
def test_poll_reports_pollin_at_eof_while_still_spliced(spliced_at_eof):
    """A source at EOF, nothing left to forward, still spliced: poll reports POLLIN at once
    (sopoll_generic()'s SBS_CANTRCVMORE branch has no isspliced() gate). The fixture's teardown
    proves the splice was still in place when poll looked."""
    revents = poll_events(spliced_at_eof.source, select.POLLIN | select.POLLRDNORM, 0)
    assert revents & select.POLLIN, f"poll revents {revents:#x} for a spliced source at EOF"


@pytest.mark.clause("FBSD-SPLICE-POLL-SINK-NO-POLLOUT", "FBSD-SPLICE-USER-IO-ALLOWED")
def test_poll_and_select_never_show_a_spliced_sink_writable(spliced_pair):
    """The idle sink has room (a non-blocking send succeeds) but poll/select do not say so."""
    sp = spliced_pair
    revents = poll_events(sp.sink, select.POLLOUT | select.POLLWRNORM, ABSENCE)
    _, writable, _ = select.select([], [sp.sink], [], ABSENCE)
    assert sp.sink.send(b"w", socket.MSG_DONTWAIT) == 1, "the sink had no room after all"
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"w"
    assert (revents, writable) == (0, []), (
        f"spliced sink shown writable: poll revents {revents:#x}, select {writable}")


@pytest.mark.clause("FBSD-SPLICE-KEVENT-WRITE-SINK-NOT-SILENT")
def test_kevent_write_fires_on_a_spliced_sink(spliced_pair):
    """EVFILT_WRITE on the spliced sink fires and reports free space (unlike poll)."""
    event = kevent_wait(spliced_pair.sink, select.KQ_FILTER_WRITE, ARRIVAL)
    assert event is not None, f"EVFILT_WRITE did not fire on the spliced sink in {ARRIVAL}s"
    assert event.data > 0, f"EVFILT_WRITE reported {event.data} bytes of room"
