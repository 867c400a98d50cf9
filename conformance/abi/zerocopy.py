"""MSG_ZEROCOPY / SO_ZEROCOPY (Linux): the socket option, zerocopy sends, error-queue reads, and
the sendfile2 syscall of the unmerged 2025 RFC, which is called only by a number the user names.

Python's socket module lacks most of these names; values are from the headers named beside
each. The error-queue wire format is decoded in conformance.abi.errqueue (pure Python). libc
functions are looked up on first use, so importing this module works on any OS.
"""
from __future__ import annotations

import ctypes
import functools
import socket
import struct
import subprocess
import sys
from typing import Any, NamedTuple

from conformance.abi import errqueue, transcript
from conformance.abi.errqueue import CONTROL_SPACE, RecvErr, parse_control, recverr
from conformance.abi.libc import c_off_t, check, function

SO_ZEROCOPY = 60            # include/uapi/asm-generic/socket.h (x86, arm64; 0x4035 parisc, 0x3e sparc)
MSG_ZEROCOPY = 0x4000000    # include/linux/socket.h
MSG_ERRQUEUE = 0x2000       # include/linux/socket.h
MSG_FASTOPEN = 0x20000000   # include/linux/socket.h
SO_EE_ORIGIN_ZEROCOPY = errqueue.SO_EE_ORIGIN_ZEROCOPY            # include/uapi/linux/errqueue.h
SO_EE_CODE_ZEROCOPY_COPIED = errqueue.SO_EE_CODE_ZEROCOPY_COPIED

UDP_CORK = 1                # include/uapi/linux/udp.h
UDP_SEGMENT = 103           # include/uapi/linux/udp.h (UDP GSO, 4.18)
SO_TIMESTAMPING = 37        # include/uapi/asm-generic/socket.h (SO_TIMESTAMPING_OLD)
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1   # include/uapi/linux/net_tstamp.h
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
TCP_INFO_UNACKED = 24       # offsetof(struct tcp_info, tcpi_unacked), include/uapi/linux/tcp.h
SIOCETHTOOL = 0x8946        # include/uapi/linux/sockios.h
ETHTOOL_SSG = 0x19          # include/uapi/linux/ethtool.h: set scatter-gather

# The unmerged RFC "Add ZC notifications to splice and sendfile" (Joe Damato, March 2025,
# lore 20250319001521.53249-1-jdamato@fastly.com). Its sendfile2 took number 467, which upstream
# gave to open_tree_attr (6.15): this module never calls any number by default.
SPLICE_F_ZC = 0x10          # patch 04/10, include/linux/splice.h
SENDFILE_DEFAULT = 0x1      # patch 08/10, include/linux/sendfile.h
SENDFILE_ZC = 0x2
RFC_SENDFILE2_NR = 467      # for documentation and messages only


class Transfer(NamedTuple):
    """What sendfile2 returned, and *offset after the call (None when offset was NULL)."""
    sent: int
    offset: int | None


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


class _Ifreq(ctypes.Structure):
    _fields_ = [("ifr_name", ctypes.c_char * 16), ("ifr_data", ctypes.c_void_p),
                ("pad", ctypes.c_char * 16)]


@functools.cache
def _libc(name: str) -> Any:
    signatures = {
        "sendmsg": (ctypes.c_ssize_t, [ctypes.c_int, ctypes.POINTER(_Msghdr), ctypes.c_int]),
        "sendmmsg": (ctypes.c_int, [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint,
                                    ctypes.c_int]),
        "recvmmsg": (ctypes.c_int, [ctypes.c_int, ctypes.POINTER(_Mmsghdr), ctypes.c_uint,
                                    ctypes.c_int, ctypes.c_void_p]),
        "ioctl": (ctypes.c_int, [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]),
        # long syscall(long number, ...): every argument passed as a full register.
        "syscall": (ctypes.c_long, [ctypes.c_long] * 6),
    }
    restype, argtypes = signatures[name]
    return function(name, restype, argtypes)


