"""FreeBSD sendfile(2) sources and destinations beyond a regular file and TCP: shared memory
objects, AF_UNIX stream sockets, and the order of data against a following write(2).

Sources: sendfile(2) DESCRIPTION ("a regular file or shared memory object", "out a stream
socket") and IMPLEMENTATION NOTES (the order of data in the socket is preserved);
lib/libc/tests/sys/sendfile_test.c fd_positive_shm_v4/v6; sys/kern/kern_sendfile.c
sendfile_swapin() (a page the pager does not have is zero-filled); sys/kern/uipc_usrreq.c
uipc_sendfile_wait() and uipc_sendfile() (unix(4) stream sockets have their own path).

Cases: named and SHM_ANON objects holding data; an SHM_ANON object with one written run between
never-touched pages; a unix stream socketpair, with and without hdtr; a write(2) right after the
call.
"""
import os

import pytest

from conformance.abi.freebsd_sendfile import hdtr, sendfile
from conformance.abi.memory import PAGE_SIZE
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import sent_bytes

pytestmark = pytest.mark.requires(os="freebsd")

SIZE = 5000


@pytest.mark.clause("FBSD-SF-SHM")
@pytest.mark.parametrize("named", [False, True], ids=["SHM_ANON", "named"])
def test_shm_object_contents_reach_the_peer(sf_shm, sf_peer, named):
    """A shm object written with write(2): returns 0, the peer reads its bytes."""
    fd = sf_shm(SIZE, named=named, writes=((0, pattern(SIZE)),))
    peer = sf_peer()
    assert sendfile(fd, peer.sender.fileno(), 0, 0) == (0, SIZE)
    assert sent_bytes(*peer) == pattern(SIZE)


@pytest.mark.clause("FBSD-SF-SHM-SPARSE")
def test_unwritten_shm_pages_are_sent_as_zeros(sf_shm, sf_peer):
    """Three pages of which only 100 bytes inside the second were written: zeros around them."""
    run = pattern(100)
    fd = sf_shm(3 * PAGE_SIZE, writes=((PAGE_SIZE + 7, run),))
    expected = bytes(PAGE_SIZE + 7) + run + bytes(2 * PAGE_SIZE - 107)
    peer = sf_peer()
    assert sendfile(fd, peer.sender.fileno(), 0, 0) == (0, 3 * PAGE_SIZE)
    assert sent_bytes(*peer) == expected


@pytest.mark.clause("FBSD-SF-UNIX-STREAM")
@pytest.mark.parametrize("with_hdtr", [False, True], ids=["file-only", "hdtr"])
def test_unix_stream_socket_is_a_destination(make_file, make_unix_pair, with_hdtr):
    """A connected AF_UNIX SOCK_STREAM socket: returns 0, the peer reads the file (and the
    header and trailer around it)."""
    src = make_file(pattern(SIZE), os.O_RDONLY)
    sender, receiver = make_unix_pair()
    head, tail = (b"head:", b":tail") if with_hdtr else (b"", b"")
    layout = hdtr([head], [tail]) if with_hdtr else None
    expected = head + pattern(SIZE) + tail
    assert sendfile(src, sender.fileno(), 0, 0, layout) == (0, len(expected))
    assert sent_bytes(sender, receiver) == expected


@pytest.mark.clause("FBSD-SF-ORDER-PRESERVED")
def test_write_after_sendfile_arrives_after_the_file(make_file, sf_peer):
    """write(2) right after sendfile() returns: its bytes follow the file data on the wire."""
    src = make_file(pattern(4 * PAGE_SIZE + 5), os.O_RDONLY)
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 0, 0).ret == 0
    assert os.write(peer.sender.fileno(), b"AFTER") == 5
    assert sent_bytes(*peer) == pattern(4 * PAGE_SIZE + 5) + b"AFTER"
