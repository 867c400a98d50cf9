"""MSG_ZEROCOPY and the error queue: reading it, waiting for it, and what it does not disturb.

Rule (rst "Notification Reception"): reading the error queue is always non-blocking; poll()
reports POLLERR while a notification is queued, even with events 0; notifications have a zero
error code so send and recv are not blocked. Source and peers add: epoll EPOLLET and
EPOLLONESHOT report one EPOLLERR per new completion (packetdrill tcp_zerocopy_epoll_*), and a
control buffer too small for the notification (MSG_CTRUNC) loses it (ip_recv_error dequeues
first).
Cases: non-blocking read on a blocking socket; POLLERR set and cleared; epoll edge, exclusive
and one-shot; SO_ERROR and data flow with notifications pending; MSG_CTRUNC.
"""
import errno
import select
import socket
import struct
import time
from typing import NamedTuple

import pytest

from conformance.abi.zerocopy import recv_errqueue, send
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL, ERRQUEUE_IMMEDIATE
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import SETTLE, is_tcp, recv_datagrams, wait_released

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
PROTOS = ["tcp", pytest.param("udp", marks=UDP)]
EPOLLEXCLUSIVE = 1 << 28  # include/uapi/linux/eventpoll.h (select.EPOLLEXCLUSIVE: Python 3.6+)


def deliver(receiver: socket.socket, proto: str, size: int) -> None:
    if proto == "udp":
        assert [len(d) for d in recv_datagrams(receiver, 1)] == [size]
    else:
        assert len(recv_exactly(receiver, size, ARRIVAL)) == size


@pytest.mark.clause("LNX-MZC-ERRQ-NONBLOCK")
@pytest.mark.parametrize("proto", PROTOS)
def test_empty_error_queue_read_never_blocks(zc_pair, proto):
    """On a blocking socket whose SO_RCVTIMEO is ARRIVAL, recvmsg(MSG_ERRQUEUE) without
    MSG_DONTWAIT on an empty queue fails with EAGAIN within ERRQUEUE_IMMEDIATE."""
    sender, _ = zc_pair(proto)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(ARRIVAL), 0))
    start = time.monotonic()
    expect_errno(lambda: recv_errqueue(sender, dontwait=False), errno.EAGAIN,
                 "recvmsg(MSG_ERRQUEUE) on an empty queue, blocking socket")
    took = time.monotonic() - start
    assert took < ERRQUEUE_IMMEDIATE, f"the read waited {took:.3f} s"


@pytest.mark.clause("LNX-MZC-POLLERR")
@pytest.mark.parametrize("proto", PROTOS)
def test_pollerr_is_reported_with_events_zero_until_read(zc_pair, notifications, proto):
    """poll(events=0) reports POLLERR once the notification is queued; after the queue is read
    empty it reports nothing."""
    sender, receiver = zc_pair(proto)
    assert send(sender, b"p" * 1000) == 1000
    deliver(receiver, proto, 1000)
    poller = select.poll()
    poller.register(sender, 0)
    assert poller.poll(ARRIVAL * 1000) == [(sender.fileno(), select.POLLERR)]
    notes = notifications(sender)
    notes.collect(1)
    assert poller.poll(0) == [], "POLLERR still reported after the error queue was read"
    assert not notes.problems(1), notes


class Arming(NamedTuple):
    name: str
    flags: int
    oneshot: bool

    def param(self):
        return pytest.param(self, id=self.name)


ARMINGS = [Arming("EPOLLET", select.EPOLLET, False),
           Arming("EPOLLET|EPOLLEXCLUSIVE", select.EPOLLET | EPOLLEXCLUSIVE, False),
           Arming("EPOLLONESHOT", select.EPOLLONESHOT, True)]


def after_release(sender: socket.socket) -> float:
    """How long an epoll must still watch for a completion, once the peer has read the data:
    a TCP sender is waited for until every byte is ACKed and every skb freed (wait_released),
    after which no completion can come; a UDP datagram's pages were copied, and its notification
    queued, before the peer could read it (Notifications.until_released), SETTLE covering a free
    still under way on another CPU."""
    if is_tcp(sender):
        wait_released(sender)
        return 0
    return SETTLE


@pytest.mark.clause("LNX-MZC-EPOLLERR-EDGE")
@pytest.mark.parametrize("arming", [a.param() for a in ARMINGS])
@pytest.mark.parametrize("proto", PROTOS)
def test_epoll_reports_each_new_completion_once(zc_pair, notifications, proto, arming):
    """One EPOLLERR per completion, none while nothing new arrives; a completion merged into
    the unread notification is new (EPOLLET); EPOLLONESHOT stays quiet until EPOLL_CTL_MOD."""
    sender, receiver = zc_pair(proto)
    with select.epoll() as ep:
        ep.register(sender, select.EPOLLERR | arming.flags)
        assert send(sender, b"1" * 1000) == 1000
        deliver(receiver, proto, 1000)
        assert ep.poll(ARRIVAL) == [(sender.fileno(), select.EPOLLERR)]
        assert ep.poll(after_release(sender)) == [], "reported again with no new completion"
        assert send(sender, b"2" * 1000) == 1000
        deliver(receiver, proto, 1000)
        if arming.oneshot:
            assert ep.poll(after_release(sender)) == [], \
                "EPOLLONESHOT reported before being re-armed"
            ep.modify(sender, select.EPOLLERR | arming.flags)
        assert ep.poll(ARRIVAL) == [(sender.fileno(), select.EPOLLERR)]
    notes = notifications(sender)
    notes.collect(2)
    assert not notes.problems(2), notes


@pytest.mark.clause("LNX-MZC-NO-SOERROR")
@pytest.mark.parametrize("proto", PROTOS)
def test_pending_notifications_block_nothing(zc_pair, notifications, proto):
    """With a notification queued, SO_ERROR is 0 and the socket still sends and receives."""
    sender, receiver = zc_pair(proto)
    assert send(sender, b"z" * 1000) == 1000
    deliver(receiver, proto, 1000)
    notes = notifications(sender)
    assert notes.pollerr(ARRIVAL)
    assert sender.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    assert send(sender, b"plain", 0) == 5
    deliver(receiver, proto, 5)
    receiver.send(b"back")
    deliver(sender, proto, 4)
    assert sender.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-CTRUNC-LOSES")
@pytest.mark.parametrize("proto", PROTOS)
def test_truncated_control_loses_the_notification(zc_pair, notifications, proto):
    """A read without room for the control message sets MSG_CTRUNC and dequeues the
    notification anyway: the next read is EAGAIN, and later ids go on from 1."""
    sender, receiver = zc_pair(proto)
    assert send(sender, b"t" * 1000) == 1000
    deliver(receiver, proto, 1000)
    notes = notifications(sender)
    assert notes.pollerr(ARRIVAL)
    cut = recv_errqueue(sender, ancbufsize=0)
    assert cut.flags & socket.MSG_CTRUNC and cut.ancdata == [], cut
    with pytest.raises(BlockingIOError):
        recv_errqueue(sender)
    assert send(sender, b"u" * 1000) == 1000
    deliver(receiver, proto, 1000)
    notes.collect(1, first=1)
    assert not notes.problems(1, first=1), notes
