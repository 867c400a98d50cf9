"""Binary search over an ordered list of candidates (oldest first), skips included.

The first candidate is the known-old end (--good for a regression, the still-broken one for
--fixed), the last the known-new end. Both ends are checked first unless the caller trusts
them: an end that does not behave as claimed stops the search with the reason, because a
bisect from a wrong premise names a wrong culprit. A skipped step is never a verdict: when
skips hide the boundary, the answer is the list of candidates it may be, like
`git bisect` ("only skipped commits left to test").
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.bisect.verdict import NEW, OLD, SKIP, StepVerdict


@dataclass
class Step:
    index: int
    label: str
    verdict: StepVerdict
    results_dir: str | None = None
    seconds: float = 0.0


@dataclass
class Outcome:
    labels: list[str]
    steps: list[Step] = field(default_factory=list)
    first_new: int | None = None       # the answer, when the steps pin it down
    maybe: list[int] = field(default_factory=list)  # skips hide it: one of these
    problem: str | None = None         # why there is no answer (a wrong end, an interrupt)


# run(index) -> (verdict, results_dir or None, seconds); stop() -> True once interrupted
Runner = Callable[[int], tuple[StepVerdict, str | None, float]]


def _check_end(out: Outcome, run: Runner, index: int, want: str, role: str) -> bool:
    verdict, where, seconds = run(index)
    out.steps.append(Step(index, out.labels[index], verdict, where, seconds))
    if verdict.state == want:
        return True
    if verdict.state == SKIP:
        out.problem = f"the {role} end {out.labels[index]} gives no verdict: {verdict.reason}"
    else:
        out.problem = (f"the {role} end {out.labels[index]} is not {role}: {verdict.reason}")
    return False


def next_index(lo: int, hi: int, skipped: set[int]) -> int | None:
    """The untested candidate strictly between lo and hi nearest the middle (lower on ties)."""
    mid = (lo + hi) / 2
    left = [i for i in range(lo + 1, hi) if i not in skipped]
    return min(left, key=lambda i: (abs(i - mid), i)) if left else None


def search(labels: list[str], run: Runner, verify_ends: bool = True,
           stop: Callable[[], bool] = lambda: False,
           roles: tuple[str, str] = ("good", "bad")) -> Outcome:
    """Find the first candidate in the NEW state. roles names the two ends in messages."""
    out = Outcome(list(labels))
    if len(labels) < 2:
        out.problem = "need at least two candidates (the two ends)"
        return out
    lo, hi = 0, len(labels) - 1
    if verify_ends:
        for index, want, role in ((lo, OLD, roles[0]), (hi, NEW, roles[1])):
            if stop():
                out.problem = "interrupted"
                return out
            if not _check_end(out, run, index, want, role):
                return out
    skipped: set[int] = set()
    while (i := next_index(lo, hi, skipped)) is not None:
        if stop():
            out.problem = "interrupted"
            return out
        verdict, where, seconds = run(i)
        out.steps.append(Step(i, labels[i], verdict, where, seconds))
        if verdict.state == OLD:
            lo = i
        elif verdict.state == NEW:
            hi = i
        else:
            skipped.add(i)
    between = sorted(s for s in skipped if lo < s < hi)
    if between:
        out.maybe = [*between, hi]
    else:
        out.first_new = hi
    return out
