"""SO_SPLICE teardown: EOF, resets, close(2) and shutdown(2) end a splice without passing the
event on; the other socket becomes ordinary again.

Sources: uipc_socket.c so_splice_xfer_data() (nothing to move and SBS_CANTRCVMORE on the source,
or SBS_CANTSENDMORE on the sink, is an internal EPIPE), so_splice_xfer() (any error unsplices),
so_unsplice() (never shuts the sink down, copies no error); getsockopt(2) SO_SPLICE for the data
promise. FreeBSD's own tests cover none of this. Cases: EOF forwards the data, sends no FIN on,
leaves the source at EOF with SO_ERROR 0; EOF while the sink is full (no byte lost or duplicated,
whether or not the splice drains first); reset by the sink's peer; reset of the source; close of
the source or of the sink; SHUT_RD on the source; a half-closed sink; a source already at EOF.

Timing: a wakeup that reaches a splice while it is not SPLICE_IDLE is dropped
(so_splice_dispatch()), and a transfer re-queues itself only while data and room remain
(so_splice_xfer()), so an EOF that arrives during a transfer is acted on only at the next wakeup
(FBSD-SPLICE-EOF-DURING-TRANSFER). The EOF test therefore sends its FIN only once the forwarded
data has been acknowledged; the already-at-EOF test depends on the reader's delayed ACK by design,
and says so when it fails.
"""
import errno
import select
import socket
import time

import pytest

from conformance.abi.so_splice import (
    bytes_spliced,
    pending_bytes,
    socket_error,
    unsent_bytes,
    unsplice,
)
from conformance.checks import expect_errno
from conformance.deadlines import ABSENCE, ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_splice import (
    Spliced,
    reset_connection,
    splice_registered,
)
from conformance.fixtures.freebsd_splice_state import (
    eof_after_the_data_is_acknowledged,
    fill_until_stuck,
    poll_events,
    recv_available,
    recv_until_eof,
    shrink_buffers,
    wait_acknowledged,
    wait_eof,
    wait_readable,
    wait_released,
    wait_sink_released,
)
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

# Bytes written before the EOF in the backpressure case: more than the shrunken sink side holds
# (2 x 8 KiB plus what is in flight), less than the source's receive buffer (SOURCE_RCVBUF).
BACKLOG = 48 * 1024
SOURCE_RCVBUF = 128 * 1024


@pytest.mark.clause("FBSD-SPLICE-EOF-UNSPLICES-NO-SHUTDOWN", "FBSD-SPLICE-GET-AFTER-UNSPLICE")
def test_eof_ends_the_splice_without_a_fin_to_the_reader(spliced_pair):
    """'abc' is forwarded and acknowledged, then EOF: the splice ends, the reader gets no EOF,
    the source reads EOF, SO_ERROR 0, count 3."""
    sp = spliced_pair
    sp.writer.sendall(b"abc")
    assert recv_exactly(sp.reader, 3, ARRIVAL) == b"abc"
    eof_after_the_data_is_acknowledged(sp)
    assert wait_released(sp.source) is not None, (
        f"the splice outlived EOF by {ARRIVAL}s (nothing was in flight: the FIN's own wakeup "
        f"should have ended it)")
    assert sp.source.recv(16) == b"", "the source should read EOF"
    assert not poll_events(sp.reader, select.POLLIN, ABSENCE), "EOF (FIN) passed on to the reader"
    assert (socket_error(sp.source), bytes_spliced(sp.source)) == (0, 3)
    expect_errno(lambda: unsplice(sp.source), errno.ENOTCONN, "unsplice after EOF")


def read_while_spliced(sp: Spliced) -> bytes:
    """Read the reader until the splice has let go of the source (EVFILT_READ fires on it only
    once unspliced). If the EOF's wakeup was dropped during a transfer the splice keeps
    forwarding as the reader makes room, and ends at the first transfer that finds nothing to
    move; if not, it has ended already and nothing is read here."""
    got = b""
    end = time.monotonic() + 3 * ARRIVAL
    while time.monotonic() < end:
        if wait_released(sp.source, ABSENCE) is not None:
            return got
        got += recv_available(sp.reader, ABSENCE, ARRIVAL)
    raise TimeoutError(f"the splice outlived EOF by {3 * ARRIVAL}s "
                       f"({len(got)} bytes read meanwhile, count {bytes_spliced(sp.source)})")


@pytest.mark.clause("FBSD-SPLICE-EOF-UNDER-BACKPRESSURE", "FBSD-SPLICE-GET-AFTER-UNSPLICE")
def test_eof_while_the_sink_is_full_loses_and_duplicates_nothing(spliced_pair):
    """48 KiB then EOF while the reader reads nothing: once the splice has ended, the reader gets
    exactly the count's worth, a prefix of the stream, and the source holds the rest, then EOF."""
    sp = spliced_pair
    shrink_buffers(sp)
    sp.source.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOURCE_RCVBUF)
    sp.writer.sendall(pattern(BACKLOG))
    sp.writer.shutdown(socket.SHUT_WR)
    assert wait_readable(sp.source), "setup: the EOF never reached the source"
    early = read_while_spliced(sp)
    count = bytes_spliced(sp.source)
    got = early + recv_exactly(sp.reader, count - len(early), ARRIVAL)
    left = recv_until_eof(sp.source)
    assert (len(got), len(left)) == (count, BACKLOG - count), (
        f"count {count}, reader got {len(got)}, source held {len(left)}: "
        f"{len(got) + len(left) - BACKLOG:+d} bytes against the {BACKLOG} sent")
    assert got + left == pattern(BACKLOG), "bytes reordered, changed or duplicated"
    assert not poll_events(sp.reader, select.POLLIN, ABSENCE), "more bytes reached the reader"


