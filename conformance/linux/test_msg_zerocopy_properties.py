"""MSG_ZEROCOPY contract as a property: whatever the sequence of sends and error-queue reads,
the notification ranges cover exactly the successful non-empty zerocopy calls.

Rule (rst "Notifications", "Deferred copies"): each successful zerocopy call with data takes
the next id of the socket's counter (failures and length-zero calls take none); the kernel
queues a notification for every id, as inclusive ranges that merge while unread.
For random sequences over TCP and UDP, IPv4 and IPv6 loopback of sends (0 bytes to 60000),
sends that fail (an unmapped buffer: EFAULT) and error-queue reads between them: every read
only reports ids of calls already made; in the end the ranges cover ids 0 .. n-1 exactly once
(n = successful non-empty calls); the receiver gets exactly the bytes of the successful sends.
UDP sequences draw no zero-length sends: an empty datagram takes an id (the strict xfail in
test_msg_zerocopy_counter.py). Hypothesis prints the falsifying sequence and its seed.
"""
import errno
import socket
from contextlib import ExitStack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.abi import memory
from conformance.abi.zerocopy import send, sendmsg_at
from conformance.deadlines import ARRIVAL
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import Notifications, recv_datagrams, zc_pair_in
from conformance.hypothesis_profiles import examples

pytestmark = pytest.mark.requires(os="linux", feature=("SO_ZEROCOPY", "UDP_ZEROCOPY"))

KINDS = [("tcp", socket.AF_INET), ("tcp", socket.AF_INET6), ("udp", socket.AF_INET),
         ("udp", socket.AF_INET6)]
SIZES = st.one_of(st.sampled_from([0, 1, 1400, 1500, 4096, 60000]), st.integers(0, 60000))


@st.composite
def plans(draw):
    proto, family = draw(st.sampled_from(KINDS))
    sizes = SIZES.filter(lambda n: n > 0) if proto == "udp" else SIZES
    op = st.one_of(st.tuples(st.just("send"), sizes), st.just(("fail", 0)),
                   st.just(("read", 0)))
    return proto, family, draw(st.lists(op, min_size=1, max_size=12))


def _read_peer(receiver: socket.socket, proto: str, size: int) -> bytes:
    if proto == "udp":
        return recv_datagrams(receiver, 1)[0]
    return recv_exactly(receiver, size, ARRIVAL)


@pytest.mark.clause("LNX-MZC-COPIED-HINT", "LNX-MZC-COUNTER-START0", "LNX-MZC-ZEROLEN",
                    "LNX-MZC-EFAULT", "LNX-MZC-NOTIF-RANGE", "LNX-MZC-COALESCE")
@settings(max_examples=examples(60), deadline=None)
@given(plan=plans())
def test_ranges_cover_exactly_the_successful_calls(plan):
    """Each id is notified once, for the n successful non-empty calls, never ahead of its call."""
    proto, family, ops = plan
    with ExitStack() as stack:
        sender, receiver = zc_pair_in(stack, proto, family)
        unmapped = stack.enter_context(memory.unmapped_address())
        notes = Notifications(sender)
        calls = 0
        for n, (op, size) in enumerate(ops):
            if op == "send":
                data = bytes([n % 251]) * size
                assert send(sender, data) == size
                if size or proto == "udp":
                    assert _read_peer(receiver, proto, size) == data, f"op {n}: peer got other bytes"
                calls += 1 if size else 0
            elif op == "fail":
                with pytest.raises(OSError) as failed:
                    sendmsg_at(sender, [(unmapped, 1000)])
                assert failed.value.errno == errno.EFAULT, f"op {n}: {failed.value}"
            else:
                notes.drain()
                ahead = [r for r in notes.ranges if max(r.lo, r.hi) >= calls]
                assert not ahead, f"op {n}: ids notified before their call ({calls} made): {ahead}"
        notes.collect(calls)
        assert not notes.problems(calls), f"{ops}: {notes}"
        if proto == "tcp":
            sender.setblocking(False)
            receiver.setblocking(False)
            with pytest.raises(BlockingIOError):
                receiver.recv(1)  # nothing beyond the successful sends
