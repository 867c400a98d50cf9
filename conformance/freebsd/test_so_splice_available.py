"""SO_SPLICE is there: from FreeBSD 15.0 it is always built in (sys/kern/uipc_socket.c, no
kernel option), so this test is not gated by the SO_SPLICE probe. Unsplicing a fresh TCP
socket answers ENOTCONN (so_unsplice(): not spliced); a kernel answering ENOPROTOOPT fails here
and every other SO_SPLICE test skips naming this one (probe answer Broken,
conformance/probes/freebsd_splice.py). Only a release before 15.0 skips, as evidence of absence.
"""
import errno
import socket

import pytest

from conformance.abi.so_splice import unsplice
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="freebsd", kernel="15.0", because="SO_SPLICE first shipped "
                                  "in FreeBSD 15.0 (getsockopt.2 HISTORY)")


@pytest.mark.clause("FBSD-SPLICE-UNSPLICE-NOT-SPLICED")
def test_unsplice_of_a_fresh_socket_is_enotconn(socket_stack):
    """setsockopt(SO_SPLICE) with sp_fd -1 on a socket that was never spliced: ENOTCONN."""
    sock = socket_stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    expect_errno(lambda: unsplice(sock), errno.ENOTCONN, "unsplice of a fresh TCP socket")
