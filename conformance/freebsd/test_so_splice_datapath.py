"""SO_SPLICE data path: what the source receives is sent out of the sink, one way per call.

Sources: getsockopt(2) SO_SPLICE ("Data received on s will automatically be transmitted via the
socket specified in sp_fd ... as if userspace had called send(2)"; "Splicing is a one-way
operation; a given pair of sockets may be spliced in one or both directions"); uipc_socket.c
so_splice() (ends with a direct so_splice_xfer()) and sosend_generic() (no splice check);
socket_splice.c splice_basic, splice_v4v6. Cases: forwarding with nothing left on the source;
one way only; two calls splice both ways; data queued before the call is moved by the call itself;
IPv4 <-> IPv6 both ways; user writes on a spliced sink still arrive.
"""
import select
import socket
import time

import pytest

from conformance.abi.so_splice import bytes_spliced, pending_bytes
from conformance.deadlines import ABSENCE, ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_splice import splice_registered
from conformance.fixtures.freebsd_splice_state import assert_no_pending, poll_events
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")


@pytest.mark.clause("FBSD-SPLICE-BASIC-FORWARD")
def test_spliced_data_reaches_the_reader_and_not_the_source(spliced_pair):
    """4 KiB written to the source's peer arrive unchanged at the sink's peer; none stay."""
    sp = spliced_pair
    data = pattern(4096)
    sp.writer.sendall(data)
    assert recv_exactly(sp.reader, len(data), ARRIVAL) == data
    assert_no_pending(source=sp.source, sink=sp.sink)


@pytest.mark.clause("FBSD-SPLICE-UNIDIRECTIONAL")
def test_one_call_splices_one_way(spliced_pair):
    """Data the reader sends back arrives on the sink for userspace, never at the writer."""
    sp = spliced_pair
    sp.reader.sendall(b"back")
    assert recv_exactly(sp.sink, 4, ARRIVAL) == b"back"
    assert not poll_events(sp.writer, select.POLLIN, ABSENCE), "data reached the writer"


@pytest.mark.clause("FBSD-SPLICE-SINK-MAY-BE-SOURCE")
def test_two_calls_splice_both_ways(make_spliced_pair):
    """Spliced both ways, each socket is a source and a sink: bytes flow in both directions."""
    sp = make_spliced_pair(both_ways=True)
    sp.writer.sendall(b"M")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"M"
    sp.reader.sendall(b"J")
    assert recv_exactly(sp.writer, 1, ARRIVAL) == b"J"
    assert (bytes_spliced(sp.source), bytes_spliced(sp.sink)) == (1, 1)


def wait_pending(sock: socket.socket, n: int, deadline: float = ARRIVAL) -> int:
    """Wait until sock holds n unread bytes (poll, then FIONREAD); the count seen last."""
    end = time.monotonic() + deadline
    seen = 0
    while time.monotonic() < end and seen < n:
        poll_events(sock, select.POLLIN, ABSENCE)
        seen = pending_bytes(sock)
    return seen


@pytest.mark.clause("FBSD-SPLICE-PREEXISTING-DATA")
def test_data_queued_before_the_call_is_moved_by_the_call(make_tcp_pairs, socket_stack):
    """1000 bytes already on the source: setsockopt itself forwards them (counted on return)."""
    writer, source = make_tcp_pairs()
    sink, reader = make_tcp_pairs()
    data = pattern(1000)
    writer.sendall(data)
    queued = wait_pending(source, len(data))
    assert queued == len(data), f"setup: only {queued} of {len(data)} bytes reached the source"
    splice_registered(socket_stack, source, sink)
    left = pending_bytes(source)  # FIONREAD takes no lock: it does not wait for a worker transfer
    counted = bytes_spliced(source)
    assert (left, counted) == (0, len(data)), (
        f"right after setsockopt {left} bytes were still on the source and the count was "
        f"{counted}; the call should have moved all {len(data)} queued bytes itself")
    assert recv_exactly(reader, len(data), ARRIVAL) == data


@pytest.mark.clause("FBSD-SPLICE-V4V6")
@pytest.mark.parametrize("left, right", [(socket.AF_INET, socket.AF_INET6),
                                         (socket.AF_INET6, socket.AF_INET)],
                         ids=["v4-to-v6", "v6-to-v4"])
def test_ipv4_and_ipv6_sockets_splice_together(make_spliced_pair, left, right):
    """An IPv4 and an IPv6 connection spliced both ways pass a byte each way."""
    sp = make_spliced_pair(both_ways=True, left=left, right=right)
    sp.writer.sendall(b"M")
    assert recv_exactly(sp.reader, 1, ARRIVAL) == b"M"
    sp.reader.sendall(b"J")
    assert recv_exactly(sp.writer, 1, ARRIVAL) == b"J"


@pytest.mark.clause("FBSD-SPLICE-USER-IO-ALLOWED")
def test_user_writes_on_a_spliced_sink_arrive(spliced_pair):
    """A write on the sink succeeds while spliced; the reader gets it among the spliced bytes."""
    sp = spliced_pair
    sp.writer.sendall(b"spliced")
    assert sp.sink.send(b"U") == 1
    got = recv_exactly(sp.reader, 8, ARRIVAL)
    assert sorted(got) == sorted(b"splicedU") and got.replace(b"U", b"", 1) == b"spliced", (
        f"reader got {got!r}: expected the 7 spliced bytes in order plus one 'U' anywhere")
