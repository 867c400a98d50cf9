"""MSG_ZEROCOPY on real egress: no copy when nothing local receives the data.

Rule (rst "Deferred copies"): only packets that cannot leave zerocopy are copied; datagrams
leaving through a device with scatter-gather and checksum offload complete with ee_code 0.
On one host the egress is a veth in a private namespace sending to a non-local neighbour (a
static entry with a documentation MAC): the far end drops the frames without delivering them.
Since 6.17 (commit d2527ad3a9e1, "net: preserve MSG_ZEROCOPY with forwarding") the copy
happens only on local IP delivery, so this path - and forwarding by another namespace - stays
zerocopy; before, veth ingress copied. TCP pages are held by the retransmit queue until ACKed.
Cases: UDP over IPv4 and IPv6; UDP GSO of 14000 bytes; forwarded by namespace b; TCP with the
ACK path blackholed, then restored.
"""
import socket

import pytest

from conformance.abi.zerocopy import UDP_SEGMENT, enable_zerocopy, send
from conformance.deadlines import ARRIVAL
from conformance.fixtures.netns import NUD_PERMANENT
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import DOC_MAC

pytestmark = [pytest.mark.requires(os="linux", root=True,
                                   feature=("SO_ZEROCOPY", "netns", "veth"))]

UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
VETH_ZC = pytest.mark.requires(kernel="6.17", because="commit d2527ad3a9e1 (net: preserve "
                               "MSG_ZEROCOPY with forwarding) stopped veth ingress from copying")


@pytest.mark.clause("LNX-MZC-EGRESS-ZC", "LNX-MZC-UDP", "LNX-MZC-COPIED-HINT")
@UDP
@VETH_ZC
@pytest.mark.parametrize("size", [1, 1000, 1400])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_udp_out_of_a_veth_is_not_copied(egress_udp, notifications, family, size):
    """Datagrams to a non-local neighbour out of a veth complete with ee_code 0."""
    sock = egress_udp(family)
    for _ in range(4):
        assert send(sock, b"e" * size) == size
    notes = notifications(sock)
    notes.collect(4)
    assert not notes.problems(4), notes
    assert notes.codes and set(notes.codes) == {0}, notes


@pytest.mark.clause("LNX-MZC-UDP-GSO-ZC")
@UDP
@VETH_ZC
def test_udp_gso_datagram_is_not_copied(egress_udp, notifications):
    """With UDP_SEGMENT 1400 a 14000-byte datagram (ten segments) goes out zerocopy."""
    sock = egress_udp(socket.AF_INET)
    sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 1400)
    assert send(sock, b"G" * 14000) == 14000
    notes = notifications(sock)
    notes.collect(1)
    assert not notes.problems(1), notes
    assert notes.codes == [0], notes


@pytest.mark.clause("LNX-MZC-FORWARD-ZC")
@UDP
@VETH_ZC
def test_datagram_forwarded_by_another_namespace_is_not_copied(forwarded_udp, notifications):
    """Looped into namespace b, forwarded back out, dropped by a: ee_code 0."""
    for _ in range(3):
        assert send(forwarded_udp, b"f" * 1000) == 1000
    notes = notifications(forwarded_udp)
    notes.collect(3)
    assert not notes.problems(3), notes
    assert notes.codes and set(notes.codes) == {0}, notes


@pytest.mark.clause("LNX-MZC-TCP-AFTER-ACK")
def test_tcp_notification_waits_for_the_ack(veth_pair, connected_pair, notifications):
    """While b's ACKs go to a wrong MAC, a's zerocopy send is received by b but not notified;
    once b's neighbour entry for a is right again, the retransmission is ACKed and notified."""
    a, b = veth_pair
    sender, receiver = connected_pair("tcp", socket.AF_INET)
    enable_zerocopy(sender)
    notes = notifications(sender)
    a_addr = a.addrs[socket.AF_INET]
    b.netns.ipr.neigh("replace", dst=a_addr, lladdr=DOC_MAC, ifindex=b.index, state=NUD_PERMANENT)
    assert send(sender, b"k" * 4000) == 4000
    assert recv_exactly(receiver, 4000, ARRIVAL) == b"k" * 4000
    assert notes.quiet() == [], "notified before any ACK could reach the sender"
    b.netns.ipr.neigh("replace", dst=a_addr, lladdr=a.mac, ifindex=b.index, state=NUD_PERMANENT)
    notes.collect(1)
    assert not notes.problems(1), notes
