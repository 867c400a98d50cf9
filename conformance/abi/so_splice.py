"""FreeBSD SO_SPLICE: struct splice, splice/unsplice through setsockopt(2), the byte count
through getsockopt(2), and the few helpers the SO_SPLICE suite needs around them.

Sources: freebsd/freebsd-src sys/sys/socket.h (SO_SPLICE, struct splice), lib/libsys/getsockopt.2
(SO_SPLICE), sys/kern/uipc_socket.c (sosetopt/sogetopt case SO_SPLICE), sys/sys/filio.h
(FIONREAD), sys/sys/capsicum.h (rights). The option itself needs no ctypes: socket.setsockopt
with the packed structure reaches the kernel unchanged, and Python raises OSError with the
FreeBSD errno. The structure is still declared as a ctypes.Structure so that
tests/test_so_splice_abi.py can pin its layout on any OS. ctypes is needed only for an optval
the kernel cannot read (EFAULT) and for Capsicum, whose libc symbols exist on FreeBSD alone and
are therefore looked up on first use.
"""
from __future__ import annotations

import ctypes
import fcntl
import socket
import struct
import sys

from conformance.abi import transcript
from conformance.abi.freebsd import SO_ERROR, SOL_SOCKET, Timeval
from conformance.abi.libc import check, function

SO_SPLICE = 0x1023         # sys/sys/socket.h (OpenBSD uses the same value; Linux has none)
OFF_T_SIZE = 8             # getsockopt(SO_SPLICE) returns an off_t: int64 on every FreeBSD ABI
FIONREAD = 0x4004667F      # sys/sys/filio.h: _IOR('f', 127, int) (Linux: 0x541B)
FIONWRITE = 0x40046677     # sys/sys/filio.h: _IOR('f', 119, int); no Linux counterpart
SO_RCVTIMEO = 0x1006       # sys/sys/socket.h (Linux: 20)


class Splice(ctypes.Structure):
    """struct splice { int sp_fd; off_t sp_max; struct timeval sp_idle; } (LP64: 32 bytes).

    getsockopt.2 prints it as `struct so_splice`; the header's name is `struct splice`
    (sys/sys/socketvar.h's struct so_splice is the kernel's private state)."""
    _fields_ = [("sp_fd", ctypes.c_int), ("sp_max", ctypes.c_int64), ("sp_idle", Timeval)]


SPLICE_SIZE = ctypes.sizeof(Splice)

# sp_idle as given by a test: seconds (float), an explicit (tv_sec, tv_usec) pair that may be
# out of range on purpose, or None for {0, 0} (no timer).
Idle = float | tuple[int, int] | None


def timeval_of(idle: Idle) -> tuple[int, int]:
    """(tv_sec, tv_usec) for an Idle value; a pair is passed through unchanged."""
    if idle is None:
        return (0, 0)
    if isinstance(idle, tuple):
        return idle
    sec = int(idle)
    return (sec, round((idle - sec) * 1_000_000))


def pack_splice(fd: int, max: int = 0, idle: Idle = None) -> bytes:
    """The optval bytes of setsockopt(SO_SPLICE): a zeroed struct splice with the fields set."""
    sec, usec = timeval_of(idle)
    return bytes(Splice(fd, max, Timeval(sec, usec)))


def _set(src: socket.socket, optval: bytes | None, optlen: int, args: dict) -> None:
    def call() -> None:
        if optval is None:
            src.setsockopt(SOL_SOCKET, SO_SPLICE, None, optlen)
        else:
            src.setsockopt(SOL_SOCKET, SO_SPLICE, optval)

    transcript.record("setsockopt",
                      {"fd": src.fileno(), "opt": "SO_SPLICE", **args, "optlen": optlen}, call)


def splice_sockets(src: socket.socket, dst_fd: int, max: int = 0, idle: Idle = None) -> None:
    """setsockopt(src, SOL_SOCKET, SO_SPLICE, {dst_fd, max, idle}, sizeof(struct splice)):
    data received on src is sent out of dst_fd (a negative dst_fd unsplices instead)."""
    _set(src, pack_splice(dst_fd, max, idle), SPLICE_SIZE,
         {"sp_fd": dst_fd, "sp_max": max, "sp_idle": timeval_of(idle)})


def unsplice(src: socket.socket, fd: int = -1, max: int = 0) -> None:
    """Unsplice src: SO_SPLICE with sp_fd -1 (or any other negative fd)."""
    _set(src, pack_splice(fd, max), SPLICE_SIZE, {"sp_fd": fd, "sp_max": max})


def set_splice_option(src: socket.socket, optval: bytes | None, optlen: int | None = None) -> None:
    """setsockopt(SO_SPLICE) with raw optval bytes; optlen defaults to len(optval) and may be
    shorter (the first optlen bytes are passed). optval None passes NULL with optlen (0)."""
    if optval is None:
        _set(src, None, optlen or 0, {"optval": "NULL"})
        return
    optlen = len(optval) if optlen is None else optlen
    _set(src, optval[:optlen], optlen, {"optval": optval[:optlen].hex()})


_setsockopt = function("setsockopt", ctypes.c_int,
                       [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32])


