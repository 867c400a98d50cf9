"""FreeBSD sendfile(2) interrupted by a signal while it waits for socket space: EINTR with the
progress so far in *sbytes, and no restart even under SA_RESTART.

Sources: sendfile(2) ERRORS EINTR ("If specified, the number of bytes successfully sent will be
returned in *sbytes"); sys/kern/kern_sendfile.c sendfile_wait_generic() (sbwait() sleeps
interruptibly; its error ends the call) and vn_sendfile() (ERESTART is turned into EINTR).

Setup: a blocking sender with 64 KiB buffers, a receiver that reads nothing during the call, an
8 MiB file, so the call must sleep after queuing its first buffer. A helper thread sends SIGUSR1
to the test's thread every INTERRUPT_INTERVAL seconds until the call returns (a signal that
lands before the sleep is followed by one that lands during it); should the call never return,
the helper closes the receiver after ARRIVAL seconds so the call ends with another errno and the
test fails with it.

Cases: handler without SA_RESTART; handler with SA_RESTART.
"""
import errno
import socket

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import BIG_FILE, SMALL_BUFFER, read_to_eof

pytestmark = pytest.mark.requires(os="freebsd")


@pytest.mark.parametrize("restart", [
    pytest.param(False, id="no-SA_RESTART", marks=pytest.mark.clause("FBSD-SF-EINTR")),
    pytest.param(True, id="SA_RESTART", marks=pytest.mark.clause("FBSD-SF-EINTR-NO-RESTART")),
])
def test_signal_ends_a_blocked_call_with_eintr_and_partial_sbytes(sf_big_file, sf_peer,
                                                                   sf_interrupter, restart):
    """EINTR, 0 < *sbytes < file size, and the peer reads exactly those *sbytes bytes."""
    sender, receiver = sf_peer(buffer=SMALL_BUFFER)
    with sf_interrupter(restart=restart, on_give_up=receiver.close) as pacer:
        exc = expect_errno(lambda: sendfile(sf_big_file, sender.fileno(), 0, 0), errno.EINTR,
                           f"blocking sendfile hit by SIGUSR1 (SA_RESTART={restart})")
    assert not pacer.gave_up
    assert exc.sbytes is not None and 0 < exc.sbytes < BIG_FILE, f"*sbytes = {exc.sbytes}"
    sender.shutdown(socket.SHUT_WR)
    assert read_to_eof(receiver) == pattern(exc.sbytes)
