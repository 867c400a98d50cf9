"""MSG_ZEROCOPY notification format: how a completion reads off the error queue.

Rule (rst "Notification Reception", "Notification Parsing"): completions are queued on the
socket error queue and read with recvmsg(MSG_ERRQUEUE), which returns no payload; one control
message, IP_RECVERR or IPV6_RECVERR by the socket's family, holds a sock_extended_err with
ee_errno 0, ee_origin SO_EE_ORIGIN_ZEROCOPY and the inclusive 32-bit range [ee_info, ee_data],
followed by a zeroed offender address (ip_recv_error / ipv6_recv_error); recvmmsg reads several
queued messages at once (rst "Notification Batching").
Cases: TCP and UDP over IPv4, IPv6 and v4-mapped IPv6; the range of three calls; recvmmsg.
"""
import socket
from collections.abc import Callable
from contextlib import ExitStack
from typing import NamedTuple

import pytest

from conformance.abi.errqueue import (
    IP_RECVERR,
    IPV6_RECVERR,
    OFFENDER_LEN,
    SO_EE_ORIGIN_ZEROCOPY,
    SOCK_EE,
    SOL_IP,
    SOL_IPV6,
)
from conformance.abi.zerocopy import (
    MSG_ERRQUEUE,
    SO_TIMESTAMPING,
    SOF_TIMESTAMPING_OPT_TSONLY,
    SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
    ErrRead,
    enable_zerocopy,
    recv_errqueue,
    recvmmsg_errqueue,
    send,
)
from conformance.deadlines import ARRIVAL, CONNECT
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import recv_datagrams, zc_pair_in

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")


class Kind(NamedTuple):
    proto: str
    family: int
    mapped: bool = False

    @property
    def name(self) -> str:
        v = "6" if self.family == socket.AF_INET6 else "4"
        return f"{self.proto}{v}" + ("-v4mapped" if self.mapped else "")

    def param(self):
        marks = [pytest.mark.requires(feature="UDP_ZEROCOPY")] if self.proto == "udp" else []
        return pytest.param(self, marks=marks, id=self.name)


KINDS = [Kind("tcp", socket.AF_INET), Kind("tcp", socket.AF_INET6),
         Kind("udp", socket.AF_INET), Kind("udp", socket.AF_INET6),
         Kind("tcp", socket.AF_INET6, mapped=True)]
EXPECTED_CMSG = {socket.AF_INET: (SOL_IP, IP_RECVERR), socket.AF_INET6: (SOL_IPV6, IPV6_RECVERR)}


def mapped_tcp_pair(stack: ExitStack) -> tuple[socket.socket, socket.socket]:
    """(client, server): IPv6 sockets connected over ::ffff:127.0.0.1 (IPv4 on the wire)."""
    listener = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
    listener.bind(("::ffff:127.0.0.1", 0))
    listener.listen(1)
    client = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
    client.settimeout(CONNECT)
    client.connect(listener.getsockname()[:2])
    client.settimeout(None)
    listener.settimeout(CONNECT)
    server = stack.enter_context(listener.accept()[0])
    server.settimeout(None)
    enable_zerocopy(client)
    return client, server


@pytest.fixture
def sent(socket_stack: ExitStack) -> Callable[[Kind, int], tuple[socket.socket, socket.socket]]:
    """sent(kind, n) -> (sender, receiver) of that kind after n 1000-byte zerocopy sends, all
    received (for UDP over loopback, so all completed)."""
    def make(kind: Kind, n: int) -> tuple[socket.socket, socket.socket]:
        if kind.mapped:
            sender, receiver = mapped_tcp_pair(socket_stack)
        else:
            sender, receiver = zc_pair_in(socket_stack, kind.proto, kind.family)
        for _ in range(n):
            assert send(sender, b"d" * 1000) == 1000
        if kind.proto == "udp":
            recv_datagrams(receiver, n)
        else:
            recv_exactly(receiver, 1000 * n, ARRIVAL)
        return sender, receiver
    return make


def first_read(sender: socket.socket, notifications) -> ErrRead:
    notes = notifications(sender)
    assert notes.pollerr(ARRIVAL), "no notification was queued"
    return notes.read()