def set_zerocopy(sock: socket.socket, value: int) -> None:
    """setsockopt(SOL_SOCKET, SO_ZEROCOPY, &value, sizeof(int)).

    On AF_VSOCK CPython always passes a 64-bit option; its low 4 bytes (read as the int on a
    little-endian machine) carry the value, so -1 goes as 0xffffffff."""
    if sock.family == getattr(socket, "AF_VSOCK", None):
        optval: int | bytes = value & 0xFFFFFFFF
    else:
        optval = struct.pack("=i", value)
    transcript.record("setsockopt", {"fd": sock.fileno(), "opt": "SO_ZEROCOPY", "val": value},
                      lambda: sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, optval))


def enable_zerocopy(sock: socket.socket) -> None:
    """setsockopt(SOL_SOCKET, SO_ZEROCOPY, 1)."""
    set_zerocopy(sock, 1)


def zerocopy_option(sock: socket.socket) -> int:
    """getsockopt(SOL_SOCKET, SO_ZEROCOPY)."""
    return transcript.record("getsockopt", {"fd": sock.fileno(), "opt": "SO_ZEROCOPY"},
                             lambda: sock.getsockopt(socket.SOL_SOCKET, SO_ZEROCOPY))


def _flags(flags: int) -> str:
    names = [n for n, v in (("MSG_ZEROCOPY", MSG_ZEROCOPY), ("MSG_FASTOPEN", MSG_FASTOPEN),
                            ("MSG_MORE", socket.MSG_MORE), ("MSG_DONTWAIT", socket.MSG_DONTWAIT),
                            ("MSG_NOSIGNAL", socket.MSG_NOSIGNAL)) if flags & v]
    rest = flags & ~(MSG_ZEROCOPY | MSG_FASTOPEN | socket.MSG_MORE | socket.MSG_DONTWAIT
                     | socket.MSG_NOSIGNAL)
    return "|".join(names + ([hex(rest)] if rest else [])) or "0"


def send(sock: socket.socket, data: bytes, flags: int = MSG_ZEROCOPY) -> int:
    """send(fd, data, len, flags)."""
    return transcript.record("send", {"fd": sock.fileno(), "len": len(data), "flags": _flags(flags)},
                             lambda: sock.send(data, flags))


def sendto(sock: socket.socket, data: bytes, flags: int, address: Any) -> int:
    """sendto(fd, data, len, flags, address)."""
    return transcript.record(
        "sendto", {"fd": sock.fileno(), "len": len(data), "flags": _flags(flags), "to": address},
        lambda: sock.sendto(data, flags, address))


def sendmsg(sock: socket.socket, buffers: list[bytes], flags: int = MSG_ZEROCOPY,
            ancdata: list | None = None) -> int:
    """sendmsg(fd, {iov = buffers, control = ancdata}, flags)."""
    return transcript.record(
        "sendmsg", {"fd": sock.fileno(), "iov": [len(b) for b in buffers], "flags": _flags(flags)},
        lambda: sock.sendmsg(buffers, ancdata or [], flags))


def sendmsg_at(sock: socket.socket, iov: list[tuple[int, int]], flags: int = MSG_ZEROCOPY) -> int:
    """sendmsg with raw (address, length) iovecs, e.g. an address no page is mapped at."""
    vec = (_Iovec * len(iov))(*(_Iovec(a, n) for a, n in iov))
    msg = _Msghdr(None, 0, vec, len(iov), None, 0, 0)
    return transcript.record(
        "sendmsg", {"fd": sock.fileno(), "iov": [f"{a:#x}+{n}" for a, n in iov],
                    "flags": _flags(flags)},
        lambda: check(_libc("sendmsg")(sock.fileno(), ctypes.byref(msg), flags)))


