"""What one bisect step's results say about the tests being bisected.

A test either conforms (passed; a known failure that did not happen: xpassed or a strict XPASS),
deviates (failed; xfailed: the known failure happened), or gives no verdict (error, skipped,
not in the results). A step is "skip" when any chosen test gives no verdict or the kernel itself
was in trouble (a `::run` error: no boot, a hang, a panic; a `::health` error: a taint); else it
is "new" when the behaviour being looked for shows (a regression: some test deviates; a fix:
every test conforms), "old" otherwise. Never a verdict from a run that could not give one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conformance.results.known_failures import XPASS_PREFIX

OLD, NEW, SKIP = "old", "new", "skip"


@dataclass
class StepVerdict:
    state: str                      # OLD | NEW | SKIP
    reason: str                     # one line: why
    tests: dict[str, str] = field(default_factory=dict)  # nodeid -> conforms|deviates|<outcome>


def behaviour(test: dict | None) -> str:
    """'conforms', 'deviates', or the outcome that gives no verdict ('error', 'skipped',
    'missing')."""
    if test is None:
        return "missing"
    outcome, message = test["outcome"], test.get("message") or ""
    if outcome == "passed" or outcome == "xpassed" or (
            outcome == "failed" and message.startswith(XPASS_PREFIX)):
        return "conforms"
    if outcome in ("failed", "xfailed"):
        return "deviates"
    return outcome


def kernel_trouble(results: dict) -> list[str]:
    """The target's own ERROR entries (kernel/<release>::run, ::health): one line each."""
    out = []
    for t in results.get("tests") or []:
        node = t["nodeid"]
        if t["outcome"] == "error" and node.endswith(("::run", "::health")) \
                and not node.startswith("conformance/"):
            first = (t.get("message") or "").strip().splitlines() or ["(no message)"]
            out.append(f"{node}: {first[0]}")
    return out


def classify(results: dict | None, nodeids: list[str], fixed: bool = False) -> StepVerdict:
    """The step's state for the chosen tests (see the module docstring)."""
    if results is None:
        return StepVerdict(SKIP, "no results came back")
    trouble = kernel_trouble(results)
    by_id = {t["nodeid"]: t for t in results.get("tests") or []}
    seen = {n: behaviour(by_id.get(n)) for n in nodeids}
    if trouble:
        return StepVerdict(SKIP, "kernel trouble: " + "; ".join(trouble), seen)
    silent = {n: b for n, b in seen.items() if b not in ("conforms", "deviates")}
    if silent:
        what = ", ".join(f"{_short(n)} {b}" for n, b in silent.items())
        return StepVerdict(SKIP, f"no verdict: {what}", seen)
    deviating = [n for n, b in seen.items() if b == "deviates"]
    which = ", ".join(f"{_short(n)} {by_id[n]['outcome']}" for n in deviating)
    if fixed:
        if deviating:
            return StepVerdict(OLD, f"{len(deviating)} of {len(seen)} still deviate: {which}",
                               seen)
        return StepVerdict(NEW, f"all {len(seen)} conform", seen)
    if deviating:
        return StepVerdict(NEW, f"{len(deviating)} of {len(seen)} deviate: {which}", seen)
    return StepVerdict(OLD, f"all {len(seen)} conform", seen)


def _short(nodeid: str) -> str:
    return nodeid.rpartition("::")[2] or nodeid
