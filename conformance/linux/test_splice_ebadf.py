"""splice(2) ERRORS, EBADF: "One or both file descriptors are not valid, or do not have proper
read-write mode."

Cases: fd_in or fd_out not open (-1, or a closed fd); fd_in not open for reading (a file opened
O_WRONLY, the write end of a pipe); fd_out not open for writing (a file opened O_RDONLY, the read
end of a pipe). Ordering (fs/splice.c do_splice()): the access mode is checked before the O_APPEND
and neither-is-a-pipe EINVAL checks. Prior art: LTP splice03 cases 1-3.
"""
import errno
import os
from typing import NamedTuple

import pytest

from conformance.abi.splice import splice
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="linux")


class Case(NamedTuple):
    in_kind: str
    out_kind: str
    clause: str

    def param(self):
        return pytest.param(self, id=f"in={self.in_kind},out={self.out_kind}",
                            marks=pytest.mark.clause(self.clause))


EBADF_CASES = [
    Case("negative", "pipe-write", "LNX-SP-EBADF-FD"),
    Case("closed", "pipe-write", "LNX-SP-EBADF-FD"),
    Case("pipe-read", "negative", "LNX-SP-EBADF-FD"),
    Case("pipe-read", "closed", "LNX-SP-EBADF-FD"),
    Case("negative", "negative", "LNX-SP-EBADF-FD"),
    Case("file-wronly", "pipe-write", "LNX-SP-EBADF-MODE"),
    Case("pipe-write", "file-wronly", "LNX-SP-EBADF-MODE"),
    Case("pipe-read", "file-rdonly", "LNX-SP-EBADF-MODE"),
    Case("file-rdonly", "pipe-read", "LNX-SP-EBADF-MODE"),
    # An unwritable O_APPEND target: the access mode is checked before O_APPEND (EINVAL).
    Case("pipe-read", "file-rdonly-append", "LNX-SP-EBADF-MODE"),
    # Neither end a pipe and fd_in unreadable: the access mode is checked first (not EINVAL).
    Case("file-wronly", "file-rdwr", "LNX-SP-EBADF-MODE"),
]


def make_pair(fd_factory, in_kind: str, out_kind: str) -> tuple[int, int]:
    """(fd_in, fd_out). A "closed" fd is made last: its number is free, and the next fd
    opened would take it (a closed fd_in would silently become fd_out's pipe or file)."""
    if in_kind == "closed":
        fd_out = fd_factory(out_kind)
        return fd_factory(in_kind), fd_out
    fd_in = fd_factory(in_kind)
    return fd_in, fd_factory(out_kind)


@pytest.mark.parametrize("case", [c.param() for c in EBADF_CASES])
def test_splice_fails_with_ebadf(case: Case, fd_factory):
    """splice() with an fd that is not open, or not open in the needed mode, fails with EBADF."""
    fd_in, fd_out = make_pair(fd_factory, case.in_kind, case.out_kind)
    expect_errno(lambda: splice(fd_in, None, fd_out, None, 1), errno.EBADF,
                 f"splice(in={case.in_kind}, out={case.out_kind}, len=1)")


@pytest.mark.clause("LNX-SP-OFFNULL-FPOS")
@pytest.mark.parametrize("in_kind,out_kind", [("pipe-read", "file-wronly"),
                                              ("file-rdonly", "pipe-write")],
                         ids=["pipe-to-file", "file-to-pipe"])
def test_splice_valid_pair_succeeds(fd_factory, in_kind, out_kind):
    """Control: the factory's readable and writable ends make pairs splice() accepts, so the
    EBADF rows fail because of the fd under test, not because of broken setup; the file side's
    offset (NULL passed) advances by the byte moved."""
    fd_in, fd_out = fd_factory(in_kind), fd_factory(out_kind)
    assert splice(fd_in, None, fd_out, None, 1).count == 1
    file_fd = fd_out if in_kind.startswith("pipe") else fd_in
    assert os.lseek(file_fd, 0, os.SEEK_CUR) == 1
