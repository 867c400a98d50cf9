"""The clause catalogs (conformance/spec/<os>/<feature>.toml), loaded as data."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from conformance import toml_cache

SPEC_DIR = Path(__file__).parent / "spec"
OSES = ("linux", "freebsd")
BASES = ("documented", "tests", "source", "peer")
_REQUIRED = ("id", "feature", "statement", "source", "basis")
# Evidence of a reading of the source (spec/README.md): where, and who re-read it.
_EVIDENCE = ("source_file", "source_function", "source_commit")
_REVIEW_KEYS = ("commit", "date", "verdict", "by")
VERDICTS = ("confirmed", "differs", "unclear")
_KNOWN = set(_REQUIRED) | set(_EVIDENCE) | {"since", "notes", "untestable", "reviewed"}
_COMMIT = re.compile(r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@)?[0-9a-f]{8,40}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CatalogError(ValueError):
    """A catalog file that does not follow the schema in conformance/spec/README.md."""


@dataclass(frozen=True)
class Review:
    """An independent re-reading of a source-basis clause against the source.

    verdict starts with "confirmed", "differs" or "unclear" (then ": why")."""
    commit: str
    date: str
    verdict: str
    by: str

    @property
    def kind(self) -> str:
        return self.verdict.split(":", 1)[0].strip()


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
    source_file: str | None = None
    source_function: str | None = None
    source_commit: str | None = None
    reviewed: Review | None = None

    def evidence_missing(self) -> list[str]:
        """For a basis = "source" clause: the evidence keys it lacks (file, function, commit,
        reviewed); [] for other bases or when all are there."""
        if self.basis != "source":
            return []
        missing = [k for k in _EVIDENCE if not getattr(self, k)]
        return missing + ([] if self.reviewed else ["reviewed"])


def _review(value: object, where: str) -> Review:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: reviewed must be a table {{{', '.join(_REVIEW_KEYS)}}}")
    keys = set(value)
    if keys != set(_REVIEW_KEYS):
        raise CatalogError(f"{where}: reviewed needs exactly {', '.join(_REVIEW_KEYS)} "
                           f"(has {', '.join(sorted(keys)) or 'nothing'})")
    if not all(isinstance(v, str) and v for v in value.values()):
        raise CatalogError(f"{where}: reviewed values must be non-empty strings")
    review = Review(**value)
    if review.kind not in VERDICTS:
        raise CatalogError(f"{where}: reviewed verdict must start with one of "
                           f"{', '.join(VERDICTS)}")
    if not _COMMIT.fullmatch(review.commit):
        raise CatalogError(f"{where}: reviewed commit {review.commit!r} is not a commit hash")
    if not _DATE.fullmatch(review.date):
        raise CatalogError(f"{where}: reviewed date {review.date!r} is not YYYY-MM-DD")
    return review


def parse(text: str, os_name: str, origin: str = "<string>") -> dict[str, Clause]:
    """Parse one catalog file's text into {id: Clause}, checking the schema."""
    try:
        data = toml_cache.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{origin}: {exc}") from None
    clauses: dict[str, Clause] = {}
    rows, unknown_top = data.get("clause", []), sorted(set(data) - {"clause"})
    if unknown_top or not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CatalogError(f"{origin}: a catalog is an array of [[clause]] tables "
                           f"(found {', '.join(unknown_top) or 'clause of another type'})")
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith("[[clause]]")]
    for n, row in enumerate(rows, 1):
        line = lines[n - 1] if n <= len(lines) else "?"
        where = f"{origin}:{line}: clause #{n} ({row.get('id', 'no id')})"
        missing = [k for k in _REQUIRED if not row.get(k)]
        if missing:
            raise CatalogError(f"{where}: missing {', '.join(missing)}")
        wrong = [k for k in (*_REQUIRED, "since", "notes", "untestable")
                 if k in row and not isinstance(row[k], str)]
        if wrong:
            raise CatalogError(f"{where}: {', '.join(wrong)} must be strings")
        unknown = sorted(set(row) - _KNOWN)
        if unknown:
            raise CatalogError(f"{where}: unknown keys {', '.join(unknown)}")
        if row["basis"] not in BASES:
            raise CatalogError(f"{where}: basis must be one of {', '.join(BASES)}")
        if row["id"] in clauses:
            raise CatalogError(f"{where}: duplicate id")
        for key in _EVIDENCE:
            if key in row and not (isinstance(row[key], str) and row[key]):
                raise CatalogError(f"{where}: {key} must be a non-empty string")
        if row.get("source_commit") and not _COMMIT.fullmatch(row["source_commit"]):
            raise CatalogError(f"{where}: source_commit {row['source_commit']!r} is not a "
                               f"commit hash (or owner/repo@hash)")
        if "reviewed" in row:
            row = {**row, "reviewed": _review(row["reviewed"], where)}
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
