"""FreeBSD sendfile(2) ERRORS: arguments the kernel refuses, and which check wins.

Sources: sendfile(2) ERRORS (lib/libsys/sendfile.2); FreeBSD's lib/libc/tests/sys/sendfile_test.c
(the EBADF, ENOTSOCK, UDP EINVAL, listening ENOTCONN, negative-offset and bad-hdtr cases);
sys/kern/kern_sendfile.c sendfile() (offset, then hdtr copyin, then fget_read on fd) and
vn_sendfile() (fd type, then s lookup and type, then the socket's state inside the loop over
file data); sys/kern/subr_uio.c copyinuio() (iovec count and length limits).

Cases: one row per (fd, s, offset, nbytes, hdtr) situation with the errno its clause names; the
CHECK-ORDER rows pair two defects to show which is detected first. Every fd holds 64 bytes
unless the row says file-empty. A control proves the same kinds make a working call.
"""
import errno
from typing import NamedTuple

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.checks import expect_errno
from conformance.fixtures.freebsd_sendfile import FACTORY_FILE

pytestmark = pytest.mark.requires(os="freebsd")


class Case(NamedTuple):
    fd: str
    s: str
    errno: int
    clause: str
    offset: int = 0
    nbytes: int = 0
    hdtr: str = "none"

    def param(self):
        return pytest.param(
            self, marks=pytest.mark.clause(self.clause),
            id=f"{errno.errorcode[self.errno]}-fd={self.fd},s={self.s},off={self.offset},"
               f"nbytes={self.nbytes},hdtr={self.hdtr}")


F, S = "file-rdonly", "tcp-connected"

CASES = [
    Case(F, S, errno.EINVAL, "FBSD-SF-OFFSET-NEG", offset=-1),
    Case(F, S, errno.EINVAL, "FBSD-SF-OFFSET-NEG", offset=-2**63),
    Case("negative", S, errno.EBADF, "FBSD-SF-EBADF-FD"),
    Case("closed", S, errno.EBADF, "FBSD-SF-EBADF-FD"),
    Case("file-wronly", S, errno.EBADF, "FBSD-SF-EBADF-WRONLY"),
    Case("dir", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case("devnull-rdonly", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case("pipe-read", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case("fifo", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case("unix-stream", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case("kqueue", S, errno.EINVAL, "FBSD-SF-EINVAL-NOTREG"),
    Case(F, "negative", errno.EBADF, "FBSD-SF-EBADF-S"),
    Case(F, "closed", errno.EBADF, "FBSD-SF-EBADF-S"),
    Case(F, "devnull", errno.ENOTSOCK, "FBSD-SF-ENOTSOCK"),
    Case(F, "file", errno.ENOTSOCK, "FBSD-SF-ENOTSOCK"),
    Case(F, "udp-connected", errno.EINVAL, "FBSD-SF-EINVAL-NOTSTREAM"),
    Case(F, "udp6-connected", errno.EINVAL, "FBSD-SF-EINVAL-NOTSTREAM"),
    Case(F, "unix-dgram", errno.EINVAL, "FBSD-SF-EINVAL-NOTSTREAM"),
    Case(F, "unix-seqpacket", errno.EINVAL, "FBSD-SF-EINVAL-NOTSTREAM"),
    Case(F, "tcp-listening", errno.ENOTCONN, "FBSD-SF-ENOTCONN-LISTEN"),
    Case("file-empty", "tcp-listening", errno.ENOTCONN, "FBSD-SF-ENOTCONN-LISTEN"),
    Case(F, "tcp-unconnected", errno.ENOTCONN, "FBSD-SF-ENOTCONN"),
    Case(F, "tcp-shut-wr", errno.EPIPE, "FBSD-SF-EPIPE-SHUTDOWN"),
    Case(F, S, errno.EFAULT, "FBSD-SF-HDTR-EFAULT", hdtr="bad-ptr"),
    Case(F, S, errno.EFAULT, "FBSD-SF-HDTR-EFAULT", hdtr="unmapped-ptr"),
    Case(F, S, errno.EFAULT, "FBSD-SF-HDTR-EFAULT", hdtr="bad-headers"),
    Case(F, S, errno.EFAULT, "FBSD-SF-HDTR-EFAULT", hdtr="bad-trailers"),
    Case(F, S, errno.EINVAL, "FBSD-SF-HDTR-TOO-MANY", hdtr="hdr-over-max"),
    Case(F, S, errno.EINVAL, "FBSD-SF-HDTR-TOO-MANY", hdtr="trl-over-max"),
    Case(F, S, errno.EINVAL, "FBSD-SF-HDTR-TOO-MANY", hdtr="hdr-cnt-neg"),
    Case(F, S, errno.EINVAL, "FBSD-SF-HDTR-TOO-MANY", hdtr="trl-cnt-neg"),
    Case(F, S, errno.EINVAL, "FBSD-SF-HDTR-TOO-MANY", hdtr="hdr-len-overflow"),
    # Two defects each: the first check in sendfile()'s order decides the errno.
    Case("negative", "negative", errno.EINVAL, "FBSD-SF-CHECK-ORDER", offset=-1),
    Case("negative", "negative", errno.EINVAL, "FBSD-SF-CHECK-ORDER", offset=-1, hdtr="bad-ptr"),
    Case("negative", "negative", errno.EFAULT, "FBSD-SF-CHECK-ORDER", hdtr="bad-ptr"),
    Case("negative", "negative", errno.EINVAL, "FBSD-SF-CHECK-ORDER", hdtr="hdr-over-max"),
    Case("file-wronly", "devnull", errno.EBADF, "FBSD-SF-CHECK-ORDER"),
    Case("dir", "negative", errno.EINVAL, "FBSD-SF-CHECK-ORDER"),
    Case("pipe-read", "devnull", errno.EINVAL, "FBSD-SF-CHECK-ORDER"),
    Case(F, "devnull", errno.ENOTSOCK, "FBSD-SF-CHECK-ORDER", offset=10**9),
    Case(F, "udp-connected", errno.EINVAL, "FBSD-SF-CHECK-ORDER", offset=10**9),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_sendfile_rejects_arguments(case: Case, sf_fd, sf_socket, sf_hdtr):
    """sendfile() refuses the combination with the errno its clause names."""
    fd, s, hdtr = sf_fd(case.fd), sf_socket(case.s), sf_hdtr(case.hdtr)
    expect_errno(lambda: sendfile(fd, s, case.offset, case.nbytes, hdtr), case.errno,
                 f"sendfile(fd={case.fd}, s={case.s}, offset={case.offset}, "
                 f"nbytes={case.nbytes}, hdtr={case.hdtr})")


@pytest.mark.clause("FBSD-SF-EINVAL-SCTP")
@pytest.mark.requires(os="freebsd", feature="FREEBSD_SCTP")
def test_sctp_stream_socket_is_rejected(sf_fd, sf_socket):
    """An SCTP one-to-one socket as s fails with EINVAL (sendfile(2) BUGS)."""
    fd, s = sf_fd(F), sf_socket("sctp")
    expect_errno(lambda: sendfile(fd, s, 0, 0), errno.EINVAL, "sendfile to an SCTP socket")


@pytest.mark.clause("FBSD-SF-REGULAR-FILE")
def test_control_the_same_kinds_make_a_working_call(sf_fd, sf_socket, sf_hdtr):
    """Control: file-rdonly to tcp-connected with hdtr none succeeds and sends all 64 bytes,
    so the failures above are not artefacts of broken fixtures."""
    assert sendfile(sf_fd(F), sf_socket(S), 0, 0, sf_hdtr("none")) == (0, len(FACTORY_FILE))
