"""MSG_ZEROCOPY deferred copies: when a notification carries SO_EE_CODE_ZEROCOPY_COPIED.

Rule (rst "Deferred copies", "Implementation/Loopback"): MSG_ZEROCOPY is a hint; when the
kernel had to copy it sets SO_EE_CODE_ZEROCOPY_COPIED (1) in ee_code. Packets looped to a local
socket, to a packet socket (tcpdump) or to a tun device are copied; so are UDP datagrams sent
without checksum offload (over the MTU without UDP_SEGMENT, corked) or through a device without
scatter-gather (net/ipv4/ip_output.c __ip_append_data()).
Each egress case contrasts with the same socket's ee_code 0 on a plain send out of a device
that frees what it transmits (dummy or ifb: sink_link), on any kernel.
Cases: TCP/UDP over IPv4/IPv6 loopback; UDP and TCP across a veth into another namespace; a
packet tap; over-MTU UDP; UDP_CORK and MSG_MORE; scatter-gather off; a tun device.
"""
import socket

import pytest

from conformance.abi.errqueue import SO_EE_CODE_ZEROCOPY_COPIED
from conformance.abi.zerocopy import (
    MSG_ZEROCOPY,
    UDP_CORK,
    enable_zerocopy,
    send,
    set_scatter_gather,
)
from conformance.deadlines import ARRIVAL
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import recv_datagrams
from conformance.fixtures.zerocopy_egress import TUN_PEER

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
NETNS = pytest.mark.requires(root=True, feature=("netns", "veth", "UDP_ZEROCOPY"))
SINK = pytest.mark.requires(root=True, feature=("netns", "sink-device", "UDP_ZEROCOPY"))
FAMILIES = pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6],
                                   ids=["ipv4", "ipv6"])
COPIED = SO_EE_CODE_ZEROCOPY_COPIED


def codes_after(notes, calls: int) -> list[int]:
    """The ee_code of each notification once calls completions are in; the contract holds."""
    notes.collect(calls)
    assert not notes.problems(calls), notes
    return notes.codes


@pytest.mark.clause("LNX-MZC-LOOPBACK-COPIED", "LNX-MZC-COPIED-VALUE", "LNX-MZC-COPIED-HINT")
@pytest.mark.parametrize("proto", ["tcp", pytest.param("udp", marks=UDP)])
@FAMILIES
def test_loopback_delivery_is_copied(zc_pair, notifications, proto, family):
    """Sends looped to a local socket over lo complete with SO_EE_CODE_ZEROCOPY_COPIED (1)."""
    sender, receiver = zc_pair(proto, family)
    for _ in range(3):
        assert send(sender, b"l" * 2000) == 2000
    if proto == "udp":
        recv_datagrams(receiver, 3)
    else:
        recv_exactly(receiver, 6000, ARRIVAL)
    codes = codes_after(notifications(sender), 3)
    assert codes and all(c == COPIED for c in codes), codes


@pytest.mark.clause("LNX-MZC-LOOPBACK-COPIED")
@NETNS
@pytest.mark.parametrize("proto", ["tcp", "udp"])
@FAMILIES
def test_delivery_into_another_namespace_is_copied(connected_pair, notifications, proto, family):
    """Sends across a veth to a socket in another local namespace are copied too."""
    sender, receiver = connected_pair(proto, family)
    enable_zerocopy(sender)
    assert send(sender, b"v" * 1000) == 1000
    if proto == "udp":
        recv_datagrams(receiver, 1)
    else:
        recv_exactly(receiver, 1000, ARRIVAL)
    assert codes_after(notifications(sender), 1) == [COPIED]


@pytest.mark.clause("LNX-MZC-TAP-COPIED")
@SINK
def test_packet_tap_on_the_egress_device_forces_a_copy(sink_link, sink_udp, packet_tap,
                                                       notifications):
    """Zerocopy out of the device (ee_code 0) turns COPIED once an AF_PACKET socket listens on
    it."""
    sock = sink_udp(socket.AF_INET)
    notes = notifications(sock)
    assert send(sock, b"a" * 1000) == 1000
    assert codes_after(notes, 1) == [0]
    packet_tap(sink_link)
    assert send(sock, b"b" * 1000) == 1000
    assert codes_after(notes, 2) == [0, COPIED]


@pytest.mark.clause("LNX-MZC-UDP-OVERMTU-COPIED")
@SINK
@FAMILIES
def test_udp_datagram_over_the_mtu_is_copied(sink_udp, notifications, family):
    """Out of a 1500-byte-MTU device, 1000 bytes go zerocopy, 3000 bytes (fragmented, no
    checksum offload) are copied."""
    sock = sink_udp(family)
    notes = notifications(sock)
    assert send(sock, b"s" * 1000) == 1000
    assert codes_after(notes, 1) == [0]
    assert send(sock, b"L" * 3000) == 3000
    assert codes_after(notes, 2) == [0, COPIED]


@pytest.mark.clause("LNX-MZC-UDP-CORK-COPIED")
@SINK
@pytest.mark.parametrize("how", ["UDP_CORK", "MSG_MORE"])
def test_corked_udp_is_copied(sink_udp, notifications, how):
    """A datagram built by corked calls is copied (no checksum offload with MSG_MORE)."""
    sock = sink_udp(socket.AF_INET)
    notes = notifications(sock)
    assert send(sock, b"s" * 500) == 500
    assert codes_after(notes, 1) == [0]
    if how == "UDP_CORK":
        sock.setsockopt(socket.IPPROTO_UDP, UDP_CORK, 1)
        sent = [send(sock, b"c" * 300), send(sock, b"c" * 300)]
        sock.setsockopt(socket.IPPROTO_UDP, UDP_CORK, 0)
    else:
        more = MSG_ZEROCOPY | socket.MSG_MORE
        sent = [send(sock, b"c" * 300, more), send(sock, b"c" * 300)]
    assert sent == [300, 300]
    codes = codes_after(notes, 3)
    assert codes[0] == 0 and codes[1:] == [COPIED], codes


@pytest.mark.clause("LNX-MZC-NOSG-COPIED")
@SINK
def test_device_without_scatter_gather_forces_a_copy(sink_link, sink_udp, notifications):
    """With scatter-gather turned off on the egress device (ethtool -K sg off) sends are copied."""
    sock = sink_udp(socket.AF_INET)
    notes = notifications(sock)
    assert send(sock, b"g" * 1000) == 1000
    assert codes_after(notes, 1) == [0]
    set_scatter_gather(sock, sink_link.ifname, False)
    assert send(sock, b"h" * 1000) == 1000
    assert codes_after(notes, 2) == [0, COPIED]


@pytest.mark.clause("LNX-MZC-TUN-COPIED")
@pytest.mark.requires(root=True, feature=("netns", "TUN", "UDP_ZEROCOPY"))
def test_send_into_a_tun_device_is_copied(tun_device, notifications):
    """A datagram routed into a tun device (nobody reading it) completes COPIED."""
    sock = tun_device.netns.socket(socket.AF_INET, socket.SOCK_DGRAM, what="UDP into tun")
    enable_zerocopy(sock)
    sock.connect((TUN_PEER, 9))
    assert send(sock, b"t" * 1000) == 1000
    assert codes_after(notifications(sock), 1) == [COPIED]
