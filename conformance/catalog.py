"""The clause catalogs (conformance/spec/<os>/<feature>.toml), loaded as data."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPEC_DIR = Path(__file__).parent / "spec"
OSES = ("linux", "freebsd")
BASES = ("documented", "tests", "source", "peer")
_REQUIRED = ("id", "feature", "statement", "source", "basis")
_KNOWN = set(_REQUIRED) | {"since", "notes", "untestable"}


class CatalogError(ValueError):
    """A catalog file that does not follow the schema in conformance/spec/README.md."""


@dataclass(frozen=True)
class Clause:
    id: str
    os: str
    feature: str
    statement: str
    source: str
    basis: str
    since: str | None = None
    notes: str | None = None
    untestable: str | None = None


def parse(text: str, os_name: str, origin: str = "<string>") -> dict[str, Clause]:
    """Parse one catalog file's text into {id: Clause}, checking the schema."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{origin}: {exc}") from None
    clauses: dict[str, Clause] = {}
    for n, row in enumerate(data.get("clause", []), 1):
        where = f"{origin}: clause #{n} ({row.get('id', 'no id')})"
        missing = [k for k in _REQUIRED if not row.get(k)]
        if missing:
            raise CatalogError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(row) - _KNOWN)
        if unknown:
            raise CatalogError(f"{where}: unknown keys {', '.join(unknown)}")
        if row["basis"] not in BASES:
            raise CatalogError(f"{where}: basis must be one of {', '.join(BASES)}")
        if row["id"] in clauses:
            raise CatalogError(f"{where}: duplicate id")
        clauses[row["id"]] = Clause(os=os_name, **row)
    return clauses


@cache
def load(os_name: str) -> dict[str, Clause]:
    """The catalog of one OS: every spec/<os>/*.toml file ({} when it has none yet)."""
    if os_name not in OSES:
        raise CatalogError(f"unknown OS {os_name!r}; expected one of {', '.join(OSES)}")
    clauses: dict[str, Clause] = {}
    for path in sorted((SPEC_DIR / os_name).glob("*.toml")):
        for cid, clause in parse(path.read_text(), os_name, str(path)).items():
            if cid in clauses:
                raise CatalogError(f"{path}: clause {cid} is also defined in another file")
            clauses[cid] = clause
    return clauses


def load_all() -> dict[str, Clause]:
    """Every clause of every OS, by id."""
    out: dict[str, Clause] = {}
    for os_name in OSES:
        out.update(load(os_name))
    return out
