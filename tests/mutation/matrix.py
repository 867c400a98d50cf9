"""Verdicts of the mutation runs and the kill matrix (lie x the tests that caught it)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .lies import Lie
from .runs import SUITE, Run

BAD = ("failed", "error")
SLOW_TEST = 2.0   # a test is named as slow when over factor x its baseline and this many seconds


@dataclass
class Verdict:
    lie: Lie
    base: Run
    run: Run
    limit: float
    caught: list[str] = field(default_factory=list)     # failed or errored by the suite itself
    timeouts: list[str] = field(default_factory=list)   # stopped by the per-test timeout
    slow_tests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        if not self.problems:
            return {"regression": "caught", "absent": "skips", "allowed": "green"}[self.lie.kind]
        if any(p.startswith("SURVIVED") for p in self.problems):
            return "SURVIVED"
        if any(p.startswith("SHAPE") for p in self.problems):
            return "SHAPE"
        return "SLOW"


def _short(nodeid: str) -> str:
    return nodeid.removeprefix(SUITE + "/")


def _name(nodeid: str) -> str:
    return nodeid.split("::")[-1].split("[")[0]


def evaluate(lie: Lie, base: Run, run: Run, factor: float) -> Verdict:
    v = Verdict(lie, base, run, factor * base.wall)
    if not run.files:
        v.problems.append(f"SURVIVED: {run.log}")
        return v
    for nodeid, rec in run.tests.items():
        if rec["outcome"] not in BAD or base.outcome(nodeid) in BAD:
            continue
        (v.timeouts if run.timed_out(nodeid) else v.caught).append(nodeid)
    for nodeid, rec in run.tests.items():
        base_dur = base.tests.get(nodeid, {}).get("duration", 0.0)
        if rec["duration"] > max(SLOW_TEST, factor * base_dur):
            v.slow_tests.append(nodeid)
    if run.running:
        v.slow_tests.append(run.running)
    changed = [n for n in set(base.tests) | set(run.tests) if base.outcome(n) != run.outcome(n)]
    if run.killed or run.wall > v.limit:
        how = "stopped" if run.killed else "took"
        v.problems.append(
            f"SLOW: {how} after {run.wall:.1f}s, over {factor:g} x baseline {base.wall:.1f}s; "
            f"slow tests: {', '.join(map(_short, v.slow_tests)) or 'none recorded'}"
            + (f"; {sum(1 for n in base.tests if n not in run.tests)} tests never ran"
               if run.killed else ""))
    elif v.timeouts:
        v.problems.append("SLOW: stopped by the per-test timeout: "
                          + ", ".join(map(_short, v.timeouts)))
    if lie.kind == "absent":
        _absent(lie, base, run, changed, v)
    elif lie.kind == "allowed":
        v.problems += [f"SHAPE: {_short(n)} failed on behaviour the contract allows: "
                       f"{run.tests[n].get('reason', '')[:200]}" for n in sorted(v.caught)]
    elif lie.must_fail:
        _dedicated(lie, base, run, changed, v)
    elif not v.caught:
        v.problems.append("SURVIVED: no test failed" + (" except by timeout" if v.timeouts else "")
                          + f" ({_tally(run)})")
    return v


def _tally(run: Run) -> str:
    counts: dict[str, int] = {}
    for rec in run.tests.values():
        counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no test ran"


def _absent(lie: Lie, base: Run, run: Run, changed: list[str], v: Verdict) -> None:
    for n in sorted(changed):
        rec = run.tests.get(n, {})
        if rec.get("outcome") in BAD:
            v.problems.append(f"SHAPE: {_short(n)} {rec['outcome']} for an absent feature: "
                              f"{rec.get('reason', '')[:200]}")
        elif rec.get("outcome") != "skipped":
            v.problems.append(f"SHAPE: {_short(n)} went {base.outcome(n)} -> {run.outcome(n)}")
        elif lie.skip_names not in rec.get("reason", ""):
            v.problems.append(f"SHAPE: {_short(n)} skipped without naming {lie.skip_names}: "
                              f"{rec.get('reason', '')[:200]}")
    if not any(run.outcome(n) == "skipped" for n in changed):
        v.problems.append(f"SURVIVED: no test went to skipped ({_tally(run)}): the lie did not "
                          "reach the suite")


def _dedicated(lie: Lie, base: Run, run: Run, changed: list[str], v: Verdict) -> None:
    """Each dedicated test fails in at least one of its instances (the others, e.g. a UDP row
    under a TCP-only lie, may keep their verdict); every other test that changed skips naming
    a dedicated test."""
    for name in lie.must_fail:
        mine = [n for n in run.tests if _name(n) == name]
        if not mine:
            v.problems.append(f"SURVIVED: the dedicated test {name} did not run")
        elif not any(n in v.caught for n in mine):
            v.problems.append(f"SURVIVED: the dedicated test {name} did not fail: " + "; ".join(
                f"{_short(n)} {run.outcome(n)} {run.tests[n].get('reason', '')[:120]}"
                for n in mine))
    for n in sorted(changed):
        rec = run.tests.get(n, {})
        if _name(n) in lie.must_fail and n in v.caught:
            continue
        if rec.get("outcome") == "skipped" and any(m in rec.get("reason", "")
                                                   for m in lie.must_fail):
            continue
        v.problems.append(f"SHAPE: {_short(n)} went {base.outcome(n)} -> {run.outcome(n)}, "
                          f"want skipped naming {' or '.join(lie.must_fail)}: "
                          f"{rec.get('reason', '')[:160]}")


def render(verdicts: list[Verdict], total: float, baseline: Run, release: str) -> str:
    lines = [(f"mutation self-test on Linux {release}: {len(verdicts)} lies, {total:.0f}s in all "
              f"(baseline run {baseline.wall:.0f}s, {len(baseline.tests)} tests)"), ""]
    head = f"{'lie':28} {'mechanism':9} {'verdict':8} {'time':>7} {'base':>6} {'limit':>6} " \
           f"{'caught':>6} {'t/o':>4}"
    lines += [head, "-" * len(head)]
    for v in verdicts:
        lines.append(f"{v.lie.name:28} {v.lie.mechanism:9} {v.word:8} {v.run.wall:6.1f}s "
                     f"{v.base.wall:5.1f}s {v.limit:5.1f}s {len(v.caught):6} {len(v.timeouts):4}")
    lines += ["", "kill matrix (lie: the tests that caught it, by file):"]
    for v in verdicts:
        lines.append(f"  {v.lie.name}: {v.lie.says}")
        if not v.caught:
            lines.append("      (no test)")
        for file, names in _by_file(v.caught).items():
            lines.append(f"      {file}: {', '.join(names)}")
        if v.slow_tests:
            lines.append(f"    slow (over {factor_of(v):g} x its baseline and {SLOW_TEST:g}s): "
                         + ", ".join(_timed(v.run, n) for n in sorted(set(v.slow_tests))))
    problems = [(v.lie.name, p) for v in verdicts for p in v.problems]
    lines += ["", f"problems: {len(problems) or 'none'}"]
    lines += [f"  {name}: {p}" for name, p in problems]
    return "\n".join(lines)


def _timed(run: Run, nodeid: str) -> str:
    if nodeid not in run.tests:
        return f"{_short(nodeid)} (running when stopped)"
    return f"{_short(nodeid)} ({run.tests[nodeid]['duration']:.1f}s {run.tests[nodeid]['outcome']})"


def factor_of(v: Verdict) -> float:
    return v.limit / v.base.wall if v.base.wall else 0.0


def _by_file(nodeids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in sorted(nodeids):
        file, _, test = _short(n).partition("::")
        out.setdefault(file, []).append(test)
    return out


def as_json(verdicts: list[Verdict], total: float) -> dict:
    return {"total_seconds": round(total, 1), "lies": [{
        "lie": v.lie.name, "says": v.lie.says, "mechanism": v.lie.mechanism, "kind": v.lie.kind,
        "files": list(v.run.files), "verdict": v.word, "seconds": round(v.run.wall, 1),
        "baseline_seconds": round(v.base.wall, 1), "killed": v.run.killed,
        "caught": sorted(v.caught), "timeouts": sorted(v.timeouts),
        "slow_tests": sorted(set(v.slow_tests)), "problems": v.problems,
        "outcomes": {n: r["outcome"] for n, r in sorted(v.run.tests.items())},
    } for v in verdicts]}
