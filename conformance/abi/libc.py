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


class ForeignFunction:
    """A libc function declared with its signature, looked up on first call.

    Lazy, so that importing a binding never fails on a platform whose libc lacks the symbol
    (the Linux bindings on FreeBSD and the other way round: collection must work everywhere).
    Each declaration gets its own function object (LIBC[name], not getattr), so two bindings
    declaring the same symbol with different argtypes cannot clobber each other.
    """

    def __init__(self, name: str, restype: Any, argtypes: list[Any]) -> None:
        self.name, self.restype, self.argtypes = name, restype, argtypes
        self._fn: Any = None

    def __call__(self, *args: Any) -> Any:
        if self._fn is None:
            try:
                fn = LIBC[self.name]
            except AttributeError:
                raise OSError(f"libc has no {self.name}() on this platform") from None
            fn.restype, fn.argtypes = self.restype, self.argtypes
            self._fn = fn
        return self._fn(*args)


def function(name: str, restype: Any, argtypes: list[Any]) -> ForeignFunction:
    """Declare a libc function's signature (resolved on first call)."""
    return ForeignFunction(name, restype, argtypes)


def check(ret: int) -> int:
    """Turn the C convention (-1 and errno) into an OSError carrying the real errno."""
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def has_symbol(name: str) -> bool:
    return hasattr(LIBC, name)