def set_splice_option_at(src: socket.socket, address: int, optlen: int) -> None:
    """setsockopt(SO_SPLICE) with optval pointing at a raw address (unmapped memory: EFAULT)."""
    fd = src.fileno()
    transcript.record(
        "setsockopt", {"fd": fd, "opt": "SO_SPLICE", "optval": f"(void *){address:#x}",
                       "optlen": optlen},
        lambda: check(_setsockopt(fd, SOL_SOCKET, SO_SPLICE, address, optlen)))


def spliced_count_raw(src: socket.socket, buflen: int = OFF_T_SIZE) -> bytes:
    """getsockopt(src, SOL_SOCKET, SO_SPLICE) into a buflen-byte buffer; the returned bytes
    are as many as the kernel wrote back in optlen."""
    return transcript.record(
        "getsockopt", {"fd": src.fileno(), "opt": "SO_SPLICE", "optlen": buflen},
        lambda: src.getsockopt(SOL_SOCKET, SO_SPLICE, buflen))


def bytes_spliced(src: socket.socket) -> int:
    """The off_t getsockopt(SO_SPLICE) returns: bytes moved by src's current or last splice."""
    return int.from_bytes(spliced_count_raw(src), sys.byteorder, signed=True)


def pending_bytes(sock: socket.socket) -> int:
    """ioctl(FIONREAD): bytes waiting in sock's receive buffer."""
    fd = sock.fileno()

    def call() -> int:
        buf = fcntl.ioctl(fd, FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    return transcript.record("ioctl", {"fd": fd, "req": "FIONREAD"}, call)


def unsent_bytes(sock: socket.socket) -> int:
    """ioctl(FIONWRITE): bytes in sock's send buffer (for TCP: not yet acknowledged by the peer;
    sys/kern/sys_socket.c soo_ioctl() returns sbavail(&so->so_snd))."""
    fd = sock.fileno()

    def call() -> int:
        buf = fcntl.ioctl(fd, FIONWRITE, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    return transcript.record("ioctl", {"fd": fd, "req": "FIONWRITE"}, call)


def socket_error(sock: socket.socket) -> int:
    """getsockopt(SO_ERROR): the pending error (0 for none); reading it clears it."""
    return transcript.record("getsockopt", {"fd": sock.fileno(), "opt": "SO_ERROR"},
                             lambda: sock.getsockopt(SOL_SOCKET, SO_ERROR))


def set_receive_timeout(sock: socket.socket, seconds: float) -> None:
    """setsockopt(SO_RCVTIMEO): a blocking receive gives up with EAGAIN after seconds."""
    sec = int(seconds)
    tv = bytes(Timeval(sec, round((seconds - sec) * 1_000_000)))
    transcript.record("setsockopt", {"fd": sock.fileno(), "opt": "SO_RCVTIMEO", "val": seconds},
                      lambda: sock.setsockopt(SOL_SOCKET, SO_RCVTIMEO, tv))


# Capsicum (sys/sys/capsicum.h). A right is CAPRIGHT(idx, bit) = (1 << (57 + idx)) | bit.
def _capright(idx: int, bit: int) -> int:
    return (1 << (57 + idx)) | bit


CAP_RIGHTS_VERSION = 0
CAP_RECV = _capright(0, 0x1)                # CAP_READ
CAP_SEND = _capright(0, 0x2)                # CAP_WRITE
CAP_GETSOCKOPT = _capright(0, 0x400000000)
CAP_SETSOCKOPT = _capright(0, 0x2000000000)
_CAP_BITS = (1 << 57) - 1


class CapRights(ctypes.Structure):
    """cap_rights_t, version 0: uint64_t cr_rights[2]."""
    _fields_ = [("cr_rights", ctypes.c_uint64 * 2)]


_cap_functions: dict[str, object] = {}


def _cap(name: str, argtypes: list) -> object:
    if name not in _cap_functions:
        _cap_functions[name] = function(name, ctypes.c_int, argtypes)
    return _cap_functions[name]


def _word(right: int) -> int:
    """Which cr_rights word a right lives in (CAPIDXBIT: bit 57 -> 0, bit 58 -> 1)."""
    return (right >> 57 & 0x1F).bit_length() - 1


def _limit(fd: int, rights: CapRights, what: str) -> None:
    limit = _cap("cap_rights_limit", [ctypes.c_int, ctypes.POINTER(CapRights)])
    transcript.record("cap_rights_limit", {"fd": fd, "rights": what},
                      lambda: check(limit(fd, ctypes.byref(rights))))


def limit_rights_to(fd: int, *rights: int) -> None:
    """cap_rights_limit(fd, {rights}): fd keeps exactly these rights (irreversible)."""
    r = CapRights()
    r.cr_rights[0] = (CAP_RIGHTS_VERSION << 62) | (1 << 57)
    r.cr_rights[1] = 1 << 58
    for right in rights:
        r.cr_rights[_word(right)] |= right
    _limit(fd, r, "only " + "|".join(f"{x:#x}" for x in rights))


def drop_rights(fd: int, *rights: int) -> None:
    """cap_rights_limit(fd, current rights minus rights) (irreversible)."""
    get = _cap("__cap_rights_get", [ctypes.c_int, ctypes.c_int, ctypes.POINTER(CapRights)])
    r = CapRights()
    transcript.record("cap_rights_get", {"fd": fd},
                      lambda: check(get(CAP_RIGHTS_VERSION, fd, ctypes.byref(r))))
    for right in rights:
        r.cr_rights[_word(right)] &= ~(right & _CAP_BITS)
    _limit(fd, r, "all but " + "|".join(f"{x:#x}" for x in rights))
