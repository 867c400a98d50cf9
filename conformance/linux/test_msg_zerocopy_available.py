"""MSG_ZEROCOPY is there: SO_ZEROCOPY is accepted on TCP (4.14) and UDP (5.0) sockets.

Rule (rst "Socket Setup"; net/core/sock.c sk_setsockopt()): setsockopt(SOL_SOCKET, SO_ZEROCOPY,
1) returns 0 on TCP and UDP sockets of both families. The option cannot be configured out, so
these tests are not gated by a probe: on a kernel at least as new as the release that brought
it, a refusal fails here, and every other MSG_ZEROCOPY test skips naming this one (probe
answer Broken, conformance/probes/zerocopy.py). Only an older release skips, as evidence of
absence.
"""
import socket
from contextlib import ExitStack

import pytest

from conformance.abi.zerocopy import set_zerocopy, zerocopy_option

pytestmark = pytest.mark.requires(os="linux")

TCP = pytest.mark.requires(kernel="4.14", because="MSG_ZEROCOPY arrived in 4.14 (commit "
                           "76851d1212c1, sock: enable MSG_ZEROCOPY)")
UDP = pytest.mark.requires(kernel="5.0", because="UDP MSG_ZEROCOPY arrived in 5.0 (commit "
                           "b5947e5d1e71, udp: msg_zerocopy)")
KINDS = {"tcp4": (socket.AF_INET, socket.SOCK_STREAM), "tcp6": (socket.AF_INET6, socket.SOCK_STREAM),
         "udp4": (socket.AF_INET, socket.SOCK_DGRAM), "udp6": (socket.AF_INET6, socket.SOCK_DGRAM)}


@pytest.mark.parametrize("kind", [
    pytest.param(kind, id=kind, marks=[
        pytest.mark.clause("LNX-MZC-SETUP-OK", "LNX-MZC-TCP" if kind[:3] == "tcp" else "LNX-MZC-UDP"),
        TCP if kind[:3] == "tcp" else UDP])
    for kind in KINDS])
def test_so_zerocopy_is_accepted(socket_stack: ExitStack, kind):
    """setsockopt(SO_ZEROCOPY, 1) returns 0, and getsockopt reads 1 back."""
    sock = socket_stack.enter_context(socket.socket(*KINDS[kind]))
    set_zerocopy(sock, 1)
    assert zerocopy_option(sock) == 1
