"""sendfile(2) with an out_fd that cannot take the data: EAGAIN, partial writes, EPIPE.

- EAGAIN: "Nonblocking I/O has been selected using O_NONBLOCK and the write would block"
  (sendfile(2) ERRORS): a full non-blocking pipe;
- a non-blocking TCP socket with some room: the call returns the bytes queued (> 0) instead of
  EAGAIN (fs/splice.c splice_to_socket(): `spliced ?: ret`), and EAGAIN once nothing fits;
- a pipe with no readers: EPIPE, and SIGPIPE is raised (fs/splice.c wait_for_space()).
"""
import errno
import os
import signal
import socket

import pytest

from conformance.abi.sendfile import sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="linux")

# Receiver and sender buffers are pinned small, so a file this large can never fit in flight.
BIG_FILE = 64 * 1024 * 1024
SMALL_BUFFER = 64 * 1024


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(4096), os.O_RDONLY)


def fill_pipe(w: int) -> None:
    chunk = b"\0" * 65536
    while True:
        try:
            os.write(w, chunk)
        except BlockingIOError:
            try:
                os.write(w, b"\0")  # the last partial page slot
            except BlockingIOError:
                return


@pytest.mark.clause("LNX-SF-EAGAIN")
def test_full_nonblocking_pipe_gives_eagain(src, make_pipe):
    """out_fd a full O_NONBLOCK pipe: EAGAIN, and in_fd's offset does not move."""
    _, w = make_pipe(nonblock=True)
    fill_pipe(w)
    expect_errno(lambda: sendfile(w, src, None, 10), errno.EAGAIN, "sendfile into a full pipe")
    assert os.lseek(src, 0, os.SEEK_CUR) == 0


@pytest.fixture
def stalled_tcp(make_tcp_pair):
    """(sender, receiver): small buffers, sender non-blocking, receiver never reads."""
    sender, receiver = make_tcp_pair(socket.AF_INET)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sender.setblocking(False)
    return sender, receiver


@pytest.mark.clause("LNX-SF-PARTIAL-NONBLOCK", "LNX-SF-RET-COUNT")
def test_nonblocking_socket_takes_what_fits_then_eagain(make_file, stalled_tcp):
    """A non-blocking socket gets short counts (> 0) until nothing fits, then EAGAIN."""
    sender, _ = stalled_tcp
    src = make_file(b"", os.O_RDWR)
    os.ftruncate(src, BIG_FILE)
    sent = []
    for _ in range(BIG_FILE // 4096):  # bounded: each successful call moves >= 1 byte
        try:
            sent.append(sendfile(sender.fileno(), src, None, BIG_FILE).sent)
        except BlockingIOError:
            break
    else:
        pytest.fail("sendfile never returned EAGAIN although the receiver reads nothing")
    assert sent, "the first call on an empty socket must queue data, not fail with EAGAIN"
    assert all(0 < n < BIG_FILE for n in sent), f"short counts expected, got {sent[:10]}"
    assert os.lseek(src, 0, os.SEEK_CUR) == sum(sent)


@pytest.mark.clause("LNX-SF-EPIPE-PIPE")
def test_pipe_without_readers_gives_epipe_and_sigpipe(src, make_pipe, blocked_signals):
    """out_fd a pipe whose read end is closed: EPIPE, and SIGPIPE is raised."""
    r, w = make_pipe()
    os.close(r)
    expect_errno(lambda: sendfile(w, src, None, 10), errno.EPIPE, "sendfile into a widowed pipe")
    assert blocked_signals.take(signal.SIGPIPE), "SIGPIPE was not raised"
