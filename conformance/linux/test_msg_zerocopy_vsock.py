"""MSG_ZEROCOPY over AF_VSOCK (6.7+): the option, notifications and the vsock-specific errors.

Rule (msg_zerocopy.rst AF_VSOCK section; net/vmw_vsock/af_vsock.c): connectible vsock sockets
take SO_ZEROCOPY (values 0 and 1) before a transport is bound; with a transport that supports
it (virtio, vhost, loopback) sends are notified on the error queue with SOL_VSOCK /
VSOCK_RECVERR, and loopback traffic is not copied. tools/testing/vsock/vsock_test_zerocopy.c
adds: an unmapped iovec gives ENOMEM; a stream send larger than the peer's buffer falls back to
a copy, while the same on SOCK_SEQPACKET gives EMSGSIZE; an empty error queue reads EAGAIN.
Everything but the option itself needs the vsock loopback transport (CONFIG_VSOCKETS_LOOPBACK).
Cases: option on unconnected stream and seqpacket sockets; notifications; page-aligned sends
not copied; unmapped iovec; oversize stream and seqpacket sends; empty error queue.
"""
import errno
import mmap
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance.abi.zerocopy import (
    buffer_address,
    recv_errqueue,
    send,
    sendmsg_at,
    set_zerocopy,
    zerocopy_option,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="linux", feature=("SO_ZEROCOPY", "VSOCK"))

# The option itself is not probed (a refusal from 6.7 on fails the SETOPT test and the probe
# answers Broken for the rest); the data path needs it and the loopback transport.
SINCE_6_7 = pytest.mark.requires(kernel="6.7", because="SO_ZEROCOPY on AF_VSOCK arrived with the "
                                 "series 'vsock/virtio: continue MSG_ZEROCOPY support' (6.7)")
LOOPBACK = pytest.mark.requires(feature=("VSOCK_ZEROCOPY", "VSOCK_LOOPBACK"))
KINDS = pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET],
                                ids=["stream", "seqpacket"])
PAGE = mmap.PAGESIZE


@pytest.fixture
def pages():
    """pages(n) -> n page-aligned pages of an anonymous mapping, filled with a pattern."""
    maps = []

    def make(n: int) -> mmap.mmap:
        m = mmap.mmap(-1, n * PAGE)
        maps.append(m)
        m.write(bytes(range(256)) * (n * PAGE // 256))
        return m

    yield make
    for m in maps:
        m.close()


def received(server: socket.socket, kind: int, size: int) -> int:
    if kind == socket.SOCK_SEQPACKET:
        server.settimeout(ARRIVAL)
        try:
            return len(server.recv(size + 1))
        finally:
            server.settimeout(None)
    return len(recv_exactly(server, size, ARRIVAL))


@pytest.mark.clause("LNX-MZC-VSOCK-SETOPT")
@SINCE_6_7
@KINDS
def test_option_is_taken_before_a_transport_is_bound(socket_stack, kind):
    """An unconnected vsock socket accepts SO_ZEROCOPY 1 and 0 and refuses 2 with EINVAL."""
    sock = socket_stack.enter_context(socket.socket(socket.AF_VSOCK, kind))
    set_zerocopy(sock, 1)
    assert zerocopy_option(sock) == 1
    expect_errno(lambda: set_zerocopy(sock, 2), errno.EINVAL, "setsockopt(SO_ZEROCOPY, 2) on vsock")
    set_zerocopy(sock, 0)
    assert zerocopy_option(sock) == 0


@pytest.mark.clause("LNX-MZC-VSOCK-SUPPORT")
@LOOPBACK
@KINDS
def test_vsock_sends_are_notified_at_sol_vsock(vsock_pair, notifications, pages, kind):
    """Three zerocopy sends are notified with SOL_VSOCK/VSOCK_RECVERR, ids 0..2."""
    client, server = vsock_pair(kind)
    for _ in range(3):
        assert send(client, pages(1)) == PAGE
        assert received(server, kind, PAGE) == PAGE
    notes = notifications(client)
    notes.collect(3)
    assert not notes.problems(3), notes


@pytest.mark.clause("LNX-MZC-VSOCK-LOCAL")
@LOOPBACK
def test_vsock_loopback_is_not_copied(vsock_pair, notifications, pages):
    """A page-aligned send of three pages over vsock loopback completes with ee_code 0."""
    client, server = vsock_pair()
    assert send(client, pages(3)) == 3 * PAGE
    assert received(server, socket.SOCK_STREAM, 3 * PAGE) == 3 * PAGE
    notes = notifications(client)
    notes.collect(1)
    assert not notes.problems(1), notes
    assert notes.codes == [0], notes


@pytest.mark.clause("LNX-MZC-VSOCK-ENOMEM")
@LOOPBACK
def test_unmapped_iovec_gives_enomem(vsock_pair, notifications, pages, unmapped_address):
    """An iovec over an unmapped page between two good ones: ENOMEM, no id taken."""
    client, server = vsock_pair()
    start = buffer_address(pages(2))
    expect_errno(lambda: sendmsg_at(client, [(start, PAGE), (unmapped_address, PAGE),
                                             (start + PAGE, PAGE)]),
                 errno.ENOMEM, "vsock sendmsg(MSG_ZEROCOPY) with an unmapped iovec")
    assert send(client, pages(1)) == PAGE
    assert received(server, socket.SOCK_STREAM, PAGE) == PAGE
    notes = notifications(client)
    notes.collect(1)
    notes.quiet()
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-VSOCK-FALLBACK")
@LOOPBACK
def test_stream_send_beyond_the_peer_buffer_is_copied(vsock_pair, notifications, pages):
    """100 pages on a stream (more than the peer's buffer): delivered, notified COPIED."""
    client, server = vsock_pair()
    size = 100 * PAGE
    with ThreadPoolExecutor(1) as reader:
        got = reader.submit(recv_exactly, server, size, ARRIVAL)
        assert send(client, pages(100)) == size
        assert len(got.result(ARRIVAL)) == size
    notes = notifications(client)
    notes.collect(1)
    assert not notes.problems(1), notes
    assert notes.codes == [1], notes


@pytest.mark.clause("LNX-MZC-VSOCK-FALLBACK")
@LOOPBACK
def test_seqpacket_send_beyond_the_peer_buffer_is_emsgsize(vsock_pair, pages):
    """100 pages as one SOCK_SEQPACKET message fail with EMSGSIZE."""
    client, _ = vsock_pair(socket.SOCK_SEQPACKET)
    expect_errno(lambda: send(client, pages(100)), errno.EMSGSIZE,
                 "vsock seqpacket send(MSG_ZEROCOPY) of 100 pages")


@pytest.mark.clause("LNX-MZC-VSOCK-EMPTYERRQ")
@LOOPBACK
def test_empty_error_queue_reads_eagain(vsock_pair):
    """With nothing sent, recvmsg(MSG_ERRQUEUE) fails with EAGAIN."""
    client, _ = vsock_pair()
    expect_errno(lambda: recv_errqueue(client), errno.EAGAIN, "vsock recvmsg(MSG_ERRQUEUE), empty")
