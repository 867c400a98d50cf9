"""MSG_ZEROCOPY on real egress: no copy when nothing local receives the data.

Rule (rst "Deferred copies"): only packets that cannot leave zerocopy are copied; datagrams
leaving through a device with scatter-gather and checksum offload complete with ee_code 0.
On one host the egress is a device that frees what it transmits (dummy, else ifb: the
sink_link fixture), present on every kernel the suite supports. Over a veth the answer depends
on the release: since 6.17 (commit d2527ad3a9e1, "net: preserve MSG_ZEROCOPY with forwarding")
the copy happens only on local IP delivery, so frames the peer drops or forwards stay zerocopy;
before, the peer's ingress copied them (COPIED). TCP pages are held by the retransmit queue
until ACKed.
Cases: UDP over IPv4 and IPv6 out of the sink device; UDP GSO of 14000 bytes; out of a veth to
a non-local neighbour; forwarded by namespace b; TCP with the ACK path blackholed, then restored.
"""
import socket

import pytest

from conformance.abi.zerocopy import UDP_SEGMENT, enable_zerocopy, send
from conformance.deadlines import ARRIVAL
from conformance.fixtures.netns import NUD_PERMANENT
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy_egress import DOC_MAC, veth_egress_code

pytestmark = [pytest.mark.requires(os="linux", root=True, feature=("SO_ZEROCOPY", "netns"))]

SINK = pytest.mark.requires(feature=("UDP_ZEROCOPY", "sink-device"))
VETH = pytest.mark.requires(feature=("UDP_ZEROCOPY", "veth"))
FAMILIES = pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6],
                                   ids=["ipv4", "ipv6"])


def codes_of(notes, calls: int) -> list[int]:
    notes.collect(calls)
    assert not notes.problems(calls), notes
    return notes.codes


@pytest.mark.clause("LNX-MZC-EGRESS-ZC", "LNX-MZC-UDP", "LNX-MZC-COPIED-HINT")
@SINK
@pytest.mark.parametrize("size", [1, 1000, 1400])
@FAMILIES
def test_udp_out_of_a_device_is_not_copied(sink_udp, notifications, family, size):
    """Datagrams that leave through a device which frees them complete with ee_code 0."""
    sock = sink_udp(family)
    for _ in range(4):
        assert send(sock, b"e" * size) == size
    codes = codes_of(notifications(sock), 4)
    assert codes and set(codes) == {0}, codes


@pytest.mark.clause("LNX-MZC-UDP-GSO-ZC")
@SINK
def test_udp_gso_datagram_is_not_copied(sink_udp, notifications):
    """With UDP_SEGMENT 1400 a 14000-byte datagram (ten segments) goes out zerocopy."""
    sock = sink_udp(socket.AF_INET)
    sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 1400)
    assert send(sock, b"G" * 14000) == 14000
    assert codes_of(notifications(sock), 1) == [0]


@pytest.mark.clause("LNX-MZC-VETH-EGRESS")
@VETH
@FAMILIES
def test_udp_out_of_a_veth_is_copied_only_before_6_17(egress_udp, notifications, family):
    """Datagrams to a non-local neighbour out of a veth, dropped by the peer: ee_code 0 since
    6.17, COPIED before (the peer's ingress copied)."""
    sock = egress_udp(family)
    for _ in range(3):
        assert send(sock, b"v" * 1000) == 1000
    codes = codes_of(notifications(sock), 3)
    assert codes and set(codes) == {veth_egress_code()}, codes


@pytest.mark.clause("LNX-MZC-FORWARD-ZC")
@VETH
def test_datagram_forwarded_by_another_namespace_is_copied_only_before_6_17(forwarded_udp,
                                                                           notifications):
    """Looped into namespace b, forwarded back out, dropped by a: ee_code 0 since 6.17."""
    for _ in range(3):
        assert send(forwarded_udp, b"f" * 1000) == 1000
    codes = codes_of(notifications(forwarded_udp), 3)
    assert codes and set(codes) == {veth_egress_code()}, codes


@pytest.mark.clause("LNX-MZC-TCP-AFTER-ACK")
@pytest.mark.requires(feature="veth")
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
