"""The unmerged RFC "Add ZC notifications to splice and sendfile" (Joe Damato, March 2025): only
on a kernel that carries it.

The series adds SPLICE_F_ZC (0x10) to splice(2)'s accepted flags and a syscall
`sendfile2(out_fd, in_fd, loff_t *offset, size_t count, int flags)` whose SENDFILE_ZC (0x2)
makes a sendfile to a socket queue MSG_ZEROCOPY-style notifications (one id per call, shared
with the socket's MSG_ZEROCOPY counter). It was withdrawn after review; its syscall number 467
is open_tree_attr upstream. So, on purpose:
- every test first needs splice(2) to accept SPLICE_F_ZC (probe SPLICE_F_ZC): an upstream kernel
  answers EINVAL and the tests skip naming the series;
- sendfile2 is called only by the number the user names (--sendfile2-nr=N or
  CONFORMANCE_SENDFILE2_NR=N); without it those tests skip saying so, and nothing is called.
Cases: splice accepts the flag; splice to a socket is not notified; the named number is
sendfile2; range and offset; flags 0 and SENDFILE_DEFAULT; pipe out_fd; one id per call, shared
with sendmsg; no SO_ZEROCOPY needed.
Each out_fd kind (TCP, UDP, AF_UNIX stream, regular file, /dev/null, each call in a forked
child): test_sendfile2_out_fd.py; flag values beyond 0 and SENDFILE_DEFAULT:
test_sendfile2_flags.py.
"""
import os

import pytest

from conformance.abi.splice import splice
from conformance.abi.zerocopy import (
    MSG_ZEROCOPY,
    SENDFILE_DEFAULT,
    SENDFILE_ZC,
    SPLICE_F_ZC,
    send,
    sendfile2,
)
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="linux")

RFC_KERNEL = pytest.mark.requires(feature="SPLICE_F_ZC")
SENDFILE2 = pytest.mark.requires(feature=("SENDFILE2_NR", "SPLICE_F_ZC", "SO_ZEROCOPY"))
SIZE = 48 * 1024


@pytest.fixture
def src(make_file) -> int:
    """A read-only file of SIZE pattern bytes."""
    return make_file(pattern(SIZE), os.O_RDONLY)


def sendfile2_range(nr: int, out_fd: int, in_fd: int, offset: int, count: int,
                    flags: int) -> int:
    """sendfile2 in a loop until [offset, offset + count) is sent; the number of calls."""
    end, calls = offset + count, 0
    while offset < end:
        result = sendfile2(nr, out_fd, in_fd, offset, end - offset, flags)
        assert result.sent > 0, f"sendfile2 returned {result} with {end - offset} bytes left"
        assert result.offset == offset + result.sent, f"*offset not advanced: {result}"
        offset, calls = result.offset, calls + 1
    return calls


@pytest.mark.clause("LNX-RFC-SPLICE-F-ZC")
@RFC_KERNEL
def test_splice_accepts_splice_f_zc(make_pipe, make_file):
    """splice(2) with SPLICE_F_ZC (0x10) moves data instead of failing with EINVAL."""
    r, w = make_pipe()
    out = make_file(b"")
    os.write(w, b"hello")
    assert splice(r, None, out, None, 5, SPLICE_F_ZC).count == 5
    assert os.pread(out, 10, 0) == b"hello"


@pytest.mark.clause("LNX-RFC-SPLICE-SYSCALL-NOOP")
@RFC_KERNEL
@pytest.mark.requires(feature="SO_ZEROCOPY")
def test_splice_f_zc_into_a_socket_is_not_notified(zc_pair, make_pipe, notifications):
    """A pipe-to-socket splice with SPLICE_F_ZC delivers the data and queues no notification."""
    sender, receiver = zc_pair("tcp")
    r, w = make_pipe()
    os.write(w, pattern(4096))
    assert splice(r, None, sender.fileno(), None, 4096, SPLICE_F_ZC).count == 4096
    assert recv_exactly(receiver, 4096, ARRIVAL) == pattern(4096)
    assert notifications(sender).quiet() == []


