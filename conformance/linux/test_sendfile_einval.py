"""sendfile(2) ERRORS, EINVAL and ESPIPE: arguments the kernel rejects before moving data.

Sources: sendfile(2) ERRORS (EINVAL: "Descriptor is not valid or locked, or an mmap(2)-like
operation is not available for in_fd, or count is negative"; "out_fd has the O_APPEND flag
set"; ESPIPE: "offset is not NULL but the input file is not seekable"); fs/read_write.c
do_sendfile() and rw_verify_area(); fs/splice.c splice_direct_to_actor(). Pipes and sockets
used as in_fd hold unread data, so a call that got past its checks would return, not block.
"""
import errno
from typing import NamedTuple

import pytest

from conformance.abi.sendfile import sendfile
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="linux")


class Case(NamedTuple):
    in_kind: str
    out_kind: str
    offset: int | None
    count: int
    errno: int
    clause: str

    def param(self):
        off = "NULL" if self.offset is None else f"{self.offset:#x}"
        return pytest.param(
            self, marks=pytest.mark.clause(self.clause),
            id=f"{errno.errorcode[self.errno]}-in={self.in_kind},out={self.out_kind},"
               f"off={off},count={self.count}")


CASES = [
    Case("file-rdonly", "file-append", None, 1, errno.EINVAL, "LNX-SF-EINVAL-APPEND"),
    Case("file-rdonly", "file-rdwr", -1, 1, errno.EINVAL, "LNX-SF-EINVAL-NEGOFF"),
    Case("file-rdonly", "file-rdwr", None, -1, errno.EINVAL, "LNX-SF-EINVAL-NEGCOUNT"),
    Case("file-rdonly", "file-rdwr", 0, -1, errno.EINVAL, "LNX-SF-EINVAL-NEGCOUNT"),
    Case("file-rdonly", "file-rdwr", 2**63 - 2, 3, errno.EINVAL, "LNX-SF-EINVAL-OFF-WRAP"),
    Case("pipe-read", "file-rdwr", None, 1, errno.EINVAL, "LNX-SF-EINVAL-IN-PIPE"),
    Case("unix-stream", "file-rdwr", None, 1, errno.EINVAL, "LNX-SF-EINVAL-IN-SOCKET"),
    Case("dir", "file-rdwr", None, 1, errno.EINVAL, "LNX-SF-EINVAL-IN-DIR"),
    # An offset on an unseekable in_fd is refused with ESPIPE before any EINVAL check.
    Case("pipe-read", "file-rdwr", 0, 1, errno.ESPIPE, "LNX-SF-ESPIPE"),
    Case("unix-stream", "file-rdwr", 0, 1, errno.ESPIPE, "LNX-SF-ESPIPE"),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_sendfile_rejects_arguments(case: Case, fd_factory):
    """sendfile() refuses the argument combination with the errno its clause names."""
    in_fd, out_fd = fd_factory(case.in_kind), fd_factory(case.out_kind)
    expect_errno(lambda: sendfile(out_fd, in_fd, case.offset, case.count), case.errno,
                 f"sendfile(out={case.out_kind}, in={case.in_kind}, offset={case.offset}, "
                 f"count={case.count})")
