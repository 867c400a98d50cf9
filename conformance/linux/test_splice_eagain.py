"""splice(2) ERRORS, EAGAIN on the pipe side: "SPLICE_F_NONBLOCK was specified in flags or one of
the file descriptors had been marked as nonblocking (O_NONBLOCK), and the operation would block."

Each scenario would block on a pipe: an empty input pipe that still has a writer (to a file, a
pipe, a socket), or a full output pipe (from a file, a pipe, a socket). Each is run with
SPLICE_F_NONBLOCK, and with O_NONBLOCK on a pipe end instead (fs/splice.c do_splice(): the input
pipe's flag for pipe -> file, the output pipe's for file -> pipe, either for pipe -> pipe).
Expected: EAGAIN at once, and the source keeps its data. Peer: gVisor NonBlocking.
"""
import errno
import fcntl
import os
import struct
import termios
from collections.abc import Callable
from typing import NamedTuple

import pytest

from conformance.abi.splice import SPLICE_F_NONBLOCK, splice
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.pipes import fill_pipe

pytestmark = pytest.mark.requires(os="linux")

DATA = pattern(10)


class Ends(NamedTuple):
    fd_in: int
    fd_out: int
    in_pipe: int | None  # the pipe end that may carry O_NONBLOCK instead of the flag
    out_pipe: int | None
    source_left: Callable[[], int]  # bytes still waiting at the source


def queued(fd: int) -> int:
    """Bytes waiting to be read from a pipe or socket (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


@pytest.fixture
def scenario(request, make_pipe, make_file, make_unix_pair) -> Ends:
    """The two ends of a splice that would block on a pipe (indirect param: scenario name)."""
    def empty_pipe_to(out: int, out_is_pipe: bool = False) -> Ends:
        r, _ = make_pipe()  # the write end stays open: no EOF, the read would block
        return Ends(r, out, r, out if out_is_pipe else None, lambda: 0)

    def to_full_pipe(fd_in: int, left: Callable[[], int], in_is_pipe: bool = False) -> Ends:
        _, w = make_pipe()
        fill_pipe(w)
        return Ends(fd_in, w, fd_in if in_is_pipe else None, w, left)

    def file_source() -> tuple[int, Callable[[], int]]:
        fd = make_file(DATA, os.O_RDONLY)
        return fd, lambda: len(DATA) - os.lseek(fd, 0, os.SEEK_CUR)

    def pipe_source() -> tuple[int, Callable[[], int]]:
        r, w = make_pipe()
        os.write(w, DATA)
        return r, lambda: queued(r)

    def socket_source() -> tuple[int, Callable[[], int]]:
        a, b = make_unix_pair()
        a.sendall(DATA)
        return b.fileno(), lambda: queued(b.fileno())

    builders = {
        "empty-pipe-to-file": lambda: empty_pipe_to(make_file(b"")),
        "empty-pipe-to-pipe": lambda: empty_pipe_to(make_pipe()[1], out_is_pipe=True),
        "empty-pipe-to-socket": lambda: empty_pipe_to(make_unix_pair()[0].fileno()),
        "file-to-full-pipe": lambda: to_full_pipe(*file_source()),
        "pipe-to-full-pipe": lambda: to_full_pipe(*pipe_source(), in_is_pipe=True),
        "socket-to-full-pipe": lambda: to_full_pipe(*socket_source()),
    }
    return builders[request.param]()


class Case(NamedTuple):
    scenario: str
    nonblock: str  # "flag", "O_NONBLOCK-on-in" or "O_NONBLOCK-on-out"
    clause: str

    def param(self):
        return pytest.param(self.scenario, self, id=f"{self.scenario},{self.nonblock}",
                            marks=pytest.mark.clause(self.clause))


CASES = [
    Case("empty-pipe-to-file", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("empty-pipe-to-pipe", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("empty-pipe-to-socket", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("file-to-full-pipe", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("pipe-to-full-pipe", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("socket-to-full-pipe", "flag", "LNX-SP-EAGAIN-FLAG"),
    Case("empty-pipe-to-file", "O_NONBLOCK-on-in", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("empty-pipe-to-pipe", "O_NONBLOCK-on-in", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("empty-pipe-to-pipe", "O_NONBLOCK-on-out", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("empty-pipe-to-socket", "O_NONBLOCK-on-in", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("file-to-full-pipe", "O_NONBLOCK-on-out", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("pipe-to-full-pipe", "O_NONBLOCK-on-in", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("pipe-to-full-pipe", "O_NONBLOCK-on-out", "LNX-SP-EAGAIN-ONONBLOCK"),
    Case("socket-to-full-pipe", "O_NONBLOCK-on-out", "LNX-SP-EAGAIN-ONONBLOCK"),
]


@pytest.mark.parametrize("scenario,case", [c.param() for c in CASES], indirect=["scenario"])
def test_pipe_side_that_would_block_gives_eagain(scenario: Ends, case: Case):
    """The splice fails with EAGAIN instead of blocking, and the source keeps its data."""
    flags = 0
    if case.nonblock == "flag":
        flags = SPLICE_F_NONBLOCK
    else:
        os.set_blocking(scenario.in_pipe if case.nonblock.endswith("in") else scenario.out_pipe,
                        False)
    before = scenario.source_left()
    expect_errno(lambda: splice(scenario.fd_in, None, scenario.fd_out, None, len(DATA), flags),
                 errno.EAGAIN, f"splice that would block ({case.scenario}, {case.nonblock})")
    assert scenario.source_left() == before, "a splice that failed with EAGAIN moved data"
