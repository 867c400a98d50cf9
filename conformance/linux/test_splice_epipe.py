"""splice(2) into a pipe with no readers: EPIPE, and SIGPIPE is raised (not listed in splice(2)
ERRORS).

Sources: fs/splice.c wait_for_space() (file or socket into a pipe) and splice_pipe_to_pipe()
(pipe into a pipe) check the output pipe's readers first and send SIGPIPE. Cases: a file, a pipe
and an AF_UNIX socket, each holding data, spliced into a pipe whose read end is closed. The source
keeps its data. With len 0 nothing is checked, so no signal (fs/splice.c SYSCALL_DEFINE6).
"""
import errno
import os
import signal

import pytest

from conformance.abi.splice import splice
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="linux")

DATA = pattern(10)


@pytest.fixture
def source(request, make_file, make_pipe, make_unix_pair):
    """(fd, read_back) for a source of the kind named by the indirect param, holding DATA;
    read_back() returns what the source still holds."""
    kind = request.param
    if kind == "file":
        fd = make_file(DATA, os.O_RDONLY)
        return fd, lambda: os.read(fd, 64)
    if kind == "pipe":
        r, w = make_pipe()
        os.write(w, DATA)
        os.close(w)
        return r, lambda: os.read(r, 64)
    a, b = make_unix_pair()
    a.sendall(DATA)
    a.close()
    return b.fileno(), lambda: b.recv(64)


@pytest.mark.clause("LNX-SP-EPIPE")
@pytest.mark.parametrize("source", ["file", "pipe", "unix-stream"], indirect=True)
def test_splice_into_widowed_pipe_gives_epipe_and_sigpipe(source, widowed_pipe, blocked_signals):
    """fd_out a pipe whose read end is closed: EPIPE, SIGPIPE raised, the source keeps its data."""
    fd_in, read_back = source
    expect_errno(lambda: splice(fd_in, None, widowed_pipe, None, len(DATA)), errno.EPIPE,
                 "splice into a pipe without readers")
    assert blocked_signals.take(signal.SIGPIPE), "SIGPIPE was not raised"
    assert read_back() == DATA, "the failed splice consumed source data"


@pytest.mark.clause("LNX-SP-LEN0-FIRST")
def test_zero_length_into_widowed_pipe_raises_nothing(make_file, widowed_pipe, blocked_signals):
    """len 0 into a pipe without readers: returns 0 and raises no SIGPIPE."""
    src = make_file(DATA, os.O_RDONLY)
    assert splice(src, None, widowed_pipe, None, 0).count == 0
    assert not blocked_signals.take(signal.SIGPIPE), "SIGPIPE raised by a zero-length splice"
