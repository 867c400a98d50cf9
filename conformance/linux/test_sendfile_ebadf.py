"""sendfile(2) ERRORS, EBADF: an fd that is not open, or not open for the needed access.

"EBADF: The input file was not opened for reading or the output file was not opened for
writing" (sendfile(2) ERRORS); an fd that is not open at all gives EBADF too (fs/read_write.c
do_sendfile(), fdget()). Prior art: LTP sendfile03 (in -1, out -1, in O_WRONLY, out O_RDONLY);
gVisor AppendCheckOrdering for the order of the access-mode and O_APPEND checks.
"""
import errno
import os
from typing import NamedTuple

import pytest

from conformance.abi.sendfile import sendfile
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
    Case("negative", "file-wronly", "LNX-SF-EBADF-IN-INVALID"),
    Case("closed", "file-wronly", "LNX-SF-EBADF-IN-INVALID"),
    Case("file-rdonly", "negative", "LNX-SF-EBADF-OUT-INVALID"),
    Case("file-rdonly", "closed", "LNX-SF-EBADF-OUT-INVALID"),
    Case("file-wronly", "file-wronly", "LNX-SF-EBADF-IN-WRONLY"),
    Case("file-rdonly", "file-rdonly", "LNX-SF-EBADF-OUT-RDONLY"),
    # O_RDONLY|O_APPEND out: the access-mode check comes before the O_APPEND (EINVAL) check.
    Case("file-rdonly", "file-rdonly-append", "LNX-SF-EBADF-BEFORE-APPEND"),
]


@pytest.mark.parametrize("case", [c.param() for c in EBADF_CASES])
def test_sendfile_fails_with_ebadf(case: Case, fd_factory):
    """sendfile() with a bad in_fd or out_fd fails with EBADF."""
    in_fd, out_fd = fd_factory(case.in_kind), fd_factory(case.out_kind)
    expect_errno(lambda: sendfile(out_fd, in_fd, None, 1), errno.EBADF,
                 f"sendfile(out={case.out_kind}, in={case.in_kind})")


@pytest.mark.clause("LNX-SF-OUT-REGULAR")
def test_sendfile_valid_pair_succeeds(fd_factory):
    """Control: the factory's readable and writable files make a pair sendfile() accepts (a
    regular out_fd takes the byte at its offset), so the EBADF rows fail because of the fd under test, not
    because of broken setup."""
    in_fd, out_fd = fd_factory("file-rdonly"), fd_factory("file-wronly")
    assert sendfile(out_fd, in_fd, None, 1).sent == 1
    assert os.lseek(out_fd, 0, os.SEEK_CUR) == 1
