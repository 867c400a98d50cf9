"""splice(2) SPLICE_F_NONBLOCK and the socket side: what the flag does not change.

splice(2): SPLICE_F_NONBLOCK "makes the splice pipe operations nonblocking, but splice() may
nevertheless block because the file descriptors that are spliced to/from may block (unless they
have the O_NONBLOCK flag set)". Sources: net/ipv4/tcp.c tcp_splice_read() takes its timeout
from the socket's O_NONBLOCK only; fs/splice.c splice_to_socket() sends with MSG_DONTWAIT only
when fd_out has O_NONBLOCK.

- a blocking TCP socket with no data as fd_in, SPLICE_F_NONBLOCK: the call waits for SO_RCVTIMEO,
  then fails with EAGAIN (AF_UNIX would not wait: unix_stream_splice_read() honours the flag);
- a blocking AF_UNIX socket with a full send buffer as fd_out, SPLICE_F_NONBLOCK: it waits for
  SO_SNDTIMEO, then EAGAIN, and the pipe keeps its data;
- the same two with O_NONBLOCK on the socket and no flag: EAGAIN without waiting.
Timing: the wait lies in [timeout - EARLY_MARGIN, timeout + LATE_MARGIN].
"""
import errno
import os
import socket
import struct
import time

import pytest

from conformance.abi.splice import SPLICE_F_NONBLOCK, splice
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="linux")

# The socket timeout a blocking call waits for.
SOCKET_TIMEOUT = 0.3
# The kernel rounds the timeout to jiffies (HZ >= 100), so the wait may end one tick early.
EARLY_MARGIN = 0.02
# Scheduling delay allowed on a loaded host before the call returns after its timeout.
LATE_MARGIN = 2.0
# Timeout set on sockets that must not wait at all: a call that waited would take this long.
NEVER_WAITED = 2.0


def set_timeout(sock: socket.socket, option: int, seconds: float) -> None:
    """SO_RCVTIMEO / SO_SNDTIMEO as a struct timeval."""
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, option,
                    struct.pack("@ll", whole, int((seconds - whole) * 1_000_000)))


def fill_socket(sock: socket.socket) -> None:
    """Send until the socket's send buffer is full (never blocks)."""
    chunk = b"\0" * 4096
    while True:
        try:
            sock.send(chunk, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return


def timed_eagain(fn, what: str) -> float:
    """Seconds fn() took to fail with EAGAIN."""
    start = time.monotonic()
    expect_errno(fn, errno.EAGAIN, what)
    return time.monotonic() - start


@pytest.fixture
def idle_tcp_receiver(make_tcp_pair) -> socket.socket:
    """The accepting end of a loopback TCP connection on which nothing is ever sent."""
    _, receiver = make_tcp_pair(socket.AF_INET)
    return receiver


@pytest.fixture
def full_unix_sender(make_unix_pair) -> socket.socket:
    """An AF_UNIX stream socket whose peer reads nothing and whose send buffer is full."""
    sender, _ = make_unix_pair()
    fill_socket(sender)
    return sender


@pytest.mark.clause("LNX-SP-NONBLOCK-FDSIDE")
def test_flag_does_not_stop_a_tcp_read_from_waiting(idle_tcp_receiver, make_pipe):
    """TCP fd_in without data, SPLICE_F_NONBLOCK: waits SO_RCVTIMEO, then EAGAIN."""
    _, w = make_pipe()
    set_timeout(idle_tcp_receiver, socket.SO_RCVTIMEO, SOCKET_TIMEOUT)
    waited = timed_eagain(
        lambda: splice(idle_tcp_receiver.fileno(), None, w, None, 10, SPLICE_F_NONBLOCK),
        "splice from an idle blocking TCP socket with SPLICE_F_NONBLOCK")
    assert SOCKET_TIMEOUT - EARLY_MARGIN <= waited <= SOCKET_TIMEOUT + LATE_MARGIN, (
        f"waited {waited:.3f} s; a blocking socket should wait its SO_RCVTIMEO of "
        f"{SOCKET_TIMEOUT} s despite SPLICE_F_NONBLOCK")


@pytest.mark.clause("LNX-SP-NONBLOCK-FDSIDE")
def test_flag_does_not_stop_a_socket_write_from_waiting(full_unix_sender, make_pipe):
    """Full AF_UNIX fd_out, SPLICE_F_NONBLOCK: waits SO_SNDTIMEO, then EAGAIN; the pipe keeps
    its data."""
    r, w = make_pipe()
    os.write(w, b"0123456789")
    set_timeout(full_unix_sender, socket.SO_SNDTIMEO, SOCKET_TIMEOUT)
    waited = timed_eagain(
        lambda: splice(r, None, full_unix_sender.fileno(), None, 10, SPLICE_F_NONBLOCK),
        "splice into a full blocking AF_UNIX socket with SPLICE_F_NONBLOCK")
    assert SOCKET_TIMEOUT - EARLY_MARGIN <= waited <= SOCKET_TIMEOUT + LATE_MARGIN, (
        f"waited {waited:.3f} s; a blocking socket should wait its SO_SNDTIMEO of "
        f"{SOCKET_TIMEOUT} s despite SPLICE_F_NONBLOCK")
    assert os.read(r, 64) == b"0123456789"


@pytest.mark.clause("LNX-SP-EAGAIN-ONONBLOCK")
def test_o_nonblock_tcp_read_fails_at_once(idle_tcp_receiver, make_pipe):
    """TCP fd_in without data, O_NONBLOCK on the socket, flags 0: EAGAIN without waiting."""
    _, w = make_pipe()
    set_timeout(idle_tcp_receiver, socket.SO_RCVTIMEO, NEVER_WAITED)
    idle_tcp_receiver.setblocking(False)
    waited = timed_eagain(lambda: splice(idle_tcp_receiver.fileno(), None, w, None, 10),
                          "splice from an idle O_NONBLOCK TCP socket")
    assert waited < NEVER_WAITED, f"waited {waited:.3f} s: the socket's timeout, not O_NONBLOCK"


@pytest.mark.clause("LNX-SP-EAGAIN-ONONBLOCK")
def test_o_nonblock_socket_write_fails_at_once(full_unix_sender, make_pipe):
    """Full AF_UNIX fd_out with O_NONBLOCK, flags 0: EAGAIN without waiting; the pipe keeps its
    data."""
    r, w = make_pipe()
    os.write(w, b"0123456789")
    set_timeout(full_unix_sender, socket.SO_SNDTIMEO, NEVER_WAITED)
    full_unix_sender.setblocking(False)
    waited = timed_eagain(lambda: splice(r, None, full_unix_sender.fileno(), None, 10),
                          "splice into a full O_NONBLOCK AF_UNIX socket")
    assert waited < NEVER_WAITED, f"waited {waited:.3f} s: the socket's timeout, not O_NONBLOCK"
    assert os.read(r, 64) == b"0123456789"
