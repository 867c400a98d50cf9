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


def transfer_all(step: Callable[[int], int], count: int, what: str) -> int:
    """Call step(done) until count bytes have moved; step returns how many bytes that call
    moved. Short counts are allowed, no progress is not: a call that moves nothing while
    count - done bytes are known to be pending fails at once (a kernel returning 0 would
    otherwise spin the test until its deadline). Returns count."""
    done = 0
    while done < count:
        moved = step(done)
        assert moved > 0, (f"{what}: a call moved {moved} bytes after {done} of {count}, with "
                           f"{count - done} still pending: no progress")
        done += moved
    return done
