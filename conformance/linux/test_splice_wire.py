"""splice(2) between a pipe and a TCP socket, with the wire as the evidence (LNX-SP-PIPE-SOCKET):
the counts splice() returns add up to exactly the bytes that cross a veth between two network
namespaces, and those bytes arrive intact and in order.

- pipe -> socket: the sender splices what it wrote into a pipe; the TCP payload on the wire is
  exactly the first (sum of counts) bytes of it;
- socket -> pipe: the receiver splices from its socket until EOF; the counts add up to the
  payload the wire carried, and the pipe yields those bytes.
The capture runs on the receiving end of the veth from before connect() until the receiver has
seen the FIN. The peer reads (or writes) on a thread, so no size depends on socket buffers.
Sizes: one byte, three segments and a bit, most of a 64 KiB pipe; IPv4 and IPv6.
"""
import os
import select
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pytest

from conformance.abi.splice import splice
from conformance.checks import transfer_all
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.wire import tcp_stream

pytestmark = pytest.mark.requires(os="linux", feature=("netns", "veth", "scapy-capture"))

PIPE_CHUNK = 65536  # the default pipe capacity: one splice from a socket moves at most this


class Case(NamedTuple):
    family: int
    size: int

    def param(self):
        family = "ipv6" if self.family == socket.AF_INET6 else "ipv4"
        return pytest.param(self, id=f"{family}-size={self.size}",
                            marks=pytest.mark.clause("LNX-SP-PIPE-SOCKET"))


CASES = [
    Case(socket.AF_INET, 1),
    Case(socket.AF_INET, 3 * 1448 + 7),
    Case(socket.AF_INET, 60_000),
    Case(socket.AF_INET6, 60_000),
]


def read_to_eof(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(deadline)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def drain(fd: int, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunks.append(os.read(fd, size - got))
        assert chunks[-1], f"the pipe ended after {got} of the {size} bytes spliced into it"
        got += len(chunks[-1])
    return b"".join(chunks)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_pipe_to_socket_counts_equal_the_wire(case, veth_pair, connected_pair, wire_capture,
                                              make_pipe):
    """Spliced pipe -> socket counts add up to the payload on the wire, which is what was
    written into the pipe."""
    capture = wire_capture(veth_pair.b)
    sender, receiver = connected_pair("tcp", case.family)
    r, w = make_pipe()
    os.write(w, pattern(case.size))
    with ThreadPoolExecutor(1) as peer:
        reading = peer.submit(read_to_eof, receiver, ARRIVAL)
        try:
            spliced = transfer_all(
                lambda done: splice(r, None, sender.fileno(), None, case.size - done).count,
                case.size, "splice from a full pipe to a TCP socket")
        finally:
            sender.shutdown(socket.SHUT_WR)  # the reader ends at once, also when splice failed
        received = reading.result(ARRIVAL)
    wire = tcp_stream(capture.stop(), sender.getsockname()[:2], sender.getpeername()[:2])
    assert len(wire) == spliced, f"splice counted {spliced} bytes, the wire carried {len(wire)}"
    assert wire == pattern(spliced), "the wire carried other bytes than were spliced"
    assert received == wire


def send_and_close(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def readable(sock: socket.socket, deadline: float) -> None:
    """Wait until a splice from sock will not block (data or EOF), or fail."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    assert poller.poll(deadline * 1000), f"nothing to read within {deadline}s"


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_socket_to_pipe_counts_equal_the_wire(case, veth_pair, connected_pair, wire_capture,
                                              make_pipe):
    """Spliced socket -> pipe counts, up to EOF, add up to the payload the wire carried, and
    the pipe yields exactly those bytes."""
    capture = wire_capture(veth_pair.b)
    sender, receiver = connected_pair("tcp", case.family)
    r, w = make_pipe()
    spliced, through_pipe = 0, []
    with ThreadPoolExecutor(1) as peer:
        sending = peer.submit(send_and_close, sender, pattern(case.size))
        while True:
            readable(receiver, ARRIVAL)
            count = splice(receiver.fileno(), None, w, None, PIPE_CHUNK).count
            if not count:
                break
            spliced += count
            through_pipe.append(drain(r, count))
        sending.result(ARRIVAL)
    wire = tcp_stream(capture.stop(), sender.getsockname()[:2], sender.getpeername()[:2])
    assert spliced == len(wire), f"splice counted {spliced} bytes, the wire carried {len(wire)}"
    assert b"".join(through_pipe) == wire == pattern(case.size)
