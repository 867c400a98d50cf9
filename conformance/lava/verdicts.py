"""Test-for-test verdicts of two runs (a direct `conformance run --kernel` and the same kernel
through LAVA): every node id whose outcome differs, or that only one run has.

    python -m conformance.lava.verdicts BASE CAND     # exit 0 same verdicts, 1 differences
"""
from __future__ import annotations

import sys

from conformance.results import model


def differences(base: dict, cand: dict) -> list[tuple[str, str | None, str | None]]:
    b = {t["nodeid"]: t["outcome"] for t in base["tests"]}
    c = {t["nodeid"]: t["outcome"] for t in cand["tests"]}
    return [(n, b.get(n), c.get(n)) for n in sorted(b.keys() | c.keys()) if b.get(n) != c.get(n)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m conformance.lava.verdicts BASE CAND", file=sys.stderr)
        return 2
    try:
        base, cand = model.load(args[0]), model.load(args[1])
    except model.ResultsError as exc:
        print(f"verdicts: {exc}", file=sys.stderr)
        return 2
    diffs = differences(base, cand)
    for nodeid, was, now in diffs:
        print(f"{was or 'absent'} -> {now or 'absent'}  {nodeid}")
    print(f"verdicts: {len(base['tests'])} vs {len(cand['tests'])} tests, "
          f"{len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
