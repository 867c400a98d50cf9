"""Pages with chosen protections, for passing bad pointers to the kernel (EFAULT cases)."""
from __future__ import annotations

import ctypes
import mmap
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.abi.libc import check, function

_mmap = function("mmap", ctypes.c_void_p,
                 [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_int64])
_munmap = function("munmap", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t])
_MAP_FAILED = ctypes.c_void_p(-1).value

PAGE_SIZE = mmap.PAGESIZE
PROT_NONE = 0  # <sys/mman.h>; Python's mmap module has no PROT_NONE before 3.13


def _map(prot: int) -> int:
    addr = _mmap(None, PAGE_SIZE, prot, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr == _MAP_FAILED:
        check(-1)
    return addr


@contextmanager
def readonly_page() -> Iterator[int]:
    """Yield the address of a zero-filled page mapped PROT_READ only."""
    addr = _map(mmap.PROT_READ)
    try:
        yield addr
    finally:
        check(_munmap(addr, PAGE_SIZE))


@contextmanager
def unmapped_address() -> Iterator[int]:
    """Yield an address in an unmapped page that later mappings are unlikely to reuse.

    A page that was simply mapped and unmapped is handed out again by the next mmap() (seen:
    a test's buffer landed exactly there, so the 'unmapped' iovec was valid). So three PROT_NONE
    pages are reserved and only the middle one unmapped: the one-page hole between two guards
    fits no larger mapping, and Python's allocator maps far larger arenas.
    """
    base = _mmap(None, 3 * PAGE_SIZE, PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if base == _MAP_FAILED:
        check(-1)
    hole = base + PAGE_SIZE
    try:
        check(_munmap(hole, PAGE_SIZE))
        yield hole
    finally:
        check(_munmap(base, PAGE_SIZE))
        check(_munmap(hole + PAGE_SIZE, PAGE_SIZE))
