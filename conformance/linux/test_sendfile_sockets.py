"""sendfile(2) with sockets: file data to a TCP peer, a socket read into a pipe, and the
absence of zerocopy notifications.

- the bytes a TCP peer receives are exactly the file range sent;
- since 5.12 (commit b964bf53e540), when out_fd is a pipe, in_fd may be any fd that supports
  splice reads, such as a connected socket (sendfile(2) DESCRIPTION);
- sendfile() to a socket with SO_ZEROCOPY set queues no SO_EE_ORIGIN_ZEROCOPY notification:
  upstream offers no way to learn when the file pages are released (the sendfile2 RFC's motive).
"""
import os
import select
import socket

import pytest

from conformance.abi.sendfile import sendfile
from conformance.abi.zerocopy import enable_zerocopy, read_error_queue
from conformance.checks import transfer_all
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import wait_released

pytestmark = pytest.mark.requires(os="linux")

FILE_SIZE = 100_000


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(FILE_SIZE), os.O_RDONLY)


def send_range(sock: socket.socket, fd: int, offset: int, count: int) -> None:
    """sendfile() in a loop until [offset, offset + count) is sent (short counts allowed, a 0
    return fails at once)."""
    transfer_all(lambda done: sendfile(sock.fileno(), fd, offset + done, count - done).sent,
                 count, "sendfile to a TCP socket")


@pytest.mark.clause("LNX-SF-TCP-DATA")
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_tcp_peer_receives_the_file_range(src, make_tcp_pair, family):
    """The peer reads exactly the bytes of [offset, offset + count) of the file."""
    sender, receiver = make_tcp_pair(family)
    offset, count = 1000, 32 * 1024
    send_range(sender, src, offset, count)
    assert recv_exactly(receiver, count, ARRIVAL) == pattern(count, offset)


@pytest.mark.clause("LNX-SF-OUT-PIPE-IN-ANY")
@pytest.mark.requires(kernel="5.12", because="commit b964bf53e540 lets any splice-readable "
                      "in_fd feed a pipe")
def test_socket_in_fd_feeds_a_pipe(make_unix_pair, make_pipe):
    """out_fd a pipe, in_fd a connected socket holding 5 bytes: all 5 move into the pipe."""
    a, b = make_unix_pair()
    r, w = make_pipe()
    a.sendall(b"hello")
    assert sendfile(w, b.fileno(), None, 5).sent == 5
    assert os.read(r, 16) == b"hello"


@pytest.mark.clause("LNX-SF-NO-ZC-NOTIFICATION")
@pytest.mark.requires(feature="SO_ZEROCOPY")
def test_sendfile_queues_no_zerocopy_notification(src, make_tcp_pair):
    """After sendfile() on an SO_ZEROCOPY socket and a full read by the peer, the sender's error
    queue stays empty once the sender holds nothing: no POLLERR, recvmsg(MSG_ERRQUEUE) EAGAIN."""
    sender, receiver = make_tcp_pair(socket.AF_INET)
    enable_zerocopy(sender)
    send_range(sender, src, 0, 32 * 1024)
    assert recv_exactly(receiver, 32 * 1024, ARRIVAL) == pattern(32 * 1024)
    # The peer has read everything (its skbs are freed) and, once the sender holds no unsent or
    # unACKed byte, the sender's are too: a notification, if the kernel made one, is queued.
    wait_released(sender)
    poller = select.poll()
    poller.register(sender, select.POLLERR)
    assert poller.poll(0) == [], "POLLERR: something was queued on the error queue"
    with pytest.raises(BlockingIOError):
        read_error_queue(sender)
