"""The event that ends a watch for what must not arrive (Notifications.until_released and
wait_released, fixtures/zerocopy*.py), on real loopback sockets (Linux, no root): the watch
still sees a notification that comes with the release, ends without a time window when none
comes, and fails with a deadline when the release never happens."""
import platform
import socket
import time

import pytest
from conformance.fixtures.sockets_zerocopy import send_queue_bytes
from conformance.fixtures.zerocopy import (
    Notifications,
    released,
    wait_released,
    zc_pair_in,
)

from conformance.abi.zerocopy import MSG_ZEROCOPY, send
from conformance.deadlines import ABSENCE, ARRIVAL

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="Linux MSG_ZEROCOPY")


def _recv(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(ARRIVAL)
    got = b""
    while len(got) < n:
        got += sock.recv(n - len(got))
    return got


@pytest.fixture
def stack():
    from contextlib import ExitStack
    with ExitStack() as s:
        yield s


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_a_notification_that_comes_with_the_release_is_seen(stack, proto):
    """A zerocopy send the test does not expect: until_released() returns its notification,
    so a kernel that notifies a send it should not is caught by the event-bounded watch."""
    sender, receiver = zc_pair_in(stack, proto)
    assert send(sender, b"x" * 1000, MSG_ZEROCOPY) == 1000
    assert _recv(receiver, 1000) == b"x" * 1000
    arrived = Notifications(sender).until_released(delivered=True)
    assert [r for read in arrived for r in read.recverr if r.is_zerocopy], arrived


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_nothing_to_notify_ends_without_the_absence_window(stack, proto):
    """A plain send: nothing arrives, and the watch ends well before ABSENCE."""
    sender, receiver = zc_pair_in(stack, proto)
    assert send(sender, b"y" * 1000, 0) == 1000
    assert _recv(receiver, 1000) == b"y" * 1000
    start = time.monotonic()
    assert Notifications(sender).until_released(delivered=True) == []
    assert time.monotonic() - start < ABSENCE


def test_a_sender_holding_unsent_data_is_not_released(stack):
    """A TCP sender whose peer's window is full keeps bytes in its send queue: released() is
    False and wait_released() fails at its deadline instead of declaring quiet."""
    sender, receiver = zc_pair_in(stack, "tcp", zerocopy_on=False)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sender.setblocking(False)
    with pytest.raises(BlockingIOError):
        while True:
            sender.send(b"z" * 65536)
    assert send_queue_bytes(sender) > 0
    assert not released(sender)
    with pytest.raises(TimeoutError, match="unacknowledged bytes"):
        wait_released(sender, deadline=0.2)