@pytest.mark.clause("FBSD-SPLICE-SINK-PEER-CLOSED")
def test_reset_by_the_readers_side_leaves_later_data_on_the_source(spliced_pair):
    """The reader resets: the splice lets go of the sink, the next byte stays on the source, and
    the source has no error."""
    sp = spliced_pair
    reset_connection(sp.reader)
    assert wait_sink_released(sp.sink), "the splice outlived the reset of the sink's peer"
    sp.writer.sendall(b"x")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"x"
    err = socket_error(sp.source)
    assert err == 0, f"SO_ERROR on the source: {errno.errorcode.get(err, err)}"


@pytest.mark.clause("FBSD-SPLICE-SRC-RESET")
def test_reset_of_the_source_ends_the_splice_and_keeps_its_error(spliced_pair):
    """The writer resets: the splice ends and the source still holds ECONNRESET."""
    sp = spliced_pair
    reset_connection(sp.writer)
    assert wait_released(sp.source) is not None, "the splice outlived the reset of the source"
    err = socket_error(sp.source)
    assert err == errno.ECONNRESET, f"SO_ERROR on the source: {errno.errorcode.get(err, err)}"


@pytest.mark.clause("FBSD-SPLICE-CLOSE-WHILE-SPLICED")
def test_closing_the_source_frees_the_sink(spliced_pair):
    """close() of the spliced source returns; the sink is writable again and its writes arrive."""
    sp = spliced_pair
    sp.source.close()
    assert wait_sink_released(sp.sink), "the sink stayed spliced after its source was closed"
    sp.sink.sendall(b"w")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"w"


@pytest.mark.clause("FBSD-SPLICE-CLOSE-WHILE-SPLICED")
def test_closing_the_sink_leaves_the_data_on_the_source(spliced_pair):
    """close() of a full sink returns; the bytes waiting on the source become readable there."""
    sp = spliced_pair
    shrink_buffers(sp)
    fill_until_stuck(sp.writer, sp.source)
    sp.sink.close()
    assert wait_released(sp.source) is not None, "the source stayed spliced after its sink closed"
    assert pending_bytes(sp.source) > 0 and sp.source.recv(65536), "no data left on the source"


@pytest.mark.clause("FBSD-SPLICE-SHUT-RD-SOURCE")
def test_shut_rd_on_the_source_ends_the_splice(spliced_pair):
    """shutdown(SHUT_RD) of the source: the sink is let go and the source is no longer spliced."""
    sp = spliced_pair
    sp.source.shutdown(socket.SHUT_RD)
    assert wait_sink_released(sp.sink), "the splice outlived SHUT_RD on its source"
    expect_errno(lambda: unsplice(sp.source), errno.ENOTCONN, "unsplice after SHUT_RD")


@pytest.mark.clause("FBSD-SPLICE-SINK-HALF-CLOSED")
def test_splice_to_a_half_closed_sink_ends_within_the_call(make_tcp_pairs, socket_stack):
    """The sink was shut down for writing: SO_SPLICE returns 0 yet nothing is left spliced."""
    _, source = make_tcp_pairs()
    sink, _ = make_tcp_pairs()
    sink.shutdown(socket.SHUT_WR)
    splice_registered(socket_stack, source, sink)
    expect_errno(lambda: unsplice(source), errno.ENOTCONN, "unsplice right after the splice")


@pytest.mark.clause("FBSD-SPLICE-SRC-ALREADY-EOF")
def test_splicing_a_source_at_eof_forwards_its_data_then_ends(make_tcp_pairs, socket_stack):
    """'abc' and a FIN already on the source: the splice forwards 'abc', then dissolves (at the
    wakeup of the reader's ACK) and the source reads EOF."""
    writer, source = make_tcp_pairs()
    sink, reader = make_tcp_pairs()
    writer.sendall(b"abc")
    writer.shutdown(socket.SHUT_WR)
    assert wait_eof(source), "setup: the FIN never reached the source"
    splice_registered(socket_stack, source, sink)
    assert recv_exactly(reader, 3, ARRIVAL) == b"abc"
    acked = wait_acknowledged(sink)
    assert wait_released(source) is not None, (
        "the splice of a source at EOF never ended; the reader's ACK "
        + ("came (FIONWRITE 0): its wakeup was dropped, so it reached the splice while the "
           "setsockopt's own transfer still ran (see FBSD-SPLICE-EOF-DURING-TRANSFER)" if acked
           else f"never came ({unsent_bytes(sink)} bytes unacknowledged on the sink)"))
    assert source.recv(16) == b""
    assert bytes_spliced(source) == 3
