"""FreeBSD sendfile(2) while the file changes size under a blocked call.

Source: sys/kern/kern_sendfile.c vn_sendfile(): before each pass over the file the vnode's size
is read again; a pass starting at or past the new end finishes the call (return 0, *sbytes what
was sent); a different size recomputes what is left (nbytes 0: up to the new end). FreeBSD's
tests/sys/kern/ssl_sendfile.c truncate and grow check the same through KTLS only.

Setup: a blocking sender with 64 KiB buffers and a receiver that reads nothing until the file
changed, so the call, started in a background thread, has queued at most a few buffers (far less
than NEW_END) when the size changes. The first byte reaching the receiver shows the call is
under way; the test then changes the size and reads everything the call sends.

Cases: shrink a 4 MiB file to 2 MiB; grow a 1 MiB file to 2 MiB (nbytes 0).
"""
import os
import socket

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import (
    SMALL_BUFFER,
    read_to_eof,
    wait_readable,
)
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd")

NEW_END = 2 * 1024 * 1024


@pytest.mark.clause("FBSD-SF-FILE-TRUNCATED-DURING")
@pytest.mark.parametrize("start_size", [2 * NEW_END, NEW_END // 2], ids=["shrink", "grow"])
def test_blocked_call_follows_the_new_end_of_file(make_file, sf_peer, sf_background, start_size):
    """The call returns 0 with *sbytes NEW_END, and the peer reads the file as it is after the
    change: its first NEW_END bytes (zeros past the old end when it grew)."""
    src = make_file(pattern(start_size), os.O_RDWR)
    sender, receiver = sf_peer(buffer=SMALL_BUFFER)
    call = sf_background(lambda: sendfile(src, sender.fileno(), 0, 0))
    assert wait_readable(receiver, ARRIVAL), "the background sendfile sent nothing"
    os.ftruncate(src, NEW_END)
    expected = pattern(min(start_size, NEW_END)) + bytes(max(0, NEW_END - start_size))
    received = recv_exactly(receiver, NEW_END, ARRIVAL)
    assert call.result(ARRIVAL) == (0, NEW_END)
    sender.shutdown(socket.SHUT_WR)
    assert read_to_eof(receiver) == b"", "bytes past the new end of file reached the peer"
    assert received == expected