@pytest.mark.clause("LNX-RFC-SENDFILE2-NR")
@SENDFILE2
def test_named_number_is_sendfile2(sendfile2_nr, src, make_file):
    """The named number copies file to file like sendfile64: 5 bytes from offset 3."""
    out = make_file(b"")
    result = sendfile2(sendfile2_nr, out, src, 3, 5, 0)
    assert result == (5, 8)
    assert os.pread(out, 10, 0) == pattern(5, 3)


@pytest.mark.clause("LNX-RFC-SENDFILE2-SIG")
@SENDFILE2
def test_sendfile2_moves_the_file_range_and_advances_offset(sendfile2_nr, src, zc_pair):
    """With SENDFILE_ZC the peer receives exactly [1000, SIZE) and *offset ends at SIZE."""
    sender, receiver = zc_pair("tcp")
    sendfile2_range(sendfile2_nr, sender.fileno(), src, 1000, SIZE - 1000, SENDFILE_ZC)
    assert recv_exactly(receiver, SIZE - 1000, ARRIVAL) == pattern(SIZE - 1000, 1000)


@pytest.mark.clause("LNX-RFC-SENDFILE-FLAGS")
@SENDFILE2
@pytest.mark.parametrize("flags", [0, SENDFILE_DEFAULT], ids=["flags=0", "SENDFILE_DEFAULT"])
def test_without_sendfile_zc_nothing_is_notified(sendfile2_nr, src, zc_pair, notifications,
                                                 flags):
    """flags 0 or SENDFILE_DEFAULT behave like sendfile64: data moves, no notification."""
    sender, receiver = zc_pair("tcp")
    sendfile2_range(sendfile2_nr, sender.fileno(), src, 0, 8192, flags)
    assert recv_exactly(receiver, 8192, ARRIVAL) == pattern(8192)
    assert notifications(sender).quiet() == []


@pytest.mark.clause("LNX-RFC-ZC-PATH")
@SENDFILE2
def test_sendfile_zc_to_a_pipe_moves_data(sendfile2_nr, src, make_pipe):
    """With a pipe out_fd SENDFILE_ZC has no effect: the call fills the pipe as sendfile does."""
    r, w = make_pipe()
    assert sendfile2(sendfile2_nr, w, src, 0, 4096, SENDFILE_ZC) == (4096, 4096)
    assert os.read(r, 8192) == pattern(4096)


@pytest.mark.clause("LNX-RFC-ONE-ID-PER-CALL", "LNX-RFC-NOTIF-FORMAT")
@SENDFILE2
def test_each_zc_call_takes_one_id_shared_with_sendmsg(sendfile2_nr, src, zc_pair,
                                                       notifications):
    """sendfile2(SENDFILE_ZC) calls and MSG_ZEROCOPY sends on one socket draw ids from one
    counter, one per call; the notifications read like MSG_ZEROCOPY ones."""
    sender, receiver = zc_pair("tcp")
    calls = sendfile2_range(sendfile2_nr, sender.fileno(), src, 0, 16384, SENDFILE_ZC)
    assert send(sender, b"m" * 100, MSG_ZEROCOPY) == 100
    calls += 1 + sendfile2_range(sendfile2_nr, sender.fileno(), src, 16384, 16384, SENDFILE_ZC)
    expected = pattern(16384) + b"m" * 100 + pattern(16384, 16384)
    assert recv_exactly(receiver, len(expected), ARRIVAL) == expected
    notes = notifications(sender)
    notes.collect(calls)
    assert not notes.problems(calls), notes


@pytest.mark.clause("LNX-RFC-SO-ZEROCOPY")
@SENDFILE2
def test_sendfile_zc_needs_no_so_zerocopy(sendfile2_nr, src, zc_pair, notifications):
    """On a socket without SO_ZEROCOPY, sendfile2(SENDFILE_ZC) is still notified."""
    sender, receiver = zc_pair("tcp", zerocopy_on=False)
    calls = sendfile2_range(sendfile2_nr, sender.fileno(), src, 0, 8192, SENDFILE_ZC)
    assert recv_exactly(receiver, 8192, ARRIVAL) == pattern(8192)
    notes = notifications(sender)
    notes.collect(calls)
    assert not notes.problems(calls), notes
