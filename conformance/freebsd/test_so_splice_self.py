"""SO_SPLICE onto itself: a socket may be spliced to itself, and the two ends of one connection
may be spliced to each other; nothing detects the resulting echo or loop.

Sources: uipc_socket.c so_splice() (the source check looks at so_splice, the sink check at
so_splice_back: both pass when sp_fd names the socket itself) and splice_init() (workers run at
PUSER so a loop cannot starve the system); socket_splice.c splice_loop (the loop only has to stay
killable). OpenBSD detects loops and fails with ELOOP. Cases: self-splice echoes the peer's bytes
back to it; a loop between the two ends keeps counting until the sockets are unspliced/closed.
"""
import time

import pytest

from conformance.abi.so_splice import bytes_spliced
from conformance.deadlines import ARRIVAL
from conformance.fixtures.freebsd_splice import splice_registered
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

# Round trips a byte must make through the loop before we call it "not detected".
LOOP_ROUNDS = 1000


@pytest.mark.clause("FBSD-SPLICE-SELF")
def test_self_splice_echoes_to_the_peer(make_tcp_pairs, socket_stack):
    """sp_fd == s is accepted: what the peer sends comes straight back to it."""
    peer, sock = make_tcp_pairs()
    splice_registered(socket_stack, sock, sock)
    peer.sendall(b"echo")
    assert recv_exactly(peer, 4, ARRIVAL) == b"echo"
    assert bytes_spliced(sock) == 4


@pytest.mark.clause("FBSD-SPLICE-LOOP-NOT-DETECTED")
def test_loop_between_the_ends_of_a_connection_is_not_detected(make_tcp_pairs, socket_stack):
    """Both ends spliced to each other: one byte written circulates; the counts keep growing
    past LOOP_ROUNDS with no error. Cleanup unsplices both ends, which ends the loop."""
    a, b = make_tcp_pairs()
    splice_registered(socket_stack, a, b)
    splice_registered(socket_stack, b, a)
    a.sendall(b"L")
    end = time.monotonic() + ARRIVAL
    while (rounds := bytes_spliced(b)) < LOOP_ROUNDS and time.monotonic() < end:
        pass
    assert rounds >= LOOP_ROUNDS, (f"the byte went round {rounds} times in {ARRIVAL}s "
                                   f"(a: {bytes_spliced(a)}); expected an undetected loop")