@pytest.mark.clause("LNX-MZC-NOTIF-ERRQUEUE", "LNX-MZC-NOTIF-RECVMSG")
@pytest.mark.parametrize("kind", [k.param() for k in KINDS])
def test_notification_is_an_error_queue_message_without_payload(sent, notifications, kind):
    """Without any RECVERR option, recvmsg(MSG_ERRQUEUE) returns the completion: 0 bytes of
    payload, MSG_ERRQUEUE set in msg_flags."""
    read = first_read(sent(kind, 1)[0], notifications)
    assert read is not None, "POLLERR was reported, yet the error queue read EAGAIN"
    assert (read.length, read.flags & MSG_ERRQUEUE) == (0, MSG_ERRQUEUE), read


@pytest.mark.clause("LNX-MZC-NOTIF-CMSG")
@pytest.mark.parametrize("kind", [k.param() for k in KINDS])
def test_control_message_level_and_type_follow_the_family(sent, notifications, kind):
    """One control message: SOL_IP/IP_RECVERR on IPv4 sockets, SOL_IPV6/IPV6_RECVERR on IPv6
    sockets, v4-mapped traffic included."""
    read = first_read(sent(kind, 1)[0], notifications)
    assert [(level, kind_) for level, kind_, _ in read.ancdata] == [EXPECTED_CMSG[kind.family]]


@pytest.mark.clause("LNX-MZC-NOTIF-CMSGLEN")
@pytest.mark.parametrize("kind", [k.param() for k in KINDS])
def test_control_message_holds_the_error_and_a_zeroed_offender(sent, notifications, kind):
    """The data is sock_extended_err (16 bytes) plus a zero-filled sockaddr: 32 bytes on IPv4,
    44 on IPv6."""
    read = first_read(sent(kind, 1)[0], notifications)
    (err,) = read.recverr
    assert err.length == SOCK_EE.size + OFFENDER_LEN[kind.family] == {socket.AF_INET: 32,
                                                                      socket.AF_INET6: 44}[kind.family]
    assert err.offender == bytes(OFFENDER_LEN[kind.family])


@pytest.mark.clause("LNX-MZC-NOTIF-FIELDS")
@pytest.mark.parametrize("kind", [k.param() for k in KINDS])
def test_extended_error_fields(sent, notifications, kind):
    """ee_errno 0, ee_origin SO_EE_ORIGIN_ZEROCOPY (5); ee_type and ee_pad 0."""
    read = first_read(sent(kind, 1)[0], notifications)
    (err,) = read.recverr
    assert (err.ee.errno, err.ee.origin, err.ee.type, err.ee.pad) == (0, SO_EE_ORIGIN_ZEROCOPY, 0, 0)


@pytest.mark.clause("LNX-MZC-NOTIF-RANGE")
@pytest.mark.parametrize("kind", [k.param() for k in KINDS[:3]])
def test_range_is_inclusive_from_ee_info_to_ee_data(sent, notifications, kind):
    """After three calls the completions read as inclusive ranges [ee_info, ee_data] that
    together cover ids 0, 1 and 2 exactly once."""
    sender, _ = sent(kind, 3)
    notes = notifications(sender)
    notes.collect(3)
    assert sum(r.count for r in notes.ranges) == 3
    assert not notes.problems(3), notes


@pytest.mark.clause("LNX-MZC-NOTIF-RECVMMSG")
@pytest.mark.requires(feature="UDP_ZEROCOPY")
def test_recvmmsg_reads_several_notifications_at_once(sent, notifications):
    """With TX timestamps between them (so they cannot merge), three completions and their
    timestamps are read by one recvmmsg(MSG_ERRQUEUE)."""
    kind = Kind("udp", socket.AF_INET)
    sender, receiver = sent(kind, 0)
    sender.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE
                      | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY)
    for _ in range(3):
        assert send(sender, b"m" * 500) == 500
    recv_datagrams(receiver, 3)  # delivered, so copied and completed: all are queued
    notes = notifications(sender)
    reads = recvmmsg_errqueue(sender, 16)
    notes.reads.extend(reads)
    zerocopy_reads = [r for r in reads if any(e.is_zerocopy for e in r.recverr)]
    assert len(zerocopy_reads) >= 2, f"one recvmmsg returned {reads}"
    notes.collect(3)
    assert not notes.problems(3, others=True), notes
    with pytest.raises(BlockingIOError):
        recv_errqueue(sender)
