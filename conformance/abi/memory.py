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
    """Yield an address whose page was mapped and then unmapped (nothing lives there)."""
    addr = _map(PROT_NONE)
    check(_munmap(addr, PAGE_SIZE))
    yield addr
