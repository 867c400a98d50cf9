"""Reading results.json: loading, counting, naming."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conformance.results import OUTCOMES, SCHEMA


class ResultsError(ValueError):
    pass


def load(path: Path) -> dict:
    """Load results.json (or the results.json inside a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read results from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a conformance results file (a JSON object expected)")
    if data.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    return data


def counts(results: dict) -> dict[str, int]:
    c = Counter(t["outcome"] for t in results["tests"])
    return {o: c.get(o, 0) for o in OUTCOMES}


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """'conformance/linux/test_x.py::test_y[a]' -> ('conformance.linux.test_x', 'test_y[a]')."""
    path, _, name = nodeid.partition("::")
    classname = path.removesuffix(".py").replace("/", ".")
    if "::" in name:
        cls, _, name = name.rpartition("::")
        classname = f"{classname}.{cls.replace('::', '.')}"
    return classname, name or path
