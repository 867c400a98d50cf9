"""MSG_ZEROCOPY ids: which calls take one, and in what order.

Rule (rst "Notifications"): each socket keeps an unsigned 32-bit counter; every send call with
MSG_ZEROCOPY that successfully sends data takes the next value; the counter is not incremented
on failure or for length zero, and counts calls, not bytes. Each test checks the shared
contract: ids 0 .. n-1 for the n successful zerocopy calls, each covered exactly once.
Cases: per-socket counters; one id for a large send; every send call; sendmmsg per message;
zero length (UDP disagrees: strict xfail); mixing with plain sends; EFAULT; EPIPE before
connect; corked UDP.
"""
import errno
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest

from conformance.abi.zerocopy import (
    MSG_ZEROCOPY,
    UDP_CORK,
    enable_zerocopy,
    recv_errqueue,
    send,
    sendmmsg,
    sendmsg,
    sendmsg_at,
    sendto,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL, CONNECT
from conformance.fixtures.sockets import LOOPBACK, recv_exactly
from conformance.fixtures.zerocopy import recv_datagrams

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
PROTOS = ["tcp", pytest.param("udp", marks=UDP)]
def receive(receiver: socket.socket, proto: str, sizes: list[int]) -> None:
    """Read what the sends put on the wire (one datagram per size for UDP)."""
    if proto == "udp":
        assert [len(d) for d in recv_datagrams(receiver, len(sizes))] == sizes
    else:
        assert len(recv_exactly(receiver, sum(sizes), ARRIVAL)) == sum(sizes)


@pytest.mark.clause("LNX-MZC-COUNTER-START0")
@pytest.mark.parametrize("proto", PROTOS)
def test_each_socket_counts_from_zero(zc_pair, notifications, proto):
    """Two sockets sending alternately each number their calls 0, 1, 2 ... on their own."""
    (a, ra), (b, rb) = zc_pair(proto), zc_pair(proto)
    for sender in (a, b, a, b, a):
        assert send(sender, b"s" * 500) == 500
    receive(ra, proto, [500] * 3)
    receive(rb, proto, [500] * 2)
    for sender, calls in ((a, 3), (b, 2)):
        notes = notifications(sender)
        notes.collect(calls)
        assert not notes.problems(calls), notes


@pytest.mark.clause("LNX-MZC-COUNTER-CALLS", "LNX-MZC-TCP")
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_one_large_send_takes_one_id(zc_pair, notifications, family):
    """A 256 KiB TCP send (many segments, more than the socket buffers hold) takes one id."""
    size = 256 * 1024
    sender, receiver = zc_pair("tcp", family)
    with ThreadPoolExecutor(1) as reader:
        received = reader.submit(recv_exactly, receiver, size, ARRIVAL)
        assert send(sender, b"L" * size) == size
        assert received.result(ARRIVAL) == b"L" * size
    notes = notifications(sender)
    notes.collect(1)
    assert not notes.problems(1), notes


class Call(NamedTuple):
    name: str

    def param(self):
        return pytest.param(self, id=self.name)

    def __call__(self, sock: socket.socket, data: bytes) -> int:
        if self.name == "send":
            return send(sock, data)
        if self.name == "sendto":
            return sendto(sock, data, MSG_ZEROCOPY, sock.getpeername())
        if self.name == "sendmsg":
            return sendmsg(sock, [data])
        return len(data) if sendmmsg(sock, [data]) == 1 else -1


@pytest.mark.clause("LNX-MZC-FLAG-VALUE", "LNX-MZC-UDP")
@UDP
@pytest.mark.parametrize("call", [Call(n).param() for n in ("send", "sendto", "sendmsg", "sendmmsg")])
def test_every_send_call_honours_the_flag(zc_pair, notifications, call):
    """MSG_ZEROCOPY (0x4000000) is honoured by send, sendto, sendmsg and sendmmsg: each
    successful call is notified, with id 0 then 1."""
    sender, receiver = zc_pair("udp")
    assert [call(sender, b"f" * 300), call(sender, b"g" * 300)] == [300, 300]
    receive(receiver, "udp", [300, 300])
    notes = notifications(sender)
    notes.collect(2)
    assert not notes.problems(2), notes


@pytest.mark.clause("LNX-MZC-SENDMMSG")
@pytest.mark.parametrize("proto", PROTOS)
def test_sendmmsg_takes_one_id_per_message(zc_pair, notifications, proto):
    """One sendmmsg of three messages returns 3 and takes ids 0, 1 and 2."""
    sender, receiver = zc_pair(proto)
    assert sendmmsg(sender, [b"a" * 100, b"b" * 200, b"c" * 300]) == 3
    receive(receiver, proto, [100, 200, 300])
    notes = notifications(sender)
    notes.collect(3)
    assert not notes.problems(3), notes


@pytest.mark.clause("LNX-MZC-ZEROLEN")
@pytest.mark.parametrize("how", ["empty-buffer", "empty-iovecs"])
@pytest.mark.parametrize("proto", PROTOS)
def test_zero_length_send_takes_no_id(zc_pair, notifications, proto, how):
    """A zero-length zerocopy send returns 0 and takes no id: the next send gets id 0.
    (UDP takes an id on every kernel seen: a known failure, conformance/data/known-failures.toml.)"""
    sender, _ = zc_pair(proto)
    sent = send(sender, b"") if how == "empty-buffer" else sendmsg(sender, [b"", b""])
    assert sent == 0
    assert send(sender, b"n" * 100) == 100
    notes = notifications(sender)
    notes.collect(1)
    notes.until_released()  # an extra id shows up by the time the sender is released
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-ZEROLEN")
@pytest.mark.parametrize("proto", PROTOS)
def test_empty_iovecs_inside_a_send_are_skipped(zc_pair, notifications, proto):
    """Empty iovecs around data are skipped: the peer gets the data, the call takes one id."""
    sender, receiver = zc_pair(proto)
    assert sendmsg(sender, [b"", b"abc", b"", b"def", b""]) == 6
    if proto == "udp":
        assert recv_datagrams(receiver, 1) == [b"abcdef"]
    else:
        assert recv_exactly(receiver, 6, ARRIVAL) == b"abcdef"
    notes = notifications(sender)
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-MIXING")
@pytest.mark.parametrize("proto", PROTOS)
def test_plain_sends_between_zerocopy_sends_take_no_id(zc_pair, notifications, proto):
    """Zerocopy and plain sends mix; only the zerocopy ones take ids (0, 1, 2, then 3)."""
    sender, receiver = zc_pair(proto)
    flags = [MSG_ZEROCOPY, MSG_ZEROCOPY, MSG_ZEROCOPY, 0, MSG_ZEROCOPY, 0]
    for n, flag in enumerate(flags):
        assert send(sender, bytes([65 + n]) * 400, flag) == 400
    receive(receiver, proto, [400] * len(flags))
    notes = notifications(sender)
    notes.collect(4)
    notes.until_released(delivered=True)  # a plain send that took an id is notified by then
    assert not notes.problems(4), notes


@pytest.mark.clause("LNX-MZC-EFAULT")
@pytest.mark.parametrize("proto", PROTOS)
def test_efault_takes_no_id(zc_pair, notifications, unmapped_address, proto):
    """A zerocopy send from an unmapped buffer fails with EFAULT; the next send gets id 0."""
    sender, receiver = zc_pair(proto)
    expect_errno(lambda: sendmsg_at(sender, [(unmapped_address, 1000)]), errno.EFAULT,
                 "sendmsg(MSG_ZEROCOPY) from an unmapped page")
    assert send(sender, b"e" * 1000) == 1000
    receive(receiver, proto, [1000])
    notes = notifications(sender)
    notes.collect(1)
    notes.until_released(delivered=True)  # an id taken by the EFAULT call is notified by then
    assert not notes.problems(1), notes


@pytest.fixture
def unconnected_tcp(socket_stack):
    """(sock, listener): a TCP socket with SO_ZEROCOPY, never connected, and a listener."""
    sock = socket_stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    enable_zerocopy(sock)
    listener = socket_stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind((LOOPBACK[socket.AF_INET], 0))
    listener.listen(1)
    listener.settimeout(CONNECT)
    return sock, listener


@pytest.mark.clause("LNX-MZC-EPIPE-CLOSED")
def test_send_before_connect_fails_with_epipe_and_takes_no_id(unconnected_tcp, socket_stack,
                                                              notifications):
    """A zerocopy send on a never-connected TCP socket fails with EPIPE and queues nothing;
    after connecting, the first zerocopy send gets id 0."""
    sock, listener = unconnected_tcp
    expect_errno(lambda: send(sock, b"x" * 100, MSG_ZEROCOPY | socket.MSG_NOSIGNAL), errno.EPIPE,
                 "send(MSG_ZEROCOPY) before connect")
    with pytest.raises(BlockingIOError):
        recv_errqueue(sock)
    sock.settimeout(CONNECT)
    sock.connect(listener.getsockname())
    sock.settimeout(None)
    peer = socket_stack.enter_context(listener.accept()[0])
    assert send(sock, b"y" * 100) == 100
    assert recv_exactly(peer, 100, ARRIVAL) == b"y" * 100
    notes = notifications(sock)
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-COUNTER-CORK")
@UDP
@pytest.mark.parametrize("how", ["UDP_CORK", "MSG_MORE"])
def test_corked_udp_takes_one_id_per_call(zc_pair, notifications, how):
    """Three zerocopy calls merged into one datagram still take ids 0, 1 and 2."""
    sender, receiver = zc_pair("udp")
    if how == "UDP_CORK":
        sender.setsockopt(socket.IPPROTO_UDP, UDP_CORK, 1)
        sent = [send(sender, b"k" * 100) for _ in range(3)]
        sender.setsockopt(socket.IPPROTO_UDP, UDP_CORK, 0)
    else:
        more = MSG_ZEROCOPY | socket.MSG_MORE
        sent = [send(sender, b"k" * 100, more), send(sender, b"k" * 100, more),
                send(sender, b"k" * 100)]
    assert sent == [100] * 3
    assert recv_datagrams(receiver, 1) == [b"k" * 300]
    notes = notifications(sender)
    notes.collect(3)
    assert not notes.problems(3), notes
