"""Reading results.json: loading, counting, naming."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from conformance.results import OUTCOMES


class ResultsError(ValueError):
    pass


def load(path: Path) -> dict:
    """Load results.json (or the results.json inside a run directory)."""
    # not JSON, truncated, not UTF-8, the wrong shape or schema: one line each
    from conformance.results import validate

    return validate.read(path, ResultsError)


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
