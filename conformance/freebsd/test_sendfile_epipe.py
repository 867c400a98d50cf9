"""FreeBSD sendfile(2) on a socket that can send no more: EPIPE, no SIGPIPE, and the pending
so_error left alone.

Sources: sendfile(2) ERRORS EPIPE ("The socket peer has closed the connection");
sys/kern/kern_sendfile.c sendfile_wait_generic() (SBS_CANTSENDMORE -> EPIPE is tested before
so_error, and neither posts a signal); tcp_close() -> soisdisconnected() marks a reset socket
unable to send and receive while so_error holds ECONNRESET.

Setup: the peer closes with SO_LINGER {1, 0}, which resets the connection, and the fixture waits
until the sender's poll() reports POLLHUP (the reset has been processed). The shutdown case uses
shutdown(SHUT_WR) on the sender itself. SIGPIPE is blocked for the test so a raised one stays
pending where the test can see it.

Cases: EPIPE after a reset; no SIGPIPE after a reset or a shutdown; SO_ERROR still ECONNRESET
after the EPIPE.
"""
import errno
import os
import signal
import socket

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="freebsd")


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(4096), os.O_RDONLY)


@pytest.mark.clause("FBSD-SF-EPIPE")
def test_reset_connection_gives_epipe(src, sf_reset_peer):
    """The peer reset the connection: sendfile() with file data fails with EPIPE."""
    expect_errno(lambda: sendfile(src, sf_reset_peer.fileno(), 0, 0), errno.EPIPE,
                 "sendfile after the peer's reset")


@pytest.fixture
def cannot_send(request, sf_socket) -> int:
    """A TCP socket that can send no more: its peer reset it, or it was shut down for writing."""
    if request.param == "reset":
        return request.getfixturevalue("sf_reset_peer").fileno()
    return sf_socket("tcp-shut-wr")


@pytest.mark.clause("FBSD-SF-EPIPE-NO-SIGPIPE")
@pytest.mark.parametrize("cannot_send", ["reset", "shutdown"], indirect=True)
def test_epipe_raises_no_sigpipe(src, cannot_send, blocked_signals):
    """EPIPE from the file part, and SIGPIPE is not pending afterwards."""
    expect_errno(lambda: sendfile(src, cannot_send, 0, 0), errno.EPIPE,
                 "sendfile on a socket that can send no more")
    assert not blocked_signals.take(signal.SIGPIPE), "sendfile raised SIGPIPE"


@pytest.mark.clause("FBSD-SF-SOERROR")
def test_epipe_leaves_the_reset_pending_in_so_error(src, sf_reset_peer):
    """EPIPE wins over the pending so_error, which the call does not consume:
    getsockopt(SO_ERROR) afterwards reports ECONNRESET."""
    expect_errno(lambda: sendfile(src, sf_reset_peer.fileno(), 0, 0), errno.EPIPE,
                 "sendfile after the peer's reset")
    pending = sf_reset_peer.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    assert pending == errno.ECONNRESET, (
        f"SO_ERROR after the EPIPE is {errno.errorcode.get(pending, pending)}, "
        f"expected ECONNRESET still pending")
