"""SO_SPLICE sp_max: a splice stops forwarding once sp_max bytes have passed, and the socket
reverts to normal receive.

Source: getsockopt(2) SO_SPLICE ("If sp_max is greater than zero, the socket pair will
automatically be unspliced once that number of bytes have been transmitted"), commit
a1da7dc1cdad (D46411); FreeBSD's own socket_splice.c splice_limit_bytes is the model. Cases: max - 1
bytes are forwarded and counted; byte number max is forwarded and byte max + 1 stays on the
spliced socket; the reverse direction counts on its own; a new splice resets the count.
"""
# Imports in the three groups of STYLE.md outline A (standard library, bindings, helpers).
# ruff: noqa: I001
import socket
from contextlib import ExitStack
from typing import NamedTuple

import pytest

from conformance.abi.so_splice import bytes_spliced, splice_sockets, unsplice

from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_splice import nodelay_pair, release
from conformance.fixtures.freebsd_splice_state import assert_no_pending
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")


class SplicedConn(NamedTuple):
    """left[1] and right[0] spliced to each other, both ways, with the same sp_max."""
    left: tuple[socket.socket, socket.socket]
    right: tuple[socket.socket, socket.socket]
    max_bytes: int
    payload: bytes


class Limit(NamedTuple):
    max_bytes: int
    payload: bytes  # the stream sent: max_bytes + 1 pattern bytes

    def param(self):
        n = self.max_bytes
        name = f"max{n // 1024}k" if n >= 1024 and n % 1024 == 0 else f"max{n}"
        return pytest.param(self, id=name, marks=pytest.mark.clause("FBSD-SPLICE-MAX-UNSPLICE"))


LIMITS = [Limit(n, pattern(n + 1)) for n in (1, 129, 64 * 1024)]
limits = pytest.mark.parametrize("spliced_conn", [row.param() for row in LIMITS], indirect=True)
# An explicit unsplice needs a splice still running after one byte each way: sp_max above 1.
limits_above_one = pytest.mark.parametrize(
    "spliced_conn", [row.param() for row in LIMITS if row.max_bytes > 1], indirect=True)


@pytest.fixture
def spliced_conn(request):
    """Two TCP pairs; left[1] and right[0] spliced both ways with the row's sp_max."""
    row: Limit = request.param
    with ExitStack() as stack:
        left = nodelay_pair(stack)
        right = nodelay_pair(stack)
        splice_sockets(left[1], right[0].fileno(), row.max_bytes)
        stack.callback(release, left[1])
        splice_sockets(right[0], left[1].fileno(), row.max_bytes)
        stack.callback(release, right[0])
        yield SplicedConn(left, right, row.max_bytes, row.payload)


def send_and_receive(sender: socket.socket, receiver: socket.socket, data: bytes, where: str):
    sender.sendall(data)
    got = recv_exactly(receiver, len(data), ARRIVAL)
    assert got == data, (f"{where}: expected {len(data)} bytes within {ARRIVAL}s, "
                         f"got {len(got)} (equal prefix: {got == data[:len(got)]})")


@limits
@pytest.mark.clause("FBSD-SPLICE-GET-COUNT", "FBSD-SPLICE-GET-SYNC", "FBSD-SPLICE-BASIC-FORWARD")
def test_bytes_before_limit_are_forwarded(spliced_conn):
    """max - 1 bytes pass through; the forward count is max - 1 and the reverse count 0."""
    c = spliced_conn
    send_and_receive(c.left[0], c.right[1], c.payload[:c.max_bytes - 1], "right[1]")
    forward, reverse = bytes_spliced(c.left[1]), bytes_spliced(c.right[0])
    assert (forward, reverse) == (c.max_bytes - 1, 0), (
        f"bytes_spliced: left[1] {forward} (expected {c.max_bytes - 1}), right[0] {reverse} "
        f"(expected 0)")


@limits
@pytest.mark.clause("FBSD-SPLICE-NORMAL-AFTER-UNSPLICE", "FBSD-SPLICE-FIONREAD")
def test_limit_byte_is_forwarded_then_unsplices(spliced_conn):
    """Byte number max still passes; byte max + 1 arrives on the spliced socket itself."""
    c = spliced_conn
    send_and_receive(c.left[0], c.right[1], c.payload[:c.max_bytes], "right[1] (up to the limit)")
    send_and_receive(c.left[0], c.left[1], c.payload[c.max_bytes:], "left[1] (after the limit)")
    assert bytes_spliced(c.left[1]) == c.max_bytes, "the count must stop at sp_max"
    assert_no_pending(left0=c.left[0], left1=c.left[1], right0=c.right[0], right1=c.right[1])


@limits
@pytest.mark.clause("FBSD-SPLICE-SINK-MAY-BE-SOURCE", "FBSD-SPLICE-GET-COUNT")
def test_reverse_direction_counts_independently(spliced_conn):
    """Exhausting the forward limit leaves the reverse splice and its count untouched."""
    c = spliced_conn
    send_and_receive(c.left[0], c.right[1], c.payload[:c.max_bytes], "right[1]")
    send_and_receive(c.right[1], c.left[0], b"R", "left[0] (reverse direction)")
    forward, reverse = bytes_spliced(c.left[1]), bytes_spliced(c.right[0])
    assert (forward, reverse) == (c.max_bytes, 1), (
        f"bytes_spliced: left[1] {forward} (expected {c.max_bytes}), right[0] {reverse} "
        f"(expected 1)")


@limits_above_one
@pytest.mark.clause("FBSD-SPLICE-GET-RESET-ON-RESPLICE", "FBSD-SPLICE-GET-AFTER-UNSPLICE",
                    "FBSD-SPLICE-UNSPLICE-NEGFD")
def test_resplice_resets_count(spliced_conn):
    """Counts survive unsplice (-1) and go back to 0 when the sockets are spliced again."""
    c = spliced_conn
    send_and_receive(c.left[0], c.right[1], b"M", "right[1]")
    send_and_receive(c.right[1], c.left[0], b"J", "left[0]")
    unsplice(c.left[1])
    unsplice(c.right[0])
    kept = (bytes_spliced(c.left[1]), bytes_spliced(c.right[0]))
    assert kept == (1, 1), f"counts after unsplice: {kept}, expected (1, 1)"
    splice_sockets(c.left[1], c.right[0].fileno(), c.max_bytes)
    splice_sockets(c.right[0], c.left[1].fileno(), c.max_bytes)
    fresh = (bytes_spliced(c.left[1]), bytes_spliced(c.right[0]))
    assert fresh == (0, 0), f"counts after splicing again: {fresh}, expected (0, 0)"
    send_and_receive(c.left[0], c.right[1], b"M", "right[1] after the new splice")
    assert bytes_spliced(c.left[1]) == 1
