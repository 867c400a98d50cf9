"""Linux splice(2).

Python's `os.splice` cannot show the offsets the kernel writes back, pass a length with the
sign bit set, or pass an offset pointer the kernel cannot use, so every call goes through
libc's splice (ctypes). glibc declares the offsets as `loff_t *` (64-bit on every ABI) and
the length as `size_t`.
"""
from __future__ import annotations

import ctypes
from typing import NamedTuple

from conformance.abi import transcript
from conformance.abi.libc import c_off_t, c_ssize_t, check, function

# include/uapi/linux/splice.h (Python's os module has the first three since 3.10).
SPLICE_F_MOVE = 0x01
SPLICE_F_NONBLOCK = 0x02
SPLICE_F_MORE = 0x04
SPLICE_F_GIFT = 0x08
# include/linux/splice.h: every flag splice(2) accepts; any other bit gives EINVAL.
SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT

SIZE_MAX = 2**64 - 1
UINT_MAX = 2**32 - 1

_splice = function("splice", c_ssize_t,
                   [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                    ctypes.c_size_t, ctypes.c_uint])


class Spliced(NamedTuple):
    """What splice returned, and *off_in / *off_out after the call (None when NULL)."""
    count: int
    off_in: int | None
    off_out: int | None


def _args(fd_in: int, off_in: object, fd_out: int, off_out: object, length: int,
          flags: int) -> dict:
    return {"fd_in": fd_in, "off_in": off_in, "fd_out": fd_out, "off_out": off_out,
            "len": length, "flags": f"{flags:#x}"}


def splice(fd_in: int, off_in: int | None, fd_out: int, off_out: int | None, length: int,
           flags: int = 0) -> Spliced:
    """splice(fd_in, off_in ? &off_in : NULL, fd_out, off_out ? &off_out : NULL, length, flags).

    length is passed as size_t (-1 reaches the kernel as SIZE_MAX, whose sign bit is set),
    flags as unsigned int. The returned offsets are the values the kernel wrote back.
    """
    inp = c_off_t(off_in) if off_in is not None else None
    out = c_off_t(off_out) if off_out is not None else None
    in_ptr = ctypes.addressof(inp) if inp is not None else None
    out_ptr = ctypes.addressof(out) if out is not None else None

    def call() -> Spliced:
        count = check(_splice(fd_in, in_ptr, fd_out, out_ptr, length & SIZE_MAX,
                              flags & UINT_MAX))
        return Spliced(count, inp.value if inp is not None else None,
                       out.value if out is not None else None)

    return transcript.record("splice", _args(fd_in, off_in, fd_out, off_out, length, flags),
                             call)


def splice_offsets_at(fd_in: int, off_in_address: int | None, fd_out: int,
                      off_out_address: int | None, length: int, flags: int = 0) -> int:
    """splice with raw offset pointers (unmapped or read-only memory, or None for NULL)."""

    def show(address: int | None) -> str | None:
        return None if address is None else f"(loff_t *){address:#x}"

    return transcript.record(
        "splice", _args(fd_in, show(off_in_address), fd_out, show(off_out_address), length, flags),
        lambda: check(_splice(fd_in, off_in_address, fd_out, off_out_address,
                              length & SIZE_MAX, flags & UINT_MAX)))
