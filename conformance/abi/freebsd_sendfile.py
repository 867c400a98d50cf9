"""FreeBSD sendfile(2), struct sf_hdtr, the SF_* flags, and the Capsicum and POSIX shm calls
the FreeBSD sendfile suite needs.

    int sendfile(int fd, int s, off_t offset, size_t nbytes,
                 struct sf_hdtr *hdtr, off_t *sbytes, int flags);

Values and layouts are from freebsd/freebsd-src: sys/sys/socket.h (struct sf_hdtr, SF_*,
SF_FLAGS), sys/sys/uio.h (UIO_MAXIOV), sys/sys/capsicum.h and sys/sys/caprights.h
(cap_rights_t, CAPRIGHT), sys/sys/mman.h (SHM_ANON); tests/test_freebsd_sendfile_abi.py pins
every one of them on any OS. amd64 and arm64 are both LP64 and lay everything out alike
(sf_hdtr 32 bytes: pointers at 0 and 16, the two int counts at 8 and 24, each followed by 4
bytes of padding); i386 and armv7 differ (sf_hdtr 16 bytes, iovec 8) and are not supported.

Why ctypes and not os.sendfile: CPython's os.sendfile on FreeBSD returns the byte count instead
of raising when the call fails with EAGAIN or EBUSY after partial progress, retries EINTR from
the same offset, and cannot pass a bad hdtr or sbytes pointer.

Errors and partial progress: sendfile() returns Sent(ret, sbytes) on success and raises
SendfileError on failure. SendfileError is an OSError carrying the real errno (so
checks.expect_errno works unchanged) plus .sbytes: *sbytes as the kernel left it, which the
kernel fills in on EAGAIN, EBUSY and EINTR with the bytes it queued before failing. sbytes is
None when NULL was passed or when the kernel never wrote *sbytes back (a negative offset, an
unreadable hdtr or a bad fd fail the call before it reaches the copy-out; the binding presets
*sbytes to -1, a value the kernel never writes). The transcript entry shows the value as the argument "*sbytes".

Symbols are looked up on first use and only on FreeBSD: glibc also exports a `sendfile`, with
Linux's four-argument signature, so calling through it with these arguments would be wrong,
not merely unsupported. Off FreeBSD every call raises NotFreeBSD before reaching libc.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from conformance.abi import transcript
from conformance.abi.freebsd import ENOTCAPABLE, IS_FREEBSD, Iovec  # noqa: F401 (re-exported)
from conformance.abi.libc import LIBC, c_off_t, check

# sys/sys/socket.h
SF_NODISKIO = 0x00000001
SF_MNOWAIT = 0x00000002        # obsolete: the kernel never reads it
SF_SYNC = 0x00000004           # deprecated in 15 (gone_in(16)), removed from sendfile.2 in 2025
SF_USER_READAHEAD = 0x00000008
SF_NOCACHE = 0x00000010
SF_READAHEAD_SHIFT = 16        # SF_FLAGS(rh, flags) = ((rh) << 16) | (flags); the kernel's
                               # SF_READAHEAD(flags) is (flags) >> 16

UIO_MAXIOV = 1024              # sys/sys/uio.h: copyinuio() refuses more iovecs with EINVAL
SSIZE_MAX = 2**63 - 1          # LP64
SIZE_MAX = 2**64 - 1
SHM_ANON = 1                   # sys/sys/mman.h: #define SHM_ANON ((char *)1)


_UNWRITTEN = -1                # preset of *sbytes; the kernel only ever stores a count >= 0


def SF_FLAGS(readahead: int, flags: int) -> int:
    """The flags argument: readahead pages in the upper 16 bits, SF_* bits in the lower 16.

    The header does no masking; this helper refuses values that would spill into the other
    half. readahead >= 0x8000 sets the sign bit of the C int (the kernel then reads a negative
    readahead), so the suite stays below it.
    """
    if not 0 <= readahead <= 0xFFFF or not 0 <= flags <= 0xFFFF:
        raise ValueError(f"SF_FLAGS({readahead}, {flags:#x}): each half must fit in 16 bits")
    return (readahead << SF_READAHEAD_SHIFT) | flags


class SfHdtr(ctypes.Structure):
    """struct sf_hdtr { struct iovec *headers; int hdr_cnt; struct iovec *trailers; int trl_cnt; }.

    The pointers are void * here so tests can aim them at any address.
    """
    _fields_ = [("headers", ctypes.c_void_p), ("hdr_cnt", ctypes.c_int),
                ("trailers", ctypes.c_void_p), ("trl_cnt", ctypes.c_int)]


class IovecArray:
    """A C array of struct iovec and the buffers it points into, kept alive together."""

    def __init__(self, entries: Sequence[tuple[int, int]], keep: Sequence[Any] = ()) -> None:
        self._keep = list(keep)
        self.array = (Iovec * max(len(entries), 1))()
        for i, (base, length) in enumerate(entries):
            self.array[i].iov_base = base
            self.array[i].iov_len = length
        self.count = len(entries)
        self.lengths = [length for _, length in entries]

    @property
    def address(self) -> int:
        return ctypes.addressof(self.array)


def iovecs(chunks: Sequence[bytes]) -> IovecArray:
    """iovecs over copies of chunks (a zero-length chunk still gets a valid iov_base)."""
    buffers = [ctypes.create_string_buffer(c, max(len(c), 1)) for c in chunks]
    return IovecArray([(ctypes.addressof(b), len(c)) for b, c in zip(buffers, chunks)], buffers)


def iovecs_raw(lengths: Sequence[int]) -> IovecArray:
    """iovecs whose lengths are taken as given (e.g. SSIZE_MAX), all based on one byte of
    memory: for length checks the kernel makes before it reads any data."""
    byte = ctypes.create_string_buffer(1)
    return IovecArray([(ctypes.addressof(byte), n) for n in lengths], [byte])


class Hdtr:
    """struct sf_hdtr and what it points at.

    headers/trailers: an IovecArray, a raw address (int, e.g. an unmapped page), or None
    (NULL). hdr_cnt/trl_cnt default to the array's length (0 for NULL or a raw address).
    """

    def __init__(self, headers: IovecArray | int | None = None,
                 trailers: IovecArray | int | None = None,
                 hdr_cnt: int | None = None, trl_cnt: int | None = None) -> None:
        self._headers, self._trailers = headers, trailers
        self.struct = SfHdtr(_address(headers), _count(headers, hdr_cnt),
                             _address(trailers), _count(trailers, trl_cnt))

    @property
    def address(self) -> int:
        return ctypes.addressof(self.struct)

    def describe(self) -> str:
        return (f"{{headers={_describe(self._headers)}, hdr_cnt={self.struct.hdr_cnt}, "
                f"trailers={_describe(self._trailers)}, trl_cnt={self.struct.trl_cnt}}}")


def hdtr(headers: Sequence[bytes] | None = None, trailers: Sequence[bytes] | None = None) -> Hdtr:
    """The common case: header and trailer iovecs over the given chunks (None: NULL array)."""
    return Hdtr(None if headers is None else iovecs(headers),
                None if trailers is None else iovecs(trailers))


def _address(part: IovecArray | int | None) -> int | None:
    return part.address if isinstance(part, IovecArray) else part


def _count(part: IovecArray | int | None, given: int | None) -> int:
    if given is not None:
        return given
    return part.count if isinstance(part, IovecArray) else 0


def _describe(part: IovecArray | int | None) -> str:
    if part is None:
        return "NULL"
    if isinstance(part, int):
        return f"(struct iovec *){part:#x}"
    shown = part.lengths[:4] + (["..."] if part.count > 4 else [])
    return f"[iov_len {', '.join(map(str, shown))}]"


class NotFreeBSD(RuntimeError):
    """A FreeBSD-only binding was called on another OS (decided before reaching libc)."""


class Sent(NamedTuple):
    """A successful sendfile(): its return value (always 0) and *sbytes (None if NULL)."""
    ret: int
    sbytes: int | None


class SendfileError(OSError):
    """sendfile() failed: errno as usual, plus *sbytes as the kernel left it (see module doc)."""

    def __init__(self, err: int, sbytes: int | None) -> None:
        super().__init__(err, f"{os.strerror(err)} (*sbytes={sbytes})")
        self.sbytes = sbytes


@cache
def _libc(name: str, restype: Any, argtypes: tuple[Any, ...]) -> Any:
    """A private function object for a libc symbol, looked up on FreeBSD only.

    LIBC[name] returns a fresh object, unlike libc.function()'s getattr, which hands every
    binding the same cached object: another module declaring cap_rights_limit with its own
    CapRights class would otherwise replace our argtypes (so_splice.py binds it too).
    """
    if not IS_FREEBSD:
        raise NotFreeBSD(f"{name}() here is FreeBSD's; this is {os.uname().sysname}")
    fn = LIBC[name]
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


def _sendfile_fn() -> Any:
    return _libc("sendfile", ctypes.c_int,
                 (ctypes.c_int, ctypes.c_int, c_off_t, ctypes.c_size_t, ctypes.c_void_p,
                  ctypes.c_void_p, ctypes.c_int))


def _c_int(value: int) -> int:
    """A 32-bit pattern as the signed C int the kernel sees."""
    if not -2**31 <= value < 2**32:
        raise ValueError(f"{value:#x} does not fit in a 32-bit int")
    return value - 2**32 if value >= 2**31 else value


def sendfile(fd: int, s: int, offset: int, nbytes: int, hdtr: Hdtr | int | None = None, *,
             sbytes: bool | int = True, flags: int = 0) -> Sent:
    """sendfile(fd, s, offset, nbytes, hdtr, sbytes ? &out : NULL, flags).

    hdtr: an Hdtr, a raw address (int) or None (NULL). sbytes: True passes a pointer to an
    off_t, False passes NULL, an int passes that raw address. nbytes is a size_t (masked).
    Raises NotFreeBSD off FreeBSD, SendfileError when the kernel fails the call.
    """
    fn = _sendfile_fn()
    out = c_off_t(_UNWRITTEN)
    if sbytes is True:
        sbytes_ptr, sbytes_arg = ctypes.addressof(out), "&off_t"
    elif sbytes is False:
        sbytes_ptr, sbytes_arg = None, "NULL"
    else:
        sbytes_ptr, sbytes_arg = sbytes, f"(off_t *){sbytes:#x}"
    if isinstance(hdtr, Hdtr):
        hdtr_ptr, hdtr_arg = hdtr.address, hdtr.describe()
    elif hdtr is None:
        hdtr_ptr, hdtr_arg = None, "NULL"
    else:
        hdtr_ptr, hdtr_arg = hdtr, f"(struct sf_hdtr *){hdtr:#x}"
    args: dict[str, Any] = {"fd": fd, "s": s, "offset": offset, "nbytes": nbytes,
                            "hdtr": hdtr_arg, "sbytes": sbytes_arg, "flags": f"{flags:#x}"}

    def call() -> Sent:
        ret = fn(fd, s, offset, nbytes & SIZE_MAX, hdtr_ptr, sbytes_ptr, _c_int(flags))
        err = ctypes.get_errno()
        value = out.value if sbytes is True and out.value != _UNWRITTEN else None
        if sbytes is True:
            args["*sbytes"] = value  # the transcript shows what the kernel wrote back
        if ret == -1:
            raise SendfileError(err, value)
        return Sent(ret, value)

    return transcript.record("sendfile", args, call)


# Capsicum (sys/sys/capsicum.h, sys/sys/caprights.h): cap_rights_t version 0 is two uint64
# words; bits 57 + i mark word i, bits 62-63 of word 0 hold the version.
CAP_RIGHTS_VERSION = 0


def CAPRIGHT(idx: int, bit: int) -> int:
    return (1 << (57 + idx)) | bit


CAP_READ = CAPRIGHT(0, 0x0000000000000001)
CAP_WRITE = CAPRIGHT(0, 0x0000000000000002)
CAP_SEEK_TELL = CAPRIGHT(0, 0x0000000000000004)
CAP_SEEK = CAP_SEEK_TELL | 0x0000000000000008
CAP_PREAD = CAP_SEEK | CAP_READ     # what sendfile(2) asks of fd (kern_sendfile.c: fget_read)
CAP_FSTAT = CAPRIGHT(0, 0x0000000000080000)
CAP_GETSOCKOPT = CAPRIGHT(0, 0x0000000400000000)
CAP_RECV = CAP_READ
CAP_SEND = CAP_WRITE                # what sendfile(2) asks of s (sendfile_getsock: getsock)


class CapRights(ctypes.Structure):
    """cap_rights_t: struct cap_rights { uint64_t cr_rights[CAP_RIGHTS_VERSION + 2]; }."""
    _fields_ = [("cr_rights", ctypes.c_uint64 * (CAP_RIGHTS_VERSION + 2))]


def cap_rights(*rights: int) -> CapRights:
    """What cap_rights_init(&r, rights...) builds, without calling the variadic libc helper."""
    out = CapRights()
    out.cr_rights[0] = (CAP_RIGHTS_VERSION << 62) | CAPRIGHT(0, 0)
    out.cr_rights[1] = CAPRIGHT(1, 0)
    for right in rights:
        index = {1: 0, 2: 1}[(right >> 57) & 0x1F]  # CAPIDXBIT: one marker bit per word
        out.cr_rights[index] |= right
    return out


def cap_rights_limit(fd: int, *rights: int) -> None:
    """cap_rights_limit(fd, rights): from now on fd allows only these rights (irreversible
    for this descriptor; limit a dup to keep the original whole). No capability mode needed."""
    fn = _libc("cap_rights_limit", ctypes.c_int, (ctypes.c_int, ctypes.POINTER(CapRights)))
    value = cap_rights(*rights)
    args = {"fd": fd, "rights": [f"{w:#x}" for w in value.cr_rights]}
    transcript.record("cap_rights_limit", args, lambda: check(fn(fd, ctypes.byref(value))))


# POSIX shared memory (shm_open(2)); mode_t is uint16_t on FreeBSD.
def shm_open(name: str | None, flags: int, mode: int = 0o600) -> int:
    """shm_open(name or SHM_ANON, flags, mode) -> fd. flags are the running platform's O_*."""
    fn = _libc("shm_open", ctypes.c_int, (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint16))
    path = SHM_ANON if name is None else ctypes.c_char_p(os.fsencode(name))
    args = {"path": "SHM_ANON" if name is None else name, "flags": f"{flags:#x}",
            "mode": f"{mode:#o}"}
    return transcript.record("shm_open", args, lambda: check(fn(path, flags, mode)))


def shm_unlink(name: str) -> None:
    fn = _libc("shm_unlink", ctypes.c_int, (ctypes.c_char_p,))
    transcript.record("shm_unlink", {"path": name},
                      lambda: check(fn(os.fsencode(name))))

