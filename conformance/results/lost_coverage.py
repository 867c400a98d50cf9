"""lost-coverage.md, written by `conformance report RESULTS --baseline BASE`: the tests that
ran in the baseline and are skipped, xfailed or gone now, each with its cause, as `conformance
compare` classifies them: first those that fail the comparison, then those the two runs'
records explain (conformance/results/explain.py), with the explanation."""
from __future__ import annotations

from conformance.results import compare as cmp

FILE = "lost-coverage.md"


def render(diff: dict, results: dict, baseline: dict) -> str | None:
    """lost-coverage.md: what `compare` calls lost coverage and explained, with causes."""
    groups = [(kind, [d for d in diff["differences"] if d["kind"] == kind])
              for kind in ("lost coverage", "explained")]
    if not any(diffs for _, diffs in groups):
        return None
    out = [f"# Lost coverage: run {results['run'].get('id')} against {baseline['run'].get('id')}",
           "", f"- **Baseline:** {cmp.kernel_line(baseline)}, run {baseline['run'].get('id')}",
           f"- **This run:** {cmp.kernel_line(results)}, run {results['run'].get('id')}",
           *(f"- changed: {c}" for c in diff["context"]), "",
           ("A test that ran in the baseline and is skipped, xfailed or gone in this run is lost "
            "coverage: `conformance compare` fails on it (exit 1) unless what the two runs "
            "record explains it (a different OS, this run unprivileged, a CONFIG_* option the "
            "two kernels' configs record differently, a different target kind, a "
            "known-failures kernel range).")]
    heads = {"lost coverage": "fails the comparison", "explained": "does not fail"}
    for kind, diffs in groups:
        out += ["", f"## {kind.capitalize()} ({len(diffs)}): {heads[kind]}", ""]
        out += [line for d in diffs for line in (
            f"- `{d['nodeid']}`: {d['base'] or '-'} -> {d['cand'] or 'gone'}",
            f"  - cause: {d['cause']}",
            *([f"  - explanation: {d['explanation']}"] if d["explanation"] else []))]
        out += [] if diffs else ["None."]
    return "\n".join(out) + "\n"
