"""splice(2) flags that change nothing (SPLICE_F_MOVE, SPLICE_F_GIFT) and SPLICE_F_MORE.

- SPLICE_F_MOVE "is a no-op" since 2.6.21 and SPLICE_F_GIFT is "unused for splice()" (splice(2)
  DESCRIPTION): with either flag, file -> pipe and pipe -> file splices return and move exactly
  what they do with flags 0;
- SPLICE_F_MORE: "more data will be coming in a subsequent splice" (see MSG_MORE in send(2));
  fs/splice.c splice_to_socket() passes MSG_MORE to the socket. On a TCP socket with TCP_NODELAY
  a 10-byte chunk spliced with the flag stays queued unsent (SIOCOUTQNSD = 10) until the next
  splice without it, which sends both; without the flag the chunk is sent before splice returns.
  The held chunk would also leave on the zero-window probe timer (at least TCP_RTO_MIN = 200 ms
  after the splice), so the unsent count is read within MEASURE_WINDOW of the splice, and an
  attempt that took longer is repeated.
"""
import fcntl
import os
import socket
import struct
import time

import pytest

from conformance.abi.splice import SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, splice
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="linux")

SIOCOUTQNSD = 0x894B  # include/uapi/linux/sockios.h: bytes queued but not yet sent (TCP)
CHUNK = 10
# The held chunk may leave on a timer no sooner than TCP_RTO_MIN (200 ms) after the splice;
# a reading taken later than this says nothing and is repeated.
MEASURE_WINDOW = 0.1
ATTEMPTS = 5


def unsent(sock: socket.socket) -> int:
    """Bytes the TCP socket holds that it has not transmitted yet."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, b"\0" * 4))[0]


@pytest.mark.clause("LNX-SP-FLAG-MOVE", "LNX-SP-FLAG-GIFT")
@pytest.mark.parametrize("flag", [SPLICE_F_MOVE, SPLICE_F_GIFT], ids=["MOVE", "GIFT"])
def test_flag_changes_nothing_file_to_pipe(make_file, make_pipe, flag):
    """file -> pipe, off_in 5, len 4000, with the flag and with 0: same count, offset, bytes."""
    results = []
    for flags in (flag, 0):
        src, (r, w) = make_file(pattern(8192), os.O_RDONLY), make_pipe()
        results.append((splice(src, 5, w, None, 4000, flags), os.read(r, 8192)))
    assert results[0] == results[1]
    assert results[0][1] == pattern(4000, start=5)


@pytest.mark.clause("LNX-SP-FLAG-MOVE", "LNX-SP-FLAG-GIFT")
@pytest.mark.parametrize("flag", [SPLICE_F_MOVE, SPLICE_F_GIFT], ids=["MOVE", "GIFT"])
def test_flag_changes_nothing_pipe_to_file(make_file, make_pipe, flag):
    """pipe -> file of page-cache pages (a file spliced into the pipe), with the flag and with
    0: same count and file contents, and the source file is unchanged."""
    results = []
    for flags in (flag, 0):
        src, dst, (r, w) = make_file(pattern(8192), os.O_RDONLY), make_file(b""), make_pipe()
        splice(src, None, w, None, 8192)
        count = splice(r, None, dst, None, 8192, flags).count
        results.append((count, os.pread(dst, 16384, 0), os.pread(src, 16384, 0)))
    assert results[0] == results[1]
    assert results[0] == (8192, pattern(8192), pattern(8192))


@pytest.fixture
def nodelay_tcp(make_tcp_pair) -> tuple[socket.socket, socket.socket]:
    """(sender, receiver) over loopback; the sender has TCP_NODELAY, so only MORE holds data."""
    sender, receiver = make_tcp_pair(socket.AF_INET)
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sender, receiver


def splice_chunk(r: int, w: int, sock: socket.socket, data: bytes, flags: int) -> tuple[int, float]:
    """Write data into the pipe, splice it into sock; (unsent bytes after, seconds taken)."""
    os.write(w, data)
    start = time.monotonic()
    assert splice(r, None, sock.fileno(), None, len(data), flags).count == len(data)
    held = unsent(sock)
    return held, time.monotonic() - start


@pytest.mark.clause("LNX-SP-FLAG-MORE")
def test_more_holds_a_small_chunk_until_a_splice_without_it(nodelay_tcp, make_pipe):
    """10 bytes with SPLICE_F_MORE stay unsent; 10 more without it send all 20, in order."""
    sender, receiver = nodelay_tcp
    r, w = make_pipe()
    sent = b""
    for _ in range(ATTEMPTS):
        held, took = splice_chunk(r, w, sender, pattern(CHUNK), SPLICE_F_MORE)
        sent += pattern(CHUNK)
        if took <= MEASURE_WINDOW:
            break
        splice_chunk(r, w, sender, b"x", 0)  # flush, then measure again
        sent += b"x"
    else:
        pytest.fail(f"no splice + SIOCOUTQNSD pair finished within {MEASURE_WINDOW} s in "
                    f"{ATTEMPTS} attempts (host too loaded to observe MSG_MORE)")
    assert held == CHUNK, f"{held} of {CHUNK} bytes unsent after a splice with SPLICE_F_MORE"
    flushed, _ = splice_chunk(r, w, sender, pattern(CHUNK, start=CHUNK), 0)
    sent += pattern(CHUNK, start=CHUNK)
    assert flushed == 0, f"{flushed} bytes still unsent after a splice without SPLICE_F_MORE"
    assert recv_exactly(receiver, len(sent), ARRIVAL) == sent


@pytest.mark.clause("LNX-SP-FLAG-MORE")
def test_without_more_a_small_chunk_is_sent_at_once(nodelay_tcp, make_pipe):
    """Control: 10 bytes spliced without SPLICE_F_MORE are transmitted before splice returns."""
    sender, receiver = nodelay_tcp
    r, w = make_pipe()
    held, _ = splice_chunk(r, w, sender, pattern(CHUNK), 0)
    assert held == 0, f"{held} bytes unsent after a splice without SPLICE_F_MORE"
    assert recv_exactly(receiver, CHUNK, ARRIVAL) == pattern(CHUNK)
