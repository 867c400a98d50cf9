"""The socket error queue's wire format, decoded in pure Python (no ctypes, any OS).

- struct sock_extended_err (include/uapi/linux/errqueue.h): '=IBBBBII', 16 bytes, followed in the
  control message by the offender address (sockaddr_in: 32 bytes in all for IPv4,
  sockaddr_in6: 44 for IPv6);
- the control message that carries it: (SOL_IP, IP_RECVERR) on IPv4 sockets, (SOL_IPV6,
  IPV6_RECVERR) on IPv6 sockets (v4-mapped traffic included), (SOL_VSOCK, VSOCK_RECVERR) on
  AF_VSOCK (include/uapi/linux/vm_sockets.h);
- a zerocopy completion: ee_origin SO_EE_ORIGIN_ZEROCOPY, the inclusive id range
  [ee_info, ee_data] of a 32-bit counter (so it may wrap), SO_EE_CODE_ZEROCOPY_COPIED in ee_code
  when the kernel had to copy (Documentation/networking/msg_zerocopy.rst);
- ranges merged and compared against the ids of the successful zerocopy calls.
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from typing import NamedTuple

# Levels and types of the control message carrying a sock_extended_err.
SOL_IP = 0             # include/linux/socket.h
IP_RECVERR = 11        # include/uapi/linux/in.h
SOL_IPV6 = 41          # include/linux/socket.h
IPV6_RECVERR = 25      # include/uapi/linux/in6.h
SOL_VSOCK = 287        # include/uapi/linux/vm_sockets.h
VSOCK_RECVERR = 1      # include/uapi/linux/vm_sockets.h
RECVERR_NAMES = {(SOL_IP, IP_RECVERR): "SOL_IP/IP_RECVERR",
                 (SOL_IPV6, IPV6_RECVERR): "SOL_IPV6/IPV6_RECVERR",
                 (SOL_VSOCK, VSOCK_RECVERR): "SOL_VSOCK/VSOCK_RECVERR"}
AF_VSOCK = 40          # include/linux/socket.h
RECVERR_BY_FAMILY = {socket.AF_INET: (SOL_IP, IP_RECVERR),
                     socket.AF_INET6: (SOL_IPV6, IPV6_RECVERR),
                     AF_VSOCK: (SOL_VSOCK, VSOCK_RECVERR)}

# include/uapi/linux/errqueue.h
SO_EE_ORIGIN_NONE = 0
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
SO_EE_ORIGIN_TIMESTAMPING = 4
SO_EE_ORIGIN_ZEROCOPY = 5
SO_EE_ORIGIN_TXTIME = 6
SO_EE_CODE_ZEROCOPY_COPIED = 1

SOCK_EE = struct.Struct("=IBBBBII")  # ee_errno, origin, type, code, pad, info, data
# The control message data after the sock_extended_err: the offender sockaddr.
OFFENDER_LEN = {socket.AF_INET: 16, socket.AF_INET6: 28}
# Enough room for the largest cmsg a notification read may carry (CMSG_SPACE(16 + 28)) and a
# timestamp cmsg beside it.
CONTROL_SPACE = 256

ID_BITS = 32
ID_MASK = (1 << ID_BITS) - 1
# A range claiming more ids than this is reported, not expanded (a broken kernel could claim 2^32).
EXPAND_LIMIT = 1 << 20


class ExtendedErr(NamedTuple):
    """struct sock_extended_err."""
    errno: int
    origin: int
    type: int
    code: int
    pad: int
    info: int
    data: int

    @classmethod
    def unpack(cls, data: bytes) -> ExtendedErr:
        if len(data) < SOCK_EE.size:
            raise ValueError(f"sock_extended_err needs {SOCK_EE.size} bytes, got {len(data)}")
        return cls(*SOCK_EE.unpack_from(data))


class IdRange(NamedTuple):
    """An inclusive range [lo, hi] of the 32-bit zerocopy counter; hi < lo means it wrapped."""
    lo: int
    hi: int

    @property
    def count(self) -> int:
        return ((self.hi - self.lo) & ID_MASK) + 1

    def ids(self) -> list[int]:
        if self.count > EXPAND_LIMIT:
            raise ValueError(f"range {self} holds {self.count} ids; refusing to expand")
        return [(self.lo + k) & ID_MASK for k in range(self.count)]

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


class RecvErr(NamedTuple):
    """One IP_RECVERR / IPV6_RECVERR / VSOCK_RECVERR control message, decoded."""
    level: int
    type: int
    length: int          # bytes of cmsg data: the sock_extended_err plus the offender
    ee: ExtendedErr
    offender: bytes

    @property
    def is_zerocopy(self) -> bool:
        return self.ee.origin == SO_EE_ORIGIN_ZEROCOPY

    @property
    def copied(self) -> bool:
        return bool(self.ee.code & SO_EE_CODE_ZEROCOPY_COPIED)

    @property
    def range(self) -> IdRange:
        return IdRange(self.ee.info, self.ee.data)

    def describe(self) -> str:
        where = RECVERR_NAMES.get((self.level, self.type), f"level {self.level}/type {self.type}")
        if self.is_zerocopy:
            return f"{where} zerocopy {self.range} code {self.ee.code}"
        return f"{where} {self.ee}"


def recverr(ancdata: Iterable[tuple[int, int, bytes]]) -> list[RecvErr]:
    """The RECVERR control messages among (level, type, data) triples, in order; others skipped."""
    found = []
    for level, kind, data in ancdata:
        if (level, kind) in RECVERR_NAMES:
            found.append(RecvErr(level, kind, len(data), ExtendedErr.unpack(data),
                                 bytes(data[SOCK_EE.size:])))
    return found


def _align(n: int, word: int) -> int:
    return (n + word - 1) & ~(word - 1)


def _cmsghdr(word: int) -> struct.Struct:
    """struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type (16 bytes on LP64)."""
    return struct.Struct("=Qii" if word == 8 else "=Iii")


def parse_control(buf: bytes, word: int = 8) -> list[tuple[int, int, bytes]]:
    """Split a raw msg_control buffer into (level, type, data) triples, the form
    socket.recvmsg() returns. word is sizeof(size_t), the CMSG_ALIGN unit (8 on LP64)."""
    hdr = _cmsghdr(word)
    out, off = [], 0
    while off + hdr.size <= len(buf):
        length, level, kind = hdr.unpack_from(buf, off)
        if length < hdr.size or off + length > len(buf):
            break
        out.append((level, kind, bytes(buf[off + hdr.size:off + length])))
        off += _align(length, word)
    return out


def build_control(messages: Iterable[tuple[int, int, bytes]], word: int = 8) -> bytes:
    """The inverse of parse_control: a msg_control buffer holding the messages."""
    hdr = _cmsghdr(word)
    out = bytearray()
    for level, kind, data in messages:
        length = hdr.size + len(data)
        out += hdr.pack(length, level, kind) + data
        out += b"\0" * (_align(length, word) - length)
    return bytes(out)


class Merged(NamedTuple):
    """Ranges merged into maximal runs, ordered from a base id, and the ids claimed twice."""
    runs: list[IdRange]
    repeated: list[IdRange]


def merge(ranges: Iterable[IdRange], base: int = 0) -> Merged:
    """Merge ranges in the 32-bit id space read from base upwards (so [0xfffffffe, 1] follows
    0xfffffffd when base is below it). Adjacent ranges join; ids covered twice are reported."""
    spans = sorted(((r.lo - base) & ID_MASK, ((r.lo - base) & ID_MASK) + r.count - 1)
                   for r in ranges)
    runs: list[list[int]] = []
    repeated: list[IdRange] = []
    for lo, hi in spans:
        if runs and lo <= runs[-1][1] + 1:
            last = runs[-1]
            if lo <= last[1]:
                repeated.append(IdRange((base + lo) & ID_MASK, (base + min(hi, last[1])) & ID_MASK))
            last[1] = max(last[1], hi)
        else:
            runs.append([lo, hi])
    return Merged([IdRange((base + lo) & ID_MASK, (base + hi) & ID_MASK) for lo, hi in runs],
                  repeated)


def contract_problems(ranges: list[IdRange], calls: int, first: int = 0) -> list[str]:
    """How notification ranges break the MSG_ZEROCOPY contract for `calls` successful zerocopy
    calls whose ids are first, first + 1, ... (mod 2^32): each id covered by exactly one range,
    none missing, none beyond the calls. [] when the contract holds."""
    problems = []
    big = [r for r in ranges if r.count > EXPAND_LIMIT]
    if big:
        return [f"ranges claim implausibly many ids: {', '.join(map(str, big))}"]
    merged = merge(ranges, first)
    if merged.repeated:
        problems.append("ids notified more than once: " + ", ".join(map(str, merged.repeated)))
    want = set(IdRange(first, (first + calls - 1) & ID_MASK).ids()) if calls else set()
    got = {i for r in ranges for i in r.ids()}
    missing, extra = want - got, got - want
    if missing:
        problems.append(f"ids never notified: {_spans(missing, first)}")
    if extra:
        problems.append(f"ids beyond the {calls} successful zerocopy calls: {_spans(extra, first)}")
    return problems


def _spans(ids: set[int], base: int) -> str:
    return ", ".join(map(str, merge([IdRange(i, i) for i in ids], base).runs))
