"""Known failures: kernel behaviour that disagrees with a clause, applied as strict xfails.

The data files are conformance/data/known-failures*.toml (known-failures.toml's header documents
the format). More files can be given in the environment variable CONFORMANCE_KNOWN_FAILURES
(paths separated by ':'); their entries are added to the shipped ones, e.g. for a lab's own list,
or to force a verdict while trying the tools out.

Each [[failure]] names `test` (a node id pattern) and/or `clause` (a clause ID pattern), where
`*` matches any run of characters and everything else is literal; both must match when both are
given. `kernel` bounds the releases it holds for (">=6.1, <6.8"; omit for every release), `os`
the OS (omit for any), and `reason` and `link` are the evidence. `observed` (required) is a
regular expression that the failure text (the exception pytest reports, "AssertionError: ...")
must match, with re.search and re.DOTALL: it pins the deviation, so that any other failure of
the test stays a failure. A matching test gets xfail(strict=True): if it fails otherwise, the
verdict is a plain failure that starts with "[NOT THE KNOWN FAILURE]" and quotes the entry; if
the kernel does what the clause says, the test fails as "[XPASS(strict)]", and the terminal
summary names the entry. Entries that apply to this kernel but match no test that ran are listed
too, so stale entries show instead of rotting.
"""
from __future__ import annotations

import os
import platform
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance import toml_cache

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DATA_FILE = DATA_DIR / "known-failures.toml"
ENV_VAR = "CONFORMANCE_KNOWN_FAILURES"
PROPERTY = "known_failure"
XPASS_PREFIX = "[XPASS(strict)]"
NOT_OBSERVED_PREFIX = "[NOT THE KNOWN FAILURE]"
_KEYS = {"test", "clause", "kernel", "os", "reason", "link", "observed"}
_REQUIRED = ("reason", "link", "observed")
_ENTRY = pytest.StashKey["Entry"]()
_OPS = ("<=", ">=", "==", "!=", "<", ">")


class KnownFailuresError(ValueError):
    """A known-failures file that cannot be read or does not follow the format."""


