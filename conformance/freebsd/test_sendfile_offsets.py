"""FreeBSD sendfile(2) DESCRIPTION and RETURN VALUES: which part of the file goes out, and what
the call reports in *sbytes.

Sources: sendfile(2) DESCRIPTION (offset, nbytes 0 = to end of file, an offset past the end is
success with 0 bytes, sbytes may be NULL) and BUGS (an unwritable sbytes is not an error);
lib/libc/tests/sys/sendfile_test.c fd_positive_file_v4/v6; sys/kern/kern_sendfile.c
vn_sendfile() (rem = omin(nbytes, size - offset); the socket state is only checked inside the
loop over file data).

Cases: whole file over IPv4 and IPv6; nbytes 0 from a middle offset; nbytes past the end;
offset at and past the end; sbytes NULL; sbytes unwritable; an unconnected socket with nothing to
send. Every check reads the peer to EOF (the sender shuts down after the call), so it sees
exactly what was queued.
"""
import os
import socket

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import sent_bytes

pytestmark = pytest.mark.requires(os="freebsd")

SIZE = 10_000


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(SIZE), os.O_RDONLY)


@pytest.mark.clause("FBSD-SF-REGULAR-FILE")
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_whole_file_reaches_the_peer(src, sf_peer, family):
    """offset 0, nbytes 0: returns 0, *sbytes is the file size, the peer reads the file."""
    peer = sf_peer(family)
    assert sendfile(src, peer.sender.fileno(), 0, 0) == (0, SIZE)
    assert sent_bytes(*peer) == pattern(SIZE)


@pytest.mark.clause("FBSD-SF-NBYTES-ZERO-TO-EOF")
def test_nbytes_zero_sends_from_offset_to_end(src, sf_peer):
    """nbytes 0 from offset 1234: the rest of the file, *sbytes = size - offset."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 1234, 0) == (0, SIZE - 1234)
    assert sent_bytes(*peer) == pattern(SIZE - 1234, start=1234)


@pytest.mark.clause("FBSD-SF-NBYTES-CLAMP")
@pytest.mark.parametrize("nbytes", [SIZE - 99, SIZE, 2**40], ids=["one-past", "size", "huge"])
def test_nbytes_past_the_end_stops_at_the_end(src, sf_peer, nbytes):
    """offset 100 with nbytes reaching past the end: no error, only the bytes the file has."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 100, nbytes) == (0, SIZE - 100)
    assert sent_bytes(*peer) == pattern(SIZE - 100, start=100)


@pytest.mark.clause("FBSD-SF-OFFSET-AT-OR-BEYOND-EOF")
@pytest.mark.parametrize("offset", [SIZE, SIZE + 1, 2**62], ids=["at-eof", "eof+1", "far"])
@pytest.mark.parametrize("nbytes", [0, 10], ids=["nbytes=0", "nbytes=10"])
def test_offset_at_or_past_end_is_success_with_nothing_sent(src, sf_peer, offset, nbytes):
    """An offset at or past the end: returns 0, *sbytes 0, the peer reads nothing."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), offset, nbytes) == (0, 0)
    assert sent_bytes(*peer) == b""


@pytest.mark.clause("FBSD-SF-SBYTES-NULL-OK")
def test_null_sbytes_is_allowed(src, sf_peer):
    """sbytes NULL: the call returns 0 and the data still goes out."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 0, 0, sbytes=False) == (0, None)
    assert sent_bytes(*peer) == pattern(SIZE)


@pytest.mark.clause("FBSD-SF-EFAULT-SBYTES")
def test_unwritable_sbytes_is_not_an_error(src, sf_peer, unmapped_address):
    """sbytes pointing at an unmapped page: no EFAULT (sendfile(2) BUGS), the data goes out."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 0, 0, sbytes=unmapped_address).ret == 0
    assert sent_bytes(*peer) == pattern(SIZE)


@pytest.mark.clause("FBSD-SF-UNCONNECTED-NOTHING-TO-SEND")
@pytest.mark.parametrize("fd_kind, offset", [("file-empty", 0), ("file-rdonly", 64)],
                         ids=["empty-file", "offset-at-eof"])
def test_unconnected_socket_with_nothing_to_send_succeeds(sf_fd, sf_socket, fd_kind, offset):
    """A never-connected TCP socket and no file data: returns 0 with *sbytes 0, because the
    connection is only checked before sending file data."""
    assert sendfile(sf_fd(fd_kind), sf_socket("tcp-unconnected"), offset, 0) == (0, 0)
