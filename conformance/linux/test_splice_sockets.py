"""splice(2) between pipes and sockets: bytes arrive intact, and no zerocopy notification.

- pipe -> socket (fs/splice.c splice_to_socket()) and socket -> pipe (net/socket.c
  sock_splice_read()) deliver the bytes in order, for AF_UNIX stream and TCP over IPv4 and IPv6
  loopback; short counts are allowed, so the tests loop (peer: LTP splice05, AF_UNIX only);
- a pipe -> socket splice on a TCP socket with SO_ZEROCOPY set queues no SO_EE_ORIGIN_ZEROCOPY
  notification (splice_to_socket() attaches no ubuf_info; the unmerged 2025 SPLICE_F_ZC RFC
  would have changed that).
"""
import os
import select
import socket
import struct

import pytest

from conformance.abi.splice import splice
from conformance.abi.zerocopy import enable_zerocopy, read_error_queue
from conformance.checks import transfer_all
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import wait_released

pytestmark = pytest.mark.requires(os="linux")

SIZE = 32 * 1024  # fits in an empty default pipe and in the socket buffers
FAMILIES = {"unix": None, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}


@pytest.fixture(params=list(FAMILIES))
def connected(request, make_unix_pair, make_tcp_pair) -> tuple[socket.socket, socket.socket]:
    """(a, b): a connected stream pair of the param's kind; reads wait at most ARRIVAL."""
    family = FAMILIES[request.param]
    a, b = make_unix_pair() if family is None else make_tcp_pair(family)
    for sock in (a, b):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack("@ll", int(ARRIVAL), 0))
    return a, b


def splice_all(fd_in: int, fd_out: int, size: int) -> None:
    """splice until size bytes have moved (short counts allowed, 0 = unexpected end of input)."""
    transfer_all(lambda done: splice(fd_in, None, fd_out, None, size - done).count, size,
                 "splice between a pipe and a socket")


@pytest.mark.clause("LNX-SP-PIPE-SOCKET")
def test_pipe_to_socket_delivers_bytes_intact(connected, make_pipe):
    """SIZE pattern bytes written into a pipe, spliced into a socket: the peer reads them."""
    a, b = connected
    r, w = make_pipe()
    os.write(w, pattern(SIZE))
    splice_all(r, a.fileno(), SIZE)
    assert recv_exactly(b, SIZE, ARRIVAL) == pattern(SIZE)


@pytest.mark.clause("LNX-SP-PIPE-SOCKET")
def test_socket_to_pipe_delivers_bytes_intact(connected, make_pipe):
    """SIZE pattern bytes sent by the peer, spliced from the socket into a pipe: the pipe holds
    them."""
    a, b = connected
    r, w = make_pipe()
    a.sendall(pattern(SIZE))
    splice_all(b.fileno(), w, SIZE)
    os.close(w)
    assert b"".join(iter(lambda: os.read(r, 65536), b"")) == pattern(SIZE)


@pytest.mark.clause("LNX-SP-NO-ZC-NOTIFICATION")
@pytest.mark.requires(feature="SO_ZEROCOPY")
def test_splice_to_zerocopy_socket_queues_no_notification(make_tcp_pair, make_pipe):
    """After a pipe -> TCP splice on an SO_ZEROCOPY socket and a full read by the peer, the
    sender's error queue stays empty once the sender holds nothing: no POLLERR,
    recvmsg(MSG_ERRQUEUE) EAGAIN."""
    sender, receiver = make_tcp_pair(socket.AF_INET)
    enable_zerocopy(sender)
    r, w = make_pipe()
    os.write(w, pattern(SIZE))
    splice_all(r, sender.fileno(), SIZE)
    assert recv_exactly(receiver, SIZE, ARRIVAL) == pattern(SIZE)
    # The peer has read everything (its skbs are freed) and, once the sender holds no unsent or
    # unACKed byte, the sender's are too: a notification, if the kernel made one, is queued.
    wait_released(sender)
    poller = select.poll()
    poller.register(sender, select.POLLERR)
    assert poller.poll(0) == [], "POLLERR: something was queued on the error queue"
    with pytest.raises(BlockingIOError):
        read_error_queue(sender)
