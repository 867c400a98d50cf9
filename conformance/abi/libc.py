"""The one libc loader: every foreign function gets argtypes and restype, errors become OSError."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

# Types the bindings share.
c_ssize_t = ctypes.c_ssize_t
c_off_t = ctypes.c_int64  # off_t is 64-bit on every platform this suite targets (LFS on Linux)


def function(name: str, restype: Any, argtypes: list[Any]) -> Any:
    """Look up a libc symbol and declare its signature."""
    fn = getattr(LIBC, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


def check(ret: int) -> int:
    """Turn the C convention (-1 and errno) into an OSError carrying the real errno."""
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def has_symbol(name: str) -> bool:
    return hasattr(LIBC, name)
