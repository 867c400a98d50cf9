"""FreeBSD sendfile(2) on a non-blocking socket that cannot take the whole file: EAGAIN with
partial progress in *sbytes, trailers left out, and what CPython's os.sendfile makes of it.

Sources: sendfile(2) DESCRIPTION ("may send fewer bytes than requested ... the number of bytes
successfully written is returned in *sbytes ... and the error EAGAIN is returned") and ERRORS
EAGAIN; sys/kern/kern_sendfile.c vn_sendfile() (a failing pass jumps past the trailer writev)
and sendfile_wait_generic() (a pass proceeds only with room for the rest or for the low-water
mark); CPython Modules/posixmodule.c os_sendfile_impl().

Setup: the sender's SO_SNDBUF and the receiver's SO_RCVBUF are pinned to 64 KiB (which turns
buffer autosizing off) and the receiver reads nothing until the call returned, so an 8 MiB file
can never be queued whole. Afterwards the sender shuts down and the receiver reads to EOF:
exactly the bytes the kernel queued.

Cases: the first call queues some bytes then fails with EAGAIN; repeated calls end with EAGAIN
and *sbytes 0 once the buffer is full; headers count, trailers are skipped; os.sendfile returns
a count where the system call failed.
"""
import errno
import os
import socket

import pytest

from conformance.abi.freebsd_sendfile import hdtr, sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import BIG_FILE, SMALL_BUFFER, read_to_eof

pytestmark = pytest.mark.requires(os="freebsd")

# Each call that makes progress queues at least the low-water mark (SO_SNDBUF / 2), and at most
# a few buffers' worth fit, so this bound on calls is never reached by a conforming kernel.
MAX_CALLS = 1000


@pytest.fixture
def peer(sf_peer):
    return sf_peer(buffer=SMALL_BUFFER, nonblocking=True)


def queued(peer) -> bytes:
    peer.sender.shutdown(socket.SHUT_WR)
    return read_to_eof(peer.receiver)


@pytest.mark.clause("FBSD-SF-EAGAIN-NB")
def test_first_call_queues_part_then_fails_with_eagain(sf_big_file, peer):
    """EAGAIN after partial progress: 0 < *sbytes < file size, and the peer gets exactly
    those first *sbytes bytes of the file."""
    exc = expect_errno(lambda: sendfile(sf_big_file, peer.sender.fileno(), 0, 0), errno.EAGAIN,
                       "non-blocking sendfile of 8 MiB into 64 KiB buffers")
    assert exc.sbytes is not None and 0 < exc.sbytes < BIG_FILE, f"*sbytes = {exc.sbytes}"
    assert queued(peer) == pattern(exc.sbytes)


@pytest.mark.clause("FBSD-SF-EAGAIN-NB")
def test_full_socket_gives_eagain_with_zero_sbytes(sf_big_file, peer):
    """Calls continuing from *sbytes each fail with EAGAIN until one queues nothing (*sbytes
    0); the peer then holds exactly the sum of all *sbytes, in file order."""
    offset, progress = 0, []
    for _ in range(MAX_CALLS):
        exc = expect_errno(lambda at=offset: sendfile(sf_big_file, peer.sender.fileno(), at, 0),
                           errno.EAGAIN, f"non-blocking sendfile from offset {offset}")
        assert exc.sbytes is not None, "EAGAIN without *sbytes written back"
        if exc.sbytes == 0:
            break
        progress.append(exc.sbytes)
        offset += exc.sbytes
    else:
        pytest.fail(f"no EAGAIN with *sbytes 0 after {MAX_CALLS} calls: {progress[:10]}...")
    assert progress, "the first call on an empty socket queued nothing"
    assert queued(peer) == pattern(offset)


@pytest.mark.clause("FBSD-SF-TRL-SKIPPED-ON-ERROR")
def test_eagain_counts_the_header_and_skips_the_trailer(sf_big_file, peer):
    """With a header and a trailer: EAGAIN, *sbytes = header + file bytes queued, the peer
    reads the header and that much file, and never the trailer."""
    layout = hdtr([b"HEADER"], [b"TRAILER"])
    exc = expect_errno(lambda: sendfile(sf_big_file, peer.sender.fileno(), 0, 0, layout),
                       errno.EAGAIN, "non-blocking sendfile with hdtr")
    assert exc.sbytes is not None and exc.sbytes > len(b"HEADER"), f"*sbytes = {exc.sbytes}"
    assert queued(peer) == b"HEADER" + pattern(exc.sbytes - len(b"HEADER"))


@pytest.mark.clause("FBSD-SF-PYTHON-MASKS-EAGAIN")
def test_os_sendfile_returns_the_partial_count(sf_big_file, peer):
    """os.sendfile() on the same setup returns a count (0 < n < file size) instead of raising
    BlockingIOError, and the peer gets those n bytes."""
    n = os.sendfile(peer.sender.fileno(), sf_big_file, 0, BIG_FILE)
    assert 0 < n < BIG_FILE
    assert queued(peer) == pattern(n)
