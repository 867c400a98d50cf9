"""Per-test syscall transcript.

Every binding records what it called (name, key arguments) and what the kernel answered
(a result or an errno). The conformance plugin starts a fresh transcript before each test
and attaches it to the test's report, so a failure shows the exact calls that led to it.
"""
from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# A runaway loop must not turn a failure report into megabytes of text.
MAX_ENTRIES = 500


@dataclass(frozen=True)
class Entry:
    call: str
    args: dict[str, Any]
    result: Any = None
    errno: int | None = None

    def format(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        if self.errno is None:
            return f"{self.call}({args}) = {self.result!r}"
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"{self.call}({args}) = -1 {name} ({os.strerror(self.errno)})"

    def to_json(self) -> dict[str, Any]:
        out = {"call": self.call, "args": {k: _jsonable(v) for k, v in self.args.items()},
               "result": _jsonable(self.result), "errno": self.errno}
        if self.errno is not None:
            out["errno_name"] = _errno.errorcode.get(self.errno, str(self.errno))
        return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


class Transcript:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.dropped = 0
        self._json: list[dict[str, Any]] = []  # entries[:len(_json)], converted once

    def add(self, entry: Entry) -> None:
        if len(self.entries) < MAX_ENTRIES:
            self.entries.append(entry)
        else:
            self.dropped += 1

    def format(self) -> str:
        lines = [e.format() for e in self.entries]
        if self.dropped:
            lines.append(f"... {self.dropped} more calls not recorded")
        return "\n".join(lines)

    def to_json(self) -> list[dict[str, Any]]:
        """The entries as JSON values. Each test phase's report carries the transcript so far,
        so each entry is converted once (three times per test cost a second of CPU per run on
        the host, about 25 under TCG). The dicts are shared between the lists returned."""
        self._json.extend(e.to_json() for e in self.entries[len(self._json):])
        return list(self._json)


_current: Transcript | None = None


def begin() -> Transcript:
    """Start a new transcript (the plugin calls this before each test)."""
    global _current
    _current = Transcript()
    return _current


def end() -> Transcript | None:
    """Stop recording and return what was recorded."""
    global _current
    done, _current = _current, None
    return done


def record(call: str, args: dict[str, Any], fn: Callable[[], T]) -> T:
    """Run fn, record its result or the errno of the OSError it raised, return or re-raise."""
    try:
        result = fn()
    except OSError as exc:
        if _current is not None:
            _current.add(Entry(call, args, errno=exc.errno))
        raise
    if _current is not None:
        _current.add(Entry(call, args, result=result))
    return result
