"""MSG_ZEROCOPY coalescing: completions merge into the unread notification at the queue tail.

Rule (rst "Notification Batching"; net/core/skbuff.c skb_zerocopy_notify_extend()): when a
completion's range starts right after the range of the notification at the tail of the error
queue, that notification's ee_data grows instead of a new one being queued; for TCP, which
acknowledges in order, at most one notification is outstanding for a lagging reader.
How "all completed, nothing read" is known without reading: a UDP datagram is copied (and its
completion queued) before it reaches the local receiver, and the sender is pinned to one CPU
so loopback completes in send order; a TCP sender is done once it holds no unacknowledged
segment (wait_acked).
Cases: five unread completions read as one range (TCP, UDP; IPv4, IPv6); after ids 0..2 were
read, five more read as [3, 7]; read one by one, five notifications; TCP with a lagging reader.
"""
import socket

import pytest

from conformance.abi.errqueue import IdRange
from conformance.abi.zerocopy import send
from conformance.deadlines import ARRIVAL
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import recv_datagrams, wait_acked

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
PROTOS = ["tcp", pytest.param("udp", marks=UDP)]
FAMILIES = pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6],
                                   ids=["ipv4", "ipv6"])


def send_unread(sender: socket.socket, receiver: socket.socket, proto: str, n: int) -> None:
    """n zerocopy sends, all received and completed; the error queue is not read."""
    for k in range(n):
        assert send(sender, bytes([48 + k]) * 700) == 700
    if proto == "udp":
        assert len(recv_datagrams(receiver, n)) == n
    else:
        assert len(recv_exactly(receiver, 700 * n, ARRIVAL)) == 700 * n
        wait_acked(sender)


@pytest.mark.clause("LNX-MZC-COALESCE")
@pytest.mark.parametrize("proto", PROTOS)
@FAMILIES
def test_unread_completions_merge_into_one_range(zc_pair, notifications, one_cpu, proto, family):
    """Five completions arriving while nothing is read are read as the single range [0, 4]."""
    sender, receiver = zc_pair(proto, family)
    send_unread(sender, receiver, proto, 5)
    notes = notifications(sender)
    notes.drain()
    assert notes.ranges == [IdRange(0, 4)], notes
    assert not notes.problems(5), notes


@pytest.mark.clause("LNX-MZC-COALESCE")
@pytest.mark.parametrize("proto", PROTOS)
def test_merging_resumes_after_a_read(zc_pair, notifications, one_cpu, proto):
    """After ids 0..2 were read, five more completions are read as [3, 7]."""
    sender, receiver = zc_pair(proto)
    send_unread(sender, receiver, proto, 3)
    notes = notifications(sender)
    notes.drain()
    send_unread(sender, receiver, proto, 5)
    assert [r.range for r in notes.zerocopy] == [IdRange(0, 2)]
    notes.drain()
    assert notes.ranges == [IdRange(0, 2), IdRange(3, 7)], notes
    assert not notes.problems(8), notes


@pytest.mark.clause("LNX-MZC-COALESCE")
@pytest.mark.parametrize("proto", PROTOS)
def test_completions_read_one_by_one_stay_separate(zc_pair, notifications, proto):
    """Each completion read before the next send is its own notification [k, k]."""
    sender, receiver = zc_pair(proto)
    notes = notifications(sender)
    for k in range(5):
        send_unread(sender, receiver, proto, 1)
        assert notes.pollerr(ARRIVAL)
        notes.drain()
    assert notes.ranges == [IdRange(k, k) for k in range(5)], notes
    assert not notes.problems(5), notes


@pytest.mark.clause("LNX-MZC-COALESCE-TCP", "LNX-MZC-TCP")
@FAMILIES
def test_tcp_lagging_reader_finds_one_notification(zc_pair, notifications, family):
    """Twenty TCP zerocopy sends of different sizes, everything acknowledged, nothing read:
    one notification [0, 19]."""
    sender, receiver = zc_pair("tcp", family)
    sizes = [100 * (k % 7 + 1) for k in range(20)]
    for k, size in enumerate(sizes):
        assert send(sender, bytes([65 + k]) * size) == size
    assert len(recv_exactly(receiver, sum(sizes), ARRIVAL)) == sum(sizes)
    wait_acked(sender)
    notes = notifications(sender)
    notes.drain()
    assert notes.ranges == [IdRange(0, 19)], notes
    assert not notes.problems(20), notes
