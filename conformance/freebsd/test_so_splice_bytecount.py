"""SO_SPLICE byte count: getsockopt(SO_SPLICE) returns an off_t, the bytes moved by the socket's
current or most recent splice, kept after the splice ends until the socket is spliced again.

Sources: getsockopt(2) SO_SPLICE ("returns a 64-bit integer containing the number of bytes
transmitted by the most recent splice ... this value is saved and is returned until the socket is
closed or spliced again"); uipc_socket.c sogetopt() case SO_SPLICE (sooptcopyout, the receive I/O
lock, soiolock()); socket_splice.c splice_basic, splice_capsicum. Cases: 0 when never spliced;
8 bytes long and 0 on a pure sink; truncated, not refused, with optlen < 8; kept after each kind
of unsplice; kept after a failed SO_SPLICE, and sp_max still honoured (written as documented: our
reading of so_splice() predicts a reset here); ENOTCONN on a listening socket; readable with
CAP_GETSOCKOPT only. Reset on a new splice is in test_so_splice_limit_bytes.py.

The failed-splice cases test the documented clause and are strict known failures
(conformance/data/known-failures-freebsd.toml): so_splice() sets so->so_splice_sent = 0 before
its SOLISTENING/ENOTCONN/EBUSY checks on the source and before every check on the sink
(sys/kern/uipc_socket.c so_splice(), read at blubskye/freebsd-src@0c964205c6ad, a main
snapshot), and so_splice_xfer() computes the budget as sp->max - so_src->so_splice_sent. What
the code does is FBSD-SPLICE-FAILED-SPLICE-RESETS-COUNT, tested here too; both rest on that
reading only until a FreeBSD kernel runs them.
"""
import errno
import socket
import sys
from collections.abc import Callable
from typing import NamedTuple

import pytest

from conformance.abi.so_splice import (
    CAP_GETSOCKOPT,
    bytes_spliced,
    splice_sockets,
    spliced_count_raw,
    unsplice,
)
from conformance.checks import expect_errno
from conformance.deadlines import ABSENCE, ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_splice import (
    Spliced,
    reset_connection,
    restricted_dup,
)
from conformance.fixtures.freebsd_splice_state import (
    eof_after_the_data_is_acknowledged,
    recv_available,
    wait_released,
    wait_sink_released,
)
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")


@pytest.mark.clause("FBSD-SPLICE-GET-NEVER-SPLICED", "FBSD-SPLICE-OPT-EXISTS")
def test_never_spliced_count_is_zero(make_tcp_pairs):
    """A connected TCP socket that was never spliced reports 0, in an 8-byte off_t."""
    _, sock = make_tcp_pairs()
    raw = spliced_count_raw(sock)
    assert (len(raw), bytes_spliced(sock)) == (8, 0), f"getsockopt(SO_SPLICE) returned {raw.hex()}"


@pytest.mark.clause("FBSD-SPLICE-GET-COUNT")
def test_count_is_an_off_t_and_a_pure_sink_counts_nothing(spliced_pair):
    """One byte through: the source reports 1 (optlen back as 8 from a 16-byte buffer), the sink 0."""
    sp = spliced_pair
    sp.writer.sendall(b"M")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"M"
    raw = spliced_count_raw(sp.source, 16)
    assert len(raw) == 8, f"optlen came back as {len(raw)}, expected 8 (sizeof(off_t))"
    assert int.from_bytes(raw, sys.byteorder, signed=True) == 1
    assert bytes_spliced(sp.sink) == 0, "the sink is not a source: its own count stays 0"


@pytest.mark.clause("FBSD-SPLICE-GET-SHORT-OPTLEN")
@pytest.mark.parametrize("buflen", [1, 4, 7])
def test_short_optlen_truncates_the_count(spliced_pair, buflen):
    """optlen below 8: no error, the first optlen bytes of the off_t, optlen set to that size."""
    sp = spliced_pair
    data = pattern(0x0102)
    sp.writer.sendall(data)
    assert recv_exactly(sp.reader, len(data), ARRIVAL) == data
    full = (0x0102).to_bytes(8, sys.byteorder, signed=True)
    assert spliced_count_raw(sp.source, buflen) == full[:buflen]