def buffer_address(buf: Any) -> int:
    """The address of a writable buffer (an mmap, a bytearray), for sendmsg_at."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def sendmmsg(sock: socket.socket, messages: list[bytes], flags: int = MSG_ZEROCOPY) -> int:
    """sendmmsg(fd, one single-iovec message per buffer, vlen, flags): messages sent."""
    keep = [ctypes.create_string_buffer(m, len(m)) for m in messages]
    vecs = [(_Iovec * 1)(_Iovec(ctypes.addressof(b), len(m))) for b, m in zip(keep, messages)]
    table = (_Mmsghdr * len(messages))(
        *(_Mmsghdr(_Msghdr(None, 0, v, 1, None, 0, 0), 0) for v in vecs))
    return transcript.record(
        "sendmmsg", {"fd": sock.fileno(), "msgs": [len(m) for m in messages],
                     "flags": _flags(flags)},
        lambda: check(_libc("sendmmsg")(sock.fileno(), table, len(messages), flags)))


class ErrRead(NamedTuple):
    """One recvmsg(MSG_ERRQUEUE): payload bytes returned, msg_flags, control messages."""
    length: int
    flags: int
    ancdata: list
    recverr: list[RecvErr]

    def __repr__(self) -> str:
        return (f"ErrRead(len={self.length}, flags={self.flags:#x}, "
                f"[{'; '.join(r.describe() for r in self.recverr)}])")


def read_error_queue(sock: socket.socket, bufsize: int = 64) -> tuple[bytes, list, int]:
    """One non-blocking recvmsg(MSG_ERRQUEUE); raises BlockingIOError when the queue is empty."""
    return transcript.record(
        "recvmsg", {"fd": sock.fileno(), "flags": "MSG_ERRQUEUE|MSG_DONTWAIT"},
        lambda: sock.recvmsg(bufsize, 1024, MSG_ERRQUEUE | socket.MSG_DONTWAIT)[:3])


def recv_errqueue(sock: socket.socket, ancbufsize: int = CONTROL_SPACE,
                  dontwait: bool = True, bufsize: int = 64) -> ErrRead:
    """recvmsg(fd, bufsize, ancbufsize, MSG_ERRQUEUE [| MSG_DONTWAIT]); BlockingIOError (EAGAIN)
    when the error queue is empty."""
    flags = MSG_ERRQUEUE | (socket.MSG_DONTWAIT if dontwait else 0)

    def call() -> ErrRead:
        data, anc, msg_flags, _ = sock.recvmsg(bufsize, ancbufsize, flags)
        return ErrRead(len(data), msg_flags, anc, recverr(anc))

    return transcript.record(
        "recvmsg", {"fd": sock.fileno(), "control": ancbufsize,
                    "flags": "MSG_ERRQUEUE" + ("|MSG_DONTWAIT" if dontwait else "")}, call)


def recvmmsg_errqueue(sock: socket.socket, vlen: int,
                      ancbufsize: int = CONTROL_SPACE) -> list[ErrRead]:
    """recvmmsg(fd, vlen messages, MSG_ERRQUEUE | MSG_DONTWAIT, NULL): what one call returned."""
    payloads = [ctypes.create_string_buffer(64) for _ in range(vlen)]
    controls = [ctypes.create_string_buffer(ancbufsize) for _ in range(vlen)]
    vecs = [(_Iovec * 1)(_Iovec(ctypes.addressof(p), 64)) for p in payloads]
    table = (_Mmsghdr * vlen)(*(_Mmsghdr(_Msghdr(None, 0, v, 1, ctypes.addressof(c), ancbufsize,
                                                 0), 0) for v, c in zip(vecs, controls)))

    def call() -> list[ErrRead]:
        n = check(_libc("recvmmsg")(sock.fileno(), table, vlen,
                                    MSG_ERRQUEUE | socket.MSG_DONTWAIT, None))
        out = []
        for k in range(n):
            hdr = table[k].msg_hdr
            anc = parse_control(controls[k].raw[:hdr.msg_controllen], ctypes.sizeof(ctypes.c_size_t))
            out.append(ErrRead(table[k].msg_len, hdr.msg_flags, anc, recverr(anc)))
        return out

    return transcript.record("recvmmsg", {"fd": sock.fileno(), "vlen": vlen,
                                          "flags": "MSG_ERRQUEUE|MSG_DONTWAIT"}, call)


def tcp_unacked(sock: socket.socket) -> int:
    """tcp_info.tcpi_unacked (segments sent and not yet acknowledged). getsockopt(TCP_INFO)
    takes the socket lock, so an ACK being processed meanwhile is finished first."""
    return transcript.record(
        "getsockopt", {"fd": sock.fileno(), "opt": "TCP_INFO.tcpi_unacked"},
        lambda: struct.unpack_from("=I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104),
                                   TCP_INFO_UNACKED)[0])


def set_scatter_gather(sock: socket.socket, ifname: str, on: bool) -> None:
    """ioctl(SIOCETHTOOL, ETHTOOL_SSG) on ifname, in the namespace sock was made in
    (`ethtool -K ifname sg on|off`)."""
    value = (ctypes.c_uint32 * 2)(ETHTOOL_SSG, int(on))
    ifr = _Ifreq(ifname.encode(), ctypes.addressof(value))
    transcript.record(
        "ioctl", {"fd": sock.fileno(), "req": "SIOCETHTOOL/ETHTOOL_SSG", "if": ifname, "sg": on},
        lambda: check(_libc("ioctl")(sock.fileno(), SIOCETHTOOL, ctypes.addressof(ifr))))


_CHILD_SEND = """
import os, resource, socket, sys
fd, size, uid, memlock = (int(a) for a in sys.argv[1:5])
limit = resource.RLIM_INFINITY if memlock < 0 else memlock
resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
if uid:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
s = socket.socket(fileno=fd)
try:
    print(s.send(b"m" * size, 0x4000000))
