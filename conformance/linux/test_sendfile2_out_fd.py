"""sendfile2(SENDFILE_ZC) for each kind of out_fd, on a kernel carrying the RFC "Add ZC
notifications to splice and sendfile" (see test_sendfile2_rfc.py for how the tests are gated:
nothing is called without --sendfile2-nr=N).

From the series' code: do_sendfile() (patch 08) turns SENDFILE_ZC into SPLICE_F_ZC on the
do_splice_direct() path, taken for every out_fd that is not a pipe; do_splice_direct_actor()
(patch 04) then takes the out file's socket, allocates one ubuf_info with msg_zerocopy_realloc()
(an id of the socket's MSG_ZEROCOPY counter), and drops its reference with refcount_dec() when
the splice is done; splice_to_socket_sd() (patch 05) hands the ubuf to sock_sendmsg() with
MSG_ZEROCOPY. Per out_fd kind:
- TCP and connected UDP: zerocopy sendmsg paths that take msg_ubuf (tcp_sendmsg_locked(),
  __ip_append_data()): the data arrives and the call is notified once;
- AF_UNIX stream: a socket, but unix_stream_sendmsg() copies and ignores msg_ubuf: the data
  arrives; AF_UNIX has no zerocopy notifications;
- pipe: splice_file_to_pipe(), the flag is unused (test_sendfile2_rfc.py, LNX-RFC-ZC-PATH);
- regular file and /dev/null: not sockets; the call must not kill its caller.
Every call runs in a forked child (fixture isolated), so a call that kills its process (the
posted series dereferences NULL for a non-socket out_fd) fails its test and not the run, and
the kernel log is watched around it: a warning or oops during the call fails the test.
"""
import errno
import os
import socket

import pytest

from conformance.abi.zerocopy import SENDFILE_ZC, Transfer, sendfile2
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly, unix_pair
from conformance.fixtures.zerocopy import recv_datagrams

pytestmark = [pytest.mark.requires(os="linux"),
              pytest.mark.requires(feature=("SENDFILE2_NR", "SPLICE_F_ZC", "SO_ZEROCOPY"))]

COUNT = 1000   # one datagram, one pipe buffer: one internal sendmsg per call
# A non-socket out_fd cannot give notifications: the call may ignore the flag (as for a pipe)
# or refuse it; the series says neither, review (Hellwig, 19 March 2025) asked for a refusal.
REFUSALS = (errno.EINVAL, errno.EOPNOTSUPP)


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(4 * COUNT), os.O_RDONLY)


def zc_call(isolated, kernel_quiet, nr: int, out_fd: int, in_fd: int):
    """sendfile2(out_fd, in_fd, &0, COUNT, SENDFILE_ZC) in a forked child: (outcome, the
    kernel incidents logged meanwhile)."""
    outcome = isolated(lambda: sendfile2(nr, out_fd, in_fd, 0, COUNT, SENDFILE_ZC))
    return outcome, kernel_quiet.since()


def assert_moved(outcome, incidents) -> None:
    assert outcome.signal is None and outcome.errno is None, (
        f"sendfile2(SENDFILE_ZC) {outcome}; kernel log: {incidents or 'nothing'}")
    assert outcome.value == Transfer(COUNT, COUNT), f"sendfile2 returned {outcome.value}"
    assert incidents == [], f"the kernel logged trouble during the call: {incidents}"


@pytest.mark.parametrize("proto", [
    pytest.param("tcp", marks=pytest.mark.clause("LNX-RFC-OUT-TCP")),
    pytest.param("udp", marks=pytest.mark.clause("LNX-RFC-OUT-UDP"))])
def test_inet_out_fd_is_notified_once(sendfile2_nr, src, zc_pair, notifications, isolated,
                                      kernel_quiet, proto):
    """TCP, or connected UDP (one datagram holding the range): the peer receives the range,
    the call is notified once (id 0), the kernel is quiet."""
    sender, receiver = zc_pair(proto)
    outcome, incidents = zc_call(isolated, kernel_quiet, sendfile2_nr, sender.fileno(), src)
    assert_moved(outcome, incidents)
    if proto == "udp":
        assert recv_datagrams(receiver, 1) == [pattern(COUNT)]
    else:
        assert recv_exactly(receiver, COUNT, ARRIVAL) == pattern(COUNT)
    notes = notifications(sender)
    notes.collect(1)
    assert not notes.problems(1), notes
    assert kernel_quiet.since() == []


@pytest.mark.clause("LNX-RFC-OUT-UNIX")
def test_unix_stream_out_fd_moves_data(sendfile2_nr, src, socket_stack, isolated,
                                       kernel_quiet):
    """AF_UNIX stream: the peer receives the range and the kernel logs nothing (the ubuf the
    call allocates must be released, not leaked with a refcount_t warning)."""
    a, b = unix_pair(socket_stack, socket.SOCK_STREAM)
    outcome, incidents = zc_call(isolated, kernel_quiet, sendfile2_nr, a.fileno(), src)
    assert_moved(outcome, incidents)
    assert recv_exactly(b, COUNT, ARRIVAL) == pattern(COUNT)


@pytest.mark.clause("LNX-RFC-OUT-NONSOCKET")
@pytest.mark.parametrize("kind", ["regular-file", "dev-null"])
def test_non_socket_out_fd_does_not_kill_the_caller(kind, sendfile2_nr, src, make_file,
                                                    open_path, isolated, kernel_quiet):
    """A regular file or /dev/null: the call moves the data (flag ignored, as for a pipe) or
    refuses with EINVAL/EOPNOTSUPP; the caller is not killed and the kernel logs nothing."""
    out = make_file(b"") if kind == "regular-file" else open_path(os.devnull, os.O_WRONLY)
    outcome, incidents = zc_call(isolated, kernel_quiet, sendfile2_nr, out, src)
    assert outcome.signal is None, f"sendfile2(SENDFILE_ZC) to a {kind}: {outcome}; kernel " \
                                   f"log: {incidents or 'nothing'}"
    assert incidents == [], f"the kernel logged trouble during the call: {incidents}"
    if outcome.errno is not None:
        assert outcome.errno in REFUSALS, f"sendfile2 to a {kind} {outcome}"
        return
    assert outcome.value == Transfer(COUNT, COUNT), f"sendfile2 returned {outcome.value}"
    if kind == "regular-file":
        assert os.pread(out, 2 * COUNT, 0) == pattern(COUNT)