def _pattern(text: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$")


def _version(text: str, where: str) -> tuple[int, ...]:
    m = re.match(r"\d+(\.\d+)*", text.strip())
    if not m:
        raise KnownFailuresError(f"{where}: {text!r} is not a version like 6.1 or 6.1.12")
    return tuple(int(p) for p in m.group(0).split("."))


def release_version(release: str) -> tuple[int, ...] | None:
    """'6.18.44-fc-v595' -> (6, 18, 44); None when the release does not start with digits."""
    m = re.match(r"\d+(\.\d+)*", release)
    return tuple(int(p) for p in m.group(0).split(".")) if m else None


def _pad(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def parse_range(text: str, where: str = "kernel") -> list[tuple[str, tuple[int, ...]]]:
    """'>=6.1, <6.8' -> [('>=', (6, 1)), ('<', (6, 8))]."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        op = next((o for o in _OPS if part.startswith(o)), None)
        if op is None:
            raise KnownFailuresError(f"{where}: {part!r} needs one of {' '.join(_OPS)}")
        out.append((op, _version(part[len(op):], where)))
    if not out:
        raise KnownFailuresError(f"{where}: empty kernel range")
    return out


def in_range(release: str, spec: list[tuple[str, tuple[int, ...]]]) -> bool:
    """Whether a release is in the range. Components compare as numbers, a missing one counts
    as 0, except == and != which compare only the components written (==6.1 is every 6.1.x)."""
    have = release_version(release)
    if have is None:
        return False
    for op, want in spec:
        if op in ("==", "!="):
            same = have[:len(want)] == want
            if same != (op == "=="):
                return False
            continue
        a, b = _pad(have, want)
        if not {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]:
            return False
    return True


@dataclass(frozen=True)
class Entry:
    where: str  # "file.toml #N"
    reason: str
    link: str
    test: str | None = None
    clause: str | None = None
    kernel: str | None = None
    os: str | None = None
    observed: str | None = None  # required in files; the regex the failure text must match

    def applies_to(self, release: str, os_name: str) -> bool:
        if self.os and self.os != os_name:
            return False
        return self.kernel is None or in_range(release, parse_range(self.kernel, self.where))

    def matches(self, nodeid: str, clauses: Iterable[str]) -> bool:
        if self.test and not _pattern(self.test).match(nodeid):
            return False
        return not self.clause or any(_pattern(self.clause).match(c) for c in clauses)

    def describe(self) -> str:
        what = ", ".join(f"{k}={v!r}" for k, v in (("test", self.test), ("clause", self.clause),
                                                    ("kernel", self.kernel), ("os", self.os)) if v)
        return f"{self.where} ({what})"

    def to_json(self) -> dict:
        return {"where": self.where, "test": self.test, "clause": self.clause,
                "kernel": self.kernel, "os": self.os, "reason": self.reason, "link": self.link,
                "observed": self.observed}

    def is_observed(self, text: str) -> bool:
        return self.observed is None or bool(re.search(self.observed, text, re.DOTALL))


def _lines(text: str) -> list[int]:
    """The line number of each [[failure]] header, in order."""
    return [n for n, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("[[failure]]")]


def parse(text: str, origin: str = "<string>") -> list[Entry]:
    try:
        data = toml_cache.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnownFailuresError(f"{origin}: {exc}") from None
    unknown_top = sorted(set(data) - {"failure"})
    if unknown_top:
        raise KnownFailuresError(f"{origin}: unknown tables {', '.join(unknown_top)}")
    entries, lines, rows = [], _lines(text), data.get("failure", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise KnownFailuresError(f"{origin}: 'failure' must be an array of tables ([[failure]])")
    for n, row in enumerate(rows, 1):
        where = f"{Path(origin).name} #{n}"
        at = f"{origin}:{lines[n - 1] if n <= len(lines) else '?'}: entry #{n}"
        unknown = sorted(set(row) - _KEYS)
        if unknown:
            raise KnownFailuresError(f"{at}: unknown keys {', '.join(unknown)}")
        if not row.get("test") and not row.get("clause"):
            raise KnownFailuresError(f"{at}: needs a test or a clause pattern")
        missing = [k for k in _REQUIRED if not row.get(k)]
        if missing:
            raise KnownFailuresError(f"{at}: missing {', '.join(missing)} (the evidence, and "
                                     "the regex that pins the observed failure)")
        bad = [k for k, v in row.items() if not isinstance(v, str)]
        if bad:
            raise KnownFailuresError(f"{at}: {', '.join(bad)} must be strings")
        if row.get("kernel"):
            parse_range(row["kernel"], at)
        try:
            re.compile(row["observed"], re.DOTALL)
        except re.error as exc:
            raise KnownFailuresError(f"{at}: observed is not a regular expression: {exc}") from None
        entries.append(Entry(where=where, **row))
    return entries


def shipped() -> list[Path]:
    """known-failures.toml first, then the other conformance/data/known-failures*.toml."""
    return [DATA_FILE, *sorted(p for p in DATA_DIR.glob("known-failures*.toml") if p != DATA_FILE)]


def is_shipped(path: str) -> bool:
    """Whether a recorded path is one of the shipped files (on whatever machine it ran)."""
    p = Path(path)
    return p.parent.parts[-2:] == ("conformance", "data") and p.match("known-failures*.toml")


def files() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return [*shipped(), *extra]


def _load(paths: list[Path]) -> list[Entry]:
    entries: list[Entry] = []
    for path in paths:
        try:
            text = path.read_text()
        except OSError as exc:
            raise KnownFailuresError(f"known failures: cannot read {path}: "
                                     f"{exc.strerror or exc}") from None
        entries.extend(parse(text, str(path)))
    return entries


def load() -> list[Entry]:
    """The shipped entries plus those of the files in $CONFORMANCE_KNOWN_FAILURES."""
    return _load(files())


def here() -> tuple[str, str]:
    return platform.release(), platform.system().lower()


def _clause_ids(item) -> list[str]:
    return [cid for mark in item.iter_markers("clause") for cid in mark.args]


def apply(items: list, entries: list[Entry] | None = None,
          release: str | None = None, os_name: str | None = None) -> int:
    """Mark the items a known failure covers on this kernel as strict xfails; return how many.

    A bad known-failures file stops the session with one line (pytest.UsageError).
    """
    try:
        entries = load() if entries is None else entries
        rel, osn = here()
        live = [e for e in entries if e.applies_to(release or rel, os_name or osn)]
    except KnownFailuresError as exc:
        raise pytest.UsageError(str(exc)) from None
    marked = 0
    for item in items:
        entry = next((e for e in live if e.matches(item.nodeid, _clause_ids(item))), None)
        if entry is None:
            continue
        item.add_marker(pytest.mark.xfail(
            strict=True, reason=f"known failure {entry.where}: {entry.reason} [{entry.link}]"))
        item.user_properties.append((PROPERTY, entry.to_json()))
        item.stash[_ENTRY] = entry
        marked += 1
    return marked


def enforce_observed(item, call, report) -> None:
    """From pytest_runtest_makereport, after pytest's xfail handling: a known failure whose
    failure text does not match its entry's `observed` regex is a plain failure (an error
    outside the call phase), with a first line that says so and quotes the entry."""
    entry = item.stash.get(_ENTRY, None)
    if entry is None or not hasattr(report, "wasxfail") or call.excinfo is None:
        return
    if entry.is_observed(call.excinfo.exconly()):
        return
    del report.wasxfail
    report.outcome = "failed"
    report.longrepr = (f"{NOT_OBSERVED_PREFIX} the test failed, but not with the deviation "
                       f"{entry.describe()} pins: the failure text does not match observed = "
                       f"{entry.observed!r}\n\n{report.longreprtext}")


def is_xpass(report) -> bool:
    """A strict xfail whose test passed: pytest reports it failed, with this longrepr."""
    return bool(report.failed and isinstance(report.longrepr, str)
                and report.longrepr.startswith(XPASS_PREFIX))


def unmatched(entries: list[Entry], ran: Iterable[tuple[str, list[str]]], release: str,
              os_name: str) -> list[Entry]:
    """Entries that apply to this kernel yet match none of the (nodeid, clauses) that ran."""
    ran = list(ran)
    return [e for e in entries if e.applies_to(release, os_name)
            and not any(e.matches(nodeid, clauses) for nodeid, clauses in ran)]


def terminal_summary(terminalreporter) -> None:
    """The 'known failures' section: unexpected passes and entries that matched nothing."""
    config = terminalreporter.config
    if hasattr(config, "workerinput"):
        return
    try:
        entries = load()
    except KnownFailuresError:
        return  # collection already stopped with the one-line error
    if not entries:
        return
    reports = [r for key in ("passed", "failed", "skipped", "xfailed", "xpassed", "error",
                             "deselected")
               for r in terminalreporter.stats.get(key, []) if hasattr(r, "nodeid")]
    ran = {}
    for r in reports:
        props = dict(getattr(r, "user_properties", ()) or ())
        ran.setdefault(r.nodeid, list(props.get("clauses", [])))
    xpasses = [r for r in reports if isinstance(r, pytest.TestReport) and r.when == "call"
               and is_xpass(r)]
    xpasses += terminalreporter.stats.get("xpassed", [])
    stale = unmatched(entries, ran.items(), *here())
    if not xpasses and not stale:
        return
    terminalreporter.section("known failures")
    for r in xpasses:
        props = dict(getattr(r, "user_properties", ()) or ())
        entry = props.get(PROPERTY) or {}
        where = entry.get("where", "an xfail mark")
        terminalreporter.line(f"XPASS {r.nodeid}: the known failure ({where}) did not happen on "
                              f"{here()[0]}; remove the entry or narrow its kernel range")
    for e in stale:
        terminalreporter.line(f"UNMATCHED {e.describe()}: no test collected in this session "
                              f"matches it ({e.reason})")
