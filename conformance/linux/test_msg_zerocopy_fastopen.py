"""MSG_ZEROCOPY with TCP Fast Open: the SYN's data and the counter.

Rule (packetdrill tcp_zerocopy_fastopen-client.pkt / -server.pkt): MSG_FASTOPEN|MSG_ZEROCOPY
without a cookie fails with EINPROGRESS on a non-blocking socket, carries no data in the SYN and
takes no id; once the client holds a cookie the data rides in the SYN and the call takes id 0.
Runs over loopback in a test namespace with net.ipv4.tcp_fastopen = 3 (client and server).
Cases: first connection (no cookie); second connection (cookie).
"""
import errno
import select
import socket

import pytest

from conformance.abi.zerocopy import (
    MSG_FASTOPEN,
    MSG_ZEROCOPY,
    enable_zerocopy,
    send,
    sendto,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL, CONNECT
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import wait_released

pytestmark = pytest.mark.requires(os="linux", root=True, feature=("SO_ZEROCOPY", "netns"))

TFO_CLIENT_AND_SERVER = 3  # Documentation/networking/ip-sysctl.rst tcp_fastopen: 0x1 | 0x2


@pytest.fixture
def tfo_listener(netns, netns_sysctl) -> socket.socket:
    """A TCP Fast Open listener on 127.0.0.1 inside a namespace with tcp_fastopen = 3."""
    netns_sysctl(netns, "net.ipv4.tcp_fastopen", TFO_CLIENT_AND_SERVER)
    listener = netns.socket(socket.AF_INET, socket.SOCK_STREAM, what="TFO listener")
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 8)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(CONNECT)
    return listener


def tfo_client(netns) -> socket.socket:
    client = netns.socket(socket.AF_INET, socket.SOCK_STREAM, what="TFO client")
    enable_zerocopy(client)
    client.setblocking(False)
    return client


def accept(netns, listener: socket.socket, client: socket.socket) -> socket.socket:
    """Wait for the client's handshake, accept, and make both ends blocking."""
    assert select.select([], [client], [], CONNECT)[1], "TFO connect did not complete"
    assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    client.setblocking(True)
    server = netns.adopt(listener.accept()[0], "TFO server")
    server.settimeout(None)
    return server


@pytest.mark.clause("LNX-MZC-FASTOPEN")
def test_fastopen_without_cookie_sends_nothing_and_takes_no_id(netns, tfo_listener,
                                                               notifications):
    """No cookie yet: EINPROGRESS, the server reads nothing, no notification; the first
    zerocopy send on the established connection gets id 0."""
    client = tfo_client(netns)
    expect_errno(lambda: sendto(client, b"f" * 100, MSG_FASTOPEN | MSG_ZEROCOPY,
                                tfo_listener.getsockname()),
                 errno.EINPROGRESS, "sendto(MSG_FASTOPEN|MSG_ZEROCOPY) without a TFO cookie")
    server = accept(netns, tfo_listener, client)
    # Once the client holds no unsent or unACKed byte, whatever it sent is in the server's queue
    # and whatever it notifies is queued: both checks need no time window after that.
    wait_released(client)
    assert select.select([server], [], [], 0)[0] == [], "the SYN carried data"
    notes = notifications(client)
    assert notes.until_released() == [], "a send that carried no data was notified"
    assert send(client, b"g" * 100) == 100
    assert recv_exactly(server, 100, ARRIVAL) == b"g" * 100
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-FASTOPEN")
def test_fastopen_with_cookie_carries_data_and_takes_id_0(netns, tfo_listener, notifications):
    """With a cookie from a first connection, the second connection's zerocopy SYN carries the
    data: the call returns its length and takes id 0."""
    first = tfo_client(netns)
    with pytest.raises(BlockingIOError):
        first.sendto(b"c", MSG_FASTOPEN, tfo_listener.getsockname())  # fetches the cookie
    accept(netns, tfo_listener, first)
    client = tfo_client(netns)
    assert sendto(client, b"h" * 100, MSG_FASTOPEN | MSG_ZEROCOPY,
                  tfo_listener.getsockname()) == 100
    server = accept(netns, tfo_listener, client)
    assert recv_exactly(server, 100, ARRIVAL) == b"h" * 100
    notes = notifications(client)
    notes.collect(1)
    assert not notes.problems(1), notes