def cause_manual(sp: Spliced) -> None:
    unsplice(sp.source)


def cause_eof(sp: Spliced) -> None:
    eof_after_the_data_is_acknowledged(sp)  # the FIN's own wakeup ends it (see the teardown tests)
    assert wait_released(sp.source) is not None, "EOF did not end the splice"


def cause_sink_reset(sp: Spliced) -> None:
    reset_connection(sp.reader)
    assert wait_sink_released(sp.sink), "the reset of the sink's peer did not end the splice"
    sp.writer.sendall(b"x")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"x", "later data was not left on the source"


def cause_max(sp: Spliced) -> None:
    sp.writer.sendall(b"x")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"x", "the byte past sp_max was not left"


class Unsplice(NamedTuple):
    how: str
    max: int
    cause: Callable[[Spliced], None]

    def param(self):
        return pytest.param(self, id=self.how)


UNSPLICES = [Unsplice("sp_fd=-1", 0, cause_manual), Unsplice("sp_max", 3, cause_max),
             Unsplice("eof", 0, cause_eof), Unsplice("sink-peer-reset", 0, cause_sink_reset)]


@pytest.mark.clause("FBSD-SPLICE-GET-AFTER-UNSPLICE")
@pytest.mark.parametrize("end", [u.param() for u in UNSPLICES])
def test_count_is_kept_after_every_kind_of_unsplice(make_spliced_pair, end):
    """Three bytes through, then the splice ends (by hand, sp_max, EOF, sink reset): still 3."""
    sp = make_spliced_pair(max=end.max)
    sp.writer.sendall(b"abc")
    assert recv_exactly(sp.reader, 3, ARRIVAL) == b"abc"
    end.cause(sp)
    assert bytes_spliced(sp.source) == 3, f"count after the splice ended ({end.how})"


def fail_busy(sp: Spliced, other: socket.socket) -> None:
    expect_errno(lambda: splice_sockets(sp.source, other.fileno()), errno.EBUSY,
                 "SO_SPLICE on a source already spliced")


def fail_resplice_unconnected(sp: Spliced, other: socket.socket) -> None:
    unsplice(sp.source)
    expect_errno(lambda: splice_sockets(sp.source, other.fileno()), errno.ENOTCONN,
                 "re-splice to an unconnected sink")


def fail_bad_fd(sp: Spliced, other: int) -> None:
    expect_errno(lambda: splice_sockets(sp.source, other), errno.EBADF,
                 "SO_SPLICE naming a closed descriptor")


class FailedSplice(NamedTuple):
    name: str
    fail: Callable[[Spliced, object], None]
    other_kind: str   # a splice_end kind (fixtures/freebsd_splice.py)
    count_after: int  # what so_splice() leaves in so_splice_sent (the code, not the man page)

    def param(self):
        return pytest.param(self, id=self.name)


# so_splice() zeroes so_splice_sent before the source's state checks: a failure found there or
# later (EBUSY, or the sink's ENOTCONN) resets the count; sosetopt() finds EBADF before calling it.
FAILED_SPLICES = [
    FailedSplice("EBUSY-running-splice", fail_busy, "tcp", 0),
    FailedSplice("ENOTCONN-resplice", fail_resplice_unconnected, "tcp-unconnected", 0),
    FailedSplice("EBADF-before-so_splice", fail_bad_fd, "closed", 3),
]
DOCUMENTED = [f for f in FAILED_SPLICES if f.count_after == 0]


def count_after_failed_splice(sp: Spliced, case: FailedSplice, splice_end) -> int:
    sp.writer.sendall(b"abc")
    assert recv_exactly(sp.reader, 3, ARRIVAL) == b"abc"
    case.fail(sp, splice_end(case.other_kind))
    return bytes_spliced(sp.source)


