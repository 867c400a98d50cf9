"""splice(2) ERRORS, EINVAL and ESPIPE: argument combinations the kernel rejects before moving data.

Sources: splice(2) ERRORS (EINVAL: the target does not support splicing, the target is opened in
append mode, neither descriptor is a pipe, an offset for a non-seekable descriptor, the same pipe
at both ends; ESPIPE: an offset given for a pipe); fs/splice.c SYSCALL_DEFINE6(splice),
__do_splice(), do_splice(); fs/read_write.c rw_verify_area() for negative offsets, offset
overflow and a length with the sign bit set. Pipes and sockets used as fd_in hold unread data and
pipes used as fd_out have room, so a call that got past its checks would return, not block.
"""
import errno
import os
from typing import NamedTuple

import pytest

from conformance.abi.splice import SPLICE_F_MOVE, splice
from conformance.abi.zerocopy import SPLICE_F_ZC
from conformance.checks import expect_errno

pytestmark = pytest.mark.requires(os="linux")

OFF_MAX = 2**63 - 1


class Case(NamedTuple):
    in_kind: str
    off_in: int | None
    out_kind: str
    off_out: int | None
    length: int
    flags: int
    errno: int
    clause: str

    def param(self):
        def side(kind, off):
            return kind if off is None else f"{kind}@{off:#x}"
        marks = [pytest.mark.clause(self.clause)]
        if self.flags & SPLICE_F_ZC:  # accepted by design where the user declared the RFC
            marks.append(pytest.mark.requires(feature="UPSTREAM_SPLICE_FLAGS"))
        return pytest.param(
            self, marks=marks,
            id=f"{errno.errorcode[self.errno]}-in={side(self.in_kind, self.off_in)},"
               f"out={side(self.out_kind, self.off_out)},len={self.length},flags={self.flags:#x}")


CASES = [
    # Flags are checked before the descriptors. Rows with 0x10 (the RFC's SPLICE_F_ZC) do not
    # apply where the user declared a kernel carrying the RFC (--sendfile2-nr, --splice-f-zc).
    Case("pipe-read", None, "file-wronly", None, 1, 0x10, errno.EINVAL, "LNX-SP-EINVAL-FLAGS"),
    Case("pipe-read", None, "file-wronly", None, 1, 0x10 | SPLICE_F_MOVE, errno.EINVAL,
         "LNX-SP-EINVAL-FLAGS"),
    Case("pipe-read", None, "file-wronly", None, 1, 0x80000000, errno.EINVAL,
         "LNX-SP-EINVAL-FLAGS"),
    Case("negative", None, "negative", None, 1, 0x10, errno.EINVAL, "LNX-SP-EINVAL-FLAGS"),
    Case("file-rdonly", None, "file-wronly", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOPIPE"),
    Case("file-rdonly", 0, "file-wronly", 0, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOPIPE"),
    Case("unix-stream", None, "file-wronly", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOPIPE"),
    Case("file-rdonly", None, "unix-stream", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOPIPE"),
    Case("pipe-read", None, "file-append", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-APPEND"),
    Case("pipe-read", None, "file-append", 0, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-APPEND"),
    Case("pipe-read", None, "unix-stream", 0, 1, 0, errno.EINVAL,
         "LNX-SP-EINVAL-OFF-NONSEEKABLE"),
    Case("unix-stream", 0, "pipe-write", None, 1, 0, errno.EINVAL,
         "LNX-SP-EINVAL-OFF-NONSEEKABLE"),
    Case("file-rdonly", -1, "pipe-write", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGOFF"),
    Case("pipe-read", None, "file-wronly", -1, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGOFF"),
    Case("file-rdonly", OFF_MAX - 1, "pipe-write", None, 3, 0, errno.EINVAL,
         "LNX-SP-EINVAL-OFF-WRAP"),
    Case("pipe-read", None, "file-wronly", OFF_MAX - 1, 3, 0, errno.EINVAL,
         "LNX-SP-EINVAL-OFF-WRAP"),
    Case("file-rdonly", None, "pipe-write", None, -1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGLEN"),
    Case("pipe-read", None, "file-wronly", None, -1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGLEN"),
    Case("unix-stream", None, "pipe-write", None, -1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGLEN"),
    Case("pipe-read", None, "unix-stream", None, -1, 0, errno.EINVAL, "LNX-SP-EINVAL-NEGLEN"),
    Case("dir", None, "pipe-write", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOOPS"),
    Case("pipe-read", None, "eventfd", None, 8, 0, errno.EINVAL, "LNX-SP-EINVAL-NOOPS"),
    Case("pipe-read", None, "devfull-write", None, 1, 0, errno.EINVAL, "LNX-SP-EINVAL-NOOPS"),
    # An offset on a pipe end is refused with ESPIPE, before the access mode is looked at.
    Case("pipe-read", 0, "file-wronly", None, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("file-rdonly", None, "pipe-write", 0, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("pipe-read", 0, "pipe-write", None, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("pipe-read", None, "pipe-write", 0, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("pipe-read", -1, "file-wronly", None, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
    Case("pipe-write", 0, "file-wronly", None, 1, 0, errno.ESPIPE, "LNX-SP-ESPIPE-PIPEOFF"),
]


@pytest.fixture
def make_fd(fd_factory, make_eventfd, open_path):
    """fd_factory's kinds plus descriptors that lack splice methods."""
    extra = {"eventfd": make_eventfd,
             "devfull-write": lambda: open_path("/dev/full", os.O_WRONLY)}
    return lambda kind: extra[kind]() if kind in extra else fd_factory(kind)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_splice_rejects_arguments(case: Case, make_fd):
    """splice() refuses the argument combination with the errno its clause names."""
    fd_in, fd_out = make_fd(case.in_kind), make_fd(case.out_kind)
    expect_errno(
        lambda: splice(fd_in, case.off_in, fd_out, case.off_out, case.length, case.flags),
        case.errno,
        f"splice(in={case.in_kind}, off_in={case.off_in}, out={case.out_kind}, "
        f"off_out={case.off_out}, len={case.length}, flags={case.flags:#x})")


@pytest.mark.clause("LNX-SP-EINVAL-SAMEPIPE")
def test_both_ends_of_one_pipe_give_einval(make_pipe):
    """fd_in the read end and fd_out the write end of the same pipe (holding data): EINVAL."""
    r, w = make_pipe()
    os.write(w, b"data")
    expect_errno(lambda: splice(r, None, w, None, 4), errno.EINVAL,
                 "splice from a pipe into itself")
    assert os.read(r, 16) == b"data", "the refused call must leave the pipe's data in place"
