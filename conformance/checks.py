"""The assertion helpers tests share (tests assert; bindings and fixtures do not)."""
from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable
from typing import Any


def errname(code: int | None) -> str:
    return _errno.errorcode.get(code, str(code)) if code is not None else "no errno"


def expect_errno(fn: Callable[[], Any], expected: int | tuple[int, ...], what: str) -> OSError:
    """Assert that fn() raises OSError with exactly the expected errno (or one of them).

    A tuple is allowed only where the specification itself allows several errnos;
    the caller's table row must say why.
    """
    wanted = expected if isinstance(expected, tuple) else (expected,)
    names = " or ".join(errname(e) for e in wanted)
    try:
        result = fn()
    except OSError as exc:
        assert exc.errno in wanted, (
            f"{what}: expected {names}, got {errname(exc.errno)} ({os.strerror(exc.errno or 0)})")
        return exc
    raise AssertionError(f"{what}: expected {names}, but the call succeeded and returned {result!r}")
