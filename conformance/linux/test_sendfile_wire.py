"""sendfile(2) to a TCP socket, with the wire as the evidence (LNX-SF-TCP-DATA): the payload
that crosses a veth between two network namespaces is exactly the file slice
[offset, offset + the sum of the return values), no byte more, none missing, none altered; and
the peer reads the same bytes.

The capture runs on the receiving end of the veth from before connect() (so the SYN gives the
stream's start) until the receiver has read the FIN, so every data frame has passed it.
Cases: one byte at offset 0; a page at a page-aligned offset; 32 KiB at an unaligned offset
(many segments, GSO), over IPv4 and IPv6.
"""
import os
import socket
from typing import NamedTuple

import pytest

from conformance.abi.sendfile import sendfile
from conformance.checks import transfer_all
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.wire import tcp_stream

pytestmark = pytest.mark.requires(os="linux", feature=("netns", "veth", "scapy-capture"))

FILE_SIZE = 100_000


class Case(NamedTuple):
    family: int
    offset: int
    count: int

    def param(self):
        family = "ipv6" if self.family == socket.AF_INET6 else "ipv4"
        return pytest.param(self, id=f"{family}-offset={self.offset}-count={self.count}",
                            marks=pytest.mark.clause("LNX-SF-TCP-DATA"))


CASES = [
    Case(socket.AF_INET, 0, 1),
    Case(socket.AF_INET, 4096, 4096),
    Case(socket.AF_INET, 1000, 32 * 1024),
    Case(socket.AF_INET6, 1000, 32 * 1024),
]


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(FILE_SIZE), os.O_RDONLY)


def read_to_eof(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(deadline)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_wire_carries_exactly_the_file_slice_sendfile_reported(case, src, veth_pair,
                                                               connected_pair, wire_capture):
    """sendfile moves all count bytes (in one or more calls, never 0 while bytes are left),
    and the TCP payload on the veth equals file[offset, offset + count)."""
    capture = wire_capture(veth_pair.b)
    sender, receiver = connected_pair("tcp", case.family)
    sent = transfer_all(lambda done: sendfile(sender.fileno(), src, case.offset + done,
                                              case.count - done).sent,
                        case.count, "sendfile to a TCP socket")
    sender.shutdown(socket.SHUT_WR)
    received = read_to_eof(receiver, ARRIVAL)
    wire = tcp_stream(capture.stop(), sender.getsockname()[:2], sender.getpeername()[:2])
    claimed = pattern(sent, case.offset)
    assert len(wire) == sent, f"sendfile claimed {sent} bytes, the wire carried {len(wire)}"
    assert wire == claimed, "the wire carried other bytes than the file slice claimed sent"
    assert received == wire, "the peer read other bytes than the wire carried"