except OSError as e:
    print(-e.errno)
finally:
    s.detach()
"""


def send_from_child(sock: socket.socket, size: int, uid: int, memlock: int,
                    deadline: float) -> int:
    """send(fd, size bytes, MSG_ZEROCOPY) made by a child process that first set its
    RLIMIT_MEMLOCK to memlock bytes (-1: RLIM_INFINITY) and, when uid is not 0, became that uid
    and so lost every capability, CAP_IPC_LOCK included. Returns the count or raises OSError
    with the child's errno; RuntimeError when the child itself failed."""
    args = [sys.executable, "-I", "-c", _CHILD_SEND, str(sock.fileno()), str(size), str(uid),
            str(memlock)]

    def call() -> int:
        done = subprocess.run(args, check=False, pass_fds=[sock.fileno()], capture_output=True,
                              text=True, timeout=deadline)
        try:
            result = int(done.stdout.strip())
        except ValueError:
            raise RuntimeError(f"child exited {done.returncode}: {done.stderr.strip()}") from None
        if result < 0:
            raise OSError(-result, f"send in child (uid {uid}, RLIMIT_MEMLOCK {memlock})")
        return result

    return transcript.record("send", {"fd": sock.fileno(), "len": size, "flags": "MSG_ZEROCOPY",
                                      "in": f"child uid={uid} RLIMIT_MEMLOCK={memlock}"}, call)


def sendfile2(nr: int, out_fd: int, in_fd: int, offset: int | None, count: int,
              flags: int) -> Transfer:
    """syscall(nr, out_fd, in_fd, offset ? &offset : NULL, count, flags): the RFC's
    `long sendfile2(int out_fd, int in_fd, loff_t __user *offset, size_t count, int flags)`.

    nr must be the number the user named for this kernel; there is no default (upstream 467,
    the RFC's number, is open_tree_attr)."""
    if isinstance(nr, bool) or not isinstance(nr, int) or nr <= 0:
        raise ValueError(f"sendfile2 needs the syscall number the user named, not {nr!r}")
    off = c_off_t(offset) if offset is not None else None
    ptr = ctypes.addressof(off) if off is not None else 0

    def call() -> Transfer:
        sent = check(_libc("syscall")(nr, out_fd, in_fd, ptr, count, flags))
        return Transfer(sent, off.value if off is not None else None)

    return transcript.record("sendfile2", {"nr": nr, "out_fd": out_fd, "in_fd": in_fd,
                                           "offset": offset, "count": count,
                                           "flags": f"{flags:#x}"}, call)

