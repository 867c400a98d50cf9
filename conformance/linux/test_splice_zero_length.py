"""splice(2) with len 0: the call returns 0 before it checks anything else.

Source: fs/splice.c SYSCALL_DEFINE6(splice) tests `!len` first, before the flags, the descriptor
lookups and everything in __do_splice()/do_splice(). Each row below is an argument set that
fails with len 1 (the control test asserts its errno), and returns 0 with len 0, leaving the
offsets where they were. No peer suite covers it.
"""
import errno
import os
from typing import NamedTuple

import pytest

from conformance.abi.splice import Spliced, splice
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="linux")


class Case(NamedTuple):
    in_kind: str
    off_in: int | None
    out_kind: str
    off_out: int | None
    flags: int
    errno: int  # what the same call gives with len 1
    clause: str  # the clause of that errno

    def param(self, *clauses: str):
        def side(kind, off):
            return kind if off is None else f"{kind}@{off}"
        return pytest.param(
            self, marks=pytest.mark.clause(*(clauses or (self.clause,))),
            id=f"in={side(self.in_kind, self.off_in)},out={side(self.out_kind, self.off_out)},"
               f"flags={self.flags:#x}(len1:{errno.errorcode[self.errno]})")


CASES = [
    Case("negative", None, "negative", None, 0xFFFF, errno.EINVAL, "LNX-SP-EINVAL-FLAGS"),
    Case("negative", None, "pipe-write", None, 0, errno.EBADF, "LNX-SP-EBADF-FD"),
    Case("pipe-read", None, "closed", None, 0, errno.EBADF, "LNX-SP-EBADF-FD"),
    Case("file-wronly", None, "pipe-write", None, 0, errno.EBADF, "LNX-SP-EBADF-MODE"),
    Case("pipe-read", 5, "file-wronly", None, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("file-rdonly", 5, "file-wronly", 7, 0, errno.EINVAL, "LNX-SP-EINVAL-NOPIPE"),
    Case("pipe-read", None, "file-append", None, 0, errno.EINVAL, "LNX-SP-EINVAL-APPEND"),
    Case("file-rdonly", -1, "pipe-write", None, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGOFF"),
    Case("dir", None, "pipe-write", None, 0, errno.EINVAL, "LNX-SP-EINVAL-NOOPS"),
]


def make_pair(fd_factory, case: Case) -> tuple[int, int]:
    """(fd_in, fd_out), with a "closed" fd made last so no later open reuses its number."""
    if case.in_kind == "closed":
        fd_out = fd_factory(case.out_kind)
        return fd_factory(case.in_kind), fd_out
    fd_in = fd_factory(case.in_kind)
    return fd_in, fd_factory(case.out_kind)


@pytest.mark.parametrize("case", [c.param("LNX-SP-LEN0-FIRST") for c in CASES])
def test_zero_length_returns_zero_before_any_check(case: Case, fd_factory):
    """len 0 returns 0 and writes the offsets back unchanged, whatever else is wrong."""
    fd_in, fd_out = make_pair(fd_factory, case)
    assert splice(fd_in, case.off_in, fd_out, case.off_out, 0, case.flags) == Spliced(
        0, case.off_in, case.off_out)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_same_arguments_with_length_one_fail(case: Case, fd_factory):
    """Control: with len 1 the same arguments fail, so each zero-length row skips a real check."""
    fd_in, fd_out = make_pair(fd_factory, case)
    expect_errno(lambda: splice(fd_in, case.off_in, fd_out, case.off_out, 1, case.flags),
                 case.errno, f"splice({case.in_kind} -> {case.out_kind}, len=1)")


@pytest.mark.clause("LNX-SP-LEN0-FIRST", "LNX-SP-OFFNULL-FPOS")
def test_zero_length_between_valid_ends_moves_nothing(fd_factory, make_pipe):
    """A valid file -> pipe pair with len 0: returns 0, the file offset stays, the pipe stays empty."""
    src = fd_factory("file-rdonly")
    r, w = make_pipe(nonblock=True)
    assert splice(src, None, w, None, 0).count == 0
    assert os.lseek(src, 0, os.SEEK_CUR) == 0
    with pytest.raises(BlockingIOError):
        os.read(r, 1)