@pytest.mark.clause("FBSD-SPLICE-FAILED-SPLICE-KEEPS-COUNT")
@pytest.mark.parametrize("case", [c.param() for c in DOCUMENTED])
def test_failed_splice_keeps_the_count(spliced_pair, splice_end, case):
    """A SO_SPLICE that fails is not a new splice: the count of 3 survives it (getsockopt.2)."""
    count = count_after_failed_splice(spliced_pair, case, splice_end)
    assert count == 3, f"count after the failed SO_SPLICE: {count}, expected 3 (kept)"


@pytest.mark.clause("FBSD-SPLICE-FAILED-SPLICE-RESETS-COUNT")
@pytest.mark.parametrize("case", [c.param() for c in FAILED_SPLICES])
def test_failed_splice_resets_the_count_once_so_splice_ran(spliced_pair, splice_end, case):
    """What so_splice() does: 0 after a failure it found itself, 3 after one sosetopt() found."""
    count = count_after_failed_splice(spliced_pair, case, splice_end)
    assert count == case.count_after, (
        f"count after the failed SO_SPLICE ({case.name}): {count}, expected {case.count_after}")


def forwarded_with_max_1000_across_ebusy(sp: Spliced, splice_end) -> bytes:
    """600 bytes through a sp_max 1000 splice, an EBUSY attempt, then 1000 more sent: what else
    reaches the reader."""
    sp.writer.sendall(pattern(600))
    assert recv_exactly(sp.reader, 600, ARRIVAL) == pattern(600)
    fail_busy(sp, splice_end("tcp"))
    sp.writer.sendall(pattern(1000, start=600))
    return recv_available(sp.reader, ABSENCE, ARRIVAL)


@pytest.mark.clause("FBSD-SPLICE-MAX-SURVIVES-FAILED-SPLICE")
def test_max_holds_across_a_failed_splice(make_spliced_pair, splice_end):
    """sp_max 1000: 600 through, an EBUSY attempt, 1000 more sent: only 400 more pass."""
    sp = make_spliced_pair(max=1000)
    more = forwarded_with_max_1000_across_ebusy(sp, splice_end)
    assert len(more) == 400, (f"{600 + len(more)} bytes forwarded in all with sp_max 1000, "
                              f"expected 1000 (the failed call must not extend the limit)")
    assert recv_exactly(sp.source, 600, ARRIVAL) == pattern(600, start=1000)


@pytest.mark.clause("FBSD-SPLICE-FAILED-SPLICE-RESETS-COUNT")
def test_failed_splice_restarts_the_max_budget(make_spliced_pair, splice_end):
    """What so_splice_xfer() does after the reset: the budget is sp_max - so_splice_sent, so all
    1000 bytes sent after the EBUSY pass (1600 in all), and the splice then ends at count 1000."""
    sp = make_spliced_pair(max=1000)
    more = forwarded_with_max_1000_across_ebusy(sp, splice_end)
    assert more == pattern(1000, start=600), f"{len(more)} bytes passed after the EBUSY, not 1000"
    sp.writer.sendall(b"x")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"x", "the splice did not end at its new budget"
    assert bytes_spliced(sp.source) == 1000


@pytest.mark.clause("FBSD-SPLICE-GET-LISTENING")
def test_listening_socket_count_is_enotconn(splice_end):
    """getsockopt(SO_SPLICE) on a listening socket: ENOTCONN."""
    listener = splice_end("tcp-listening")
    expect_errno(lambda: spliced_count_raw(listener), errno.ENOTCONN,
                 "getsockopt(SO_SPLICE) on a listening socket")


@pytest.mark.clause("FBSD-SPLICE-GET-NO-RIGHTS")
def test_count_needs_only_cap_getsockopt(spliced_pair, socket_stack):
    """A descriptor limited to CAP_GETSOCKOPT (no CAP_RECV, no CAP_SEND) reads the count."""
    sp = spliced_pair
    sp.writer.sendall(b"M")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"M"
    limited = restricted_dup(socket_stack, sp.source, CAP_GETSOCKOPT)
    assert bytes_spliced(limited) == 1
