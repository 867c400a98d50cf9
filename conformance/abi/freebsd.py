"""FreeBSD ABI facts shared by the FreeBSD bindings (LP64: amd64 and arm64 lay out alike).

Values are from freebsd/freebsd-src sys/sys/socket.h, sys/sys/_timeval.h, sys/sys/_iovec.h and
sys/sys/errno.h; tests/test_freebsd_abi*.py pin them on any OS. At run time on FreeBSD, errno
names resolve through Python's errno module, never through ERRNO below.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import platform

IS_FREEBSD = platform.system() == "FreeBSD"

SOL_SOCKET = 0xffff        # sys/sys/socket.h (Linux: 1)
AF_INET6 = 28              # sys/sys/socket.h (Linux: 10)
SO_ERROR = 0x1007          # sys/sys/socket.h
SO_SNDBUF = 0x1001
SO_RCVBUF = 0x1002
SO_NOSIGPIPE = 0x0800
MSG_DONTWAIT = 0x80
MSG_NOSIGNAL = 0x20000


class Timeval(ctypes.Structure):
    """struct timeval: time_t tv_sec (int64 on LP64), suseconds_t tv_usec (long)."""
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_long)]


class Iovec(ctypes.Structure):
    """struct iovec { void *iov_base; size_t iov_len; }."""
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


# sys/sys/errno.h: #define ENOTCAPABLE 93 (Capsicum). CPython's errno module names it on FreeBSD
# only from 3.11.1, while pyproject.toml allows 3.11.0: every FreeBSD test and fixture takes it
# from here (or through errno_value()), never as errno.ENOTCAPABLE.
ENOTCAPABLE = getattr(_errno, "ENOTCAPABLE", 93)


def errno_value(name: str) -> int:
    """A FreeBSD errno by name, for tables whose rows hold names: Python's errno module, except
    ENOTCAPABLE, which may be missing from it (see above)."""
    return ENOTCAPABLE if name == "ENOTCAPABLE" else getattr(_errno, name)


# sys/sys/errno.h; for the layout self-tests only (Linux numbers differ from 35 upward).
ERRNO = {
    "EPERM": 1, "ENOENT": 2, "EINTR": 4, "EIO": 5, "ENXIO": 6, "EBADF": 9, "ENOMEM": 12,
    "EFAULT": 14, "EBUSY": 16, "EINVAL": 22, "EFBIG": 27, "ESPIPE": 29, "EPIPE": 32,
    "EAGAIN": 35, "ENOTSOCK": 38, "ENOPROTOOPT": 42, "EPROTONOSUPPORT": 43, "EOPNOTSUPP": 45,
    "ENOBUFS": 55, "ENOTCONN": 57, "ETIMEDOUT": 60, "ELOOP": 62, "ENOTCAPABLE": 93,
    "EINTEGRITY": 97,
}
