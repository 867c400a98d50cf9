"""SO_SPLICE unsplice: sp_fd -1 (any negative sp_fd) on the source ends its splice at once; a
socket that is not the source of a running splice answers ENOTCONN (EINVAL when listening).

Sources: getsockopt(2) SO_SPLICE ("If sp_fd is -1, the socket will be unspliced immediately");
uipc_socket.c sosetopt() (sp_fd >= 0 splices, anything else unsplices; sp_max is only checked by
so_splice()) and so_unsplice() (EINVAL when listening, ENOTCONN without SB_SPLICED on the receive
side); socket_splice.c splice_error, splice_listen, splice_capsicum. Cases: sp_fd -1, -2, INT_MIN;
a negative sp_max with sp_fd -1; ENOTCONN for never spliced, unconnected, already unspliced, ended by
sp_max, only a sink (whose splice keeps running); EINVAL for a listening socket; CAP_SETSOCKOPT is
enough; afterwards both sockets are ordinary again.
"""
import errno
import select
import socket
from collections.abc import Callable
from typing import NamedTuple

import pytest

from conformance.abi.so_splice import CAP_SETSOCKOPT, bytes_spliced, unsplice
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL
from conformance.fixtures.freebsd_splice import restricted_dup, splice_registered
from conformance.fixtures.freebsd_splice_state import poll_events, wait_sink_released
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

INT_MIN = -2**31


class NegativeFd(NamedTuple):
    fd: int
    clause: str

    def param(self):
        return pytest.param(self, id=f"sp_fd={self.fd}", marks=pytest.mark.clause(self.clause))


NEGATIVE_FDS = [NegativeFd(-1, "FBSD-SPLICE-UNSPLICE-NEGFD"),
                NegativeFd(-2, "FBSD-SPLICE-UNSPLICE-ANY-NEGATIVE"),
                NegativeFd(INT_MIN, "FBSD-SPLICE-UNSPLICE-ANY-NEGATIVE")]


@pytest.mark.parametrize("case", [c.param() for c in NEGATIVE_FDS])
def test_negative_fd_unsplices_at_once(spliced_pair, case):
    """A negative sp_fd returns 0; the next byte stays on the source; the count is kept."""
    sp = spliced_pair
    sp.writer.sendall(b"a")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"a"
    unsplice(sp.source, case.fd)
    sp.writer.sendall(b"b")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"b", "the byte after the unsplice"
    assert bytes_spliced(sp.source) == 1


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-ANY-NEGATIVE")
def test_unsplice_ignores_a_negative_max(spliced_pair):
    """sp_fd -1 with sp_max -5 still unsplices: the sp_max check belongs to splicing only."""
    unsplice(spliced_pair.source, -1, max=-5)
    expect_errno(lambda: unsplice(spliced_pair.source), errno.ENOTCONN, "second unsplice")


def never_spliced(make_spliced_pair, make_tcp_pairs, splice_end) -> socket.socket:
    return make_tcp_pairs()[1]


def unspliced(make_spliced_pair, make_tcp_pairs, splice_end) -> socket.socket:
    sp = make_spliced_pair()
    unsplice(sp.source)
    return sp.source


def ended_by_max(make_spliced_pair, make_tcp_pairs, splice_end) -> socket.socket:
    sp = make_spliced_pair(max=1)
    sp.writer.sendall(b"x")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"x"
    assert wait_sink_released(sp.sink), "sp_max reached but the splice did not end"
    return sp.source


class NotSpliced(NamedTuple):
    state: str
    make: Callable[..., socket.socket]
    errno: int
    clause: str

    def param(self):
        return pytest.param(self, id=f"{errno.errorcode[self.errno]}-{self.state}",
                            marks=pytest.mark.clause(self.clause))


NOT_SPLICED = [
    NotSpliced("never-spliced", never_spliced, errno.ENOTCONN, "FBSD-SPLICE-UNSPLICE-NOT-SPLICED"),
    NotSpliced("unconnected", lambda m, t, e: e("tcp-unconnected"), errno.ENOTCONN,
               "FBSD-SPLICE-UNSPLICE-NOT-SPLICED"),
    NotSpliced("already-unspliced", unspliced, errno.ENOTCONN, "FBSD-SPLICE-UNSPLICE-NOT-SPLICED"),
    NotSpliced("ended-by-sp_max", ended_by_max, errno.ENOTCONN, "FBSD-SPLICE-UNSPLICE-NOT-SPLICED"),
    NotSpliced("only-a-sink", lambda m, t, e: m().sink, errno.ENOTCONN,
               "FBSD-SPLICE-UNSPLICE-ON-SINK"),
    NotSpliced("listening", lambda m, t, e: e("tcp-listening"), errno.EINVAL,
               "FBSD-SPLICE-UNSPLICE-LISTENING"),
]


@pytest.mark.parametrize("case", [c.param() for c in NOT_SPLICED])
def test_unsplice_of_a_socket_that_is_not_a_source_fails(case, make_spliced_pair, make_tcp_pairs,
                                                         splice_end):
    """Unsplicing a socket that is not the source of a running splice fails with the row's errno."""
    sock = case.make(make_spliced_pair, make_tcp_pairs, splice_end)
    expect_errno(lambda: unsplice(sock), case.errno, f"unsplice of a socket {case.state}")


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-ON-SINK")
def test_unsplice_on_the_sink_leaves_the_splice_running(spliced_pair):
    """After the sink's ENOTCONN, data still flows from the source to the reader."""
    sp = spliced_pair
    expect_errno(lambda: unsplice(sp.sink), errno.ENOTCONN, "unsplice of the sink")
    sp.writer.sendall(b"z")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"z"


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-CAP")
def test_unsplice_needs_only_cap_setsockopt(spliced_pair, socket_stack):
    """A descriptor limited to CAP_SETSOCKOPT unsplices; the next byte stays on the source."""
    sp = spliced_pair
    unsplice(restricted_dup(socket_stack, sp.source, CAP_SETSOCKOPT))
    sp.writer.sendall(b"c")
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"c"


@pytest.mark.clause("FBSD-SPLICE-NORMAL-AFTER-UNSPLICE")
def test_unspliced_sockets_are_ordinary_again(spliced_pair, socket_stack):
    """After an unsplice: the sink polls writable, user writes on it arrive, and the source can
    be spliced again."""
    sp = spliced_pair
    unsplice(sp.source)
    assert poll_events(sp.sink, select.POLLOUT, ARRIVAL) & select.POLLOUT, "sink not writable"
    sp.sink.sendall(b"u")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"u"
    splice_registered(socket_stack, sp.source, sp.sink)
    sp.writer.sendall(b"s")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"s"
    assert bytes_spliced(sp.source) == 1

