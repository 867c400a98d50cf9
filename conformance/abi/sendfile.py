"""Linux sendfile(2).

`os.sendfile` is used where it exposes enough (offset NULL, a non-negative count). It cannot
show the offset the kernel writes back, pass a count with the sign bit set, or pass a pointer
the kernel cannot write, so those go through libc's sendfile64 (ctypes).
"""
from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

from conformance.abi import transcript
from conformance.abi.libc import c_off_t, c_ssize_t, check, function

# fs/read_write.c: MAX_RW_COUNT = INT_MAX & PAGE_MASK, the most one read/write/sendfile moves.
INT_MAX = 2**31 - 1
SIZE_MAX = 2**64 - 1
SSIZE_MAX = 2**63 - 1

_sendfile64 = function("sendfile64", c_ssize_t,
                       [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t])


def max_rw_count(page_size: int) -> int:
    """MAX_RW_COUNT for a page size (include/linux/fs.h: INT_MAX & PAGE_MASK)."""
    return INT_MAX & ~(page_size - 1)


class Transfer(NamedTuple):
    """What sendfile returned, and *offset after the call (None when offset was NULL)."""
    sent: int
    offset: int | None


def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> Transfer:
    """sendfile(out_fd, in_fd, offset ? &offset : NULL, count).

    count is passed as size_t: -1 reaches the kernel as SIZE_MAX, whose sign bit is set.
    """
    args = {"out_fd": out_fd, "in_fd": in_fd, "offset": offset, "count": count}
    if offset is None and 0 <= count <= SSIZE_MAX:
        sent = transcript.record("sendfile", args, lambda: os.sendfile(out_fd, in_fd, None, count))
        return Transfer(sent, None)
    off = c_off_t(offset) if offset is not None else None
    ptr = ctypes.addressof(off) if off is not None else None
    size = count & SIZE_MAX

    def call() -> Transfer:
        sent = check(_sendfile64(out_fd, in_fd, ptr, size))
        return Transfer(sent, off.value if off is not None else None)

    return transcript.record("sendfile", args, call)


def sendfile_offset_at(out_fd: int, in_fd: int, offset_address: int, count: int) -> int:
    """sendfile with the offset pointer set to a raw address (unmapped or read-only memory)."""
    args = {"out_fd": out_fd, "in_fd": in_fd, "offset": f"(loff_t *){offset_address:#x}",
            "count": count}
    return transcript.record(
        "sendfile", args, lambda: check(_sendfile64(out_fd, in_fd, offset_address, count)))
