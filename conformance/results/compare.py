"""Compare two results.json files test by test, and say what each failure says.

Per test (joined on the node id), BASE -> CAND:
- regression: passed or xfailed -> failed or error (a strict xfail that passed counts here, its
  cause says the known failure did not happen: the entry is stale, not the kernel);
- lost coverage: a test that ran in BASE no longer gives a verdict in CAND: it is skipped, a
  passed test became xfailed, or it vanished (in BASE only). Like a regression it fails the
  comparison, because a nightly that silently stops running a suite must not stay green;
- explained: lost coverage that what the two runs record explains (explain.py: a different OS,
  CAND unprivileged, a CONFIG_* option the two kernels' configs record differently, a different
  target kind, a known-failures kernel range), listed with the explanation; it does not fail;
- fix: failed or error -> passed; unskipped: skipped in BASE, ran in CAND;
- new known failure: failed or error -> xfailed (a known-failures entry now pins the failure);
- known failure gone: xfailed -> passed;
- failure changed: failed/error in both, with a different message;
- other: any other change of outcome (e.g. failed -> error); new test: in CAND only.
Each difference carries its cause: the failure message, the skip reason, or the kernel change.
"""
from __future__ import annotations

import errno
import os
import re
from dataclasses import asdict, dataclass, field

from conformance.abi.transcript import Entry
from conformance.results import OUTCOMES, model
from conformance.results.explain import explain
from conformance.results.known_failures import NOT_OBSERVED_PREFIX, XPASS_PREFIX

GOOD = ("passed",)
BAD = ("failed", "error")
KINDS = ("regression", "lost coverage", "explained", "fix", "unskipped", "new known failure",
         "known failure gone", "failure changed", "other", "new test")
FAILING = ("regression", "lost coverage")  # the kinds that make `compare` exit 1
_TIMEOUT = re.compile(r"Timeout \(?>\s*([\d.]+)\s*s\)?")
# conformance.checks.expect_errno's failure message
ERRNO_MSG = re.compile(r"^(?P<what>.*): expected (?P<exp>[A-Z0-9]+(?: or [A-Z0-9]+)*), "
                       r"(?:got (?P<got>[A-Z0-9]+|no errno)(?: \((?P<str>[^)]*)\))?"
                       r"|but the call succeeded and returned (?P<ret>.*))$")


def read(path) -> dict:
    """model.load plus a shape check: every problem is a ResultsError with one line."""
    try:
        data = model.load(path)
    except (AttributeError, TypeError):  # valid JSON that is not an object
        raise model.ResultsError(f"{path}: not a conformance results file") from None
    for key in ("run", "kernel", "tests"):
        want = list if key == "tests" else dict
        if not isinstance(data.get(key), want):
            raise model.ResultsError(f"{path}: malformed results: {key!r} missing or not a "
                                     f"{want.__name__}")
    for n, t in enumerate(data["tests"]):
        if not isinstance(t, dict) or not isinstance(t.get("nodeid"), str) \
                or t.get("outcome") not in OUTCOMES:
            raise model.ResultsError(f"{path}: malformed results: tests[{n}] needs a nodeid "
                                     f"and an outcome in {', '.join(OUTCOMES)}")
    return data


# --- what a failure says ---------------------------------------------------------------------

def is_xpass_strict(test: dict) -> bool:
    return test["outcome"] == "failed" and (test.get("message") or "").startswith(XPASS_PREFIX)


def assertion_lines(message: str | None) -> list[str]:
    """The 'E   ...' lines pytest prints for the exception, without the prefix."""
    lines = [ln[1:].strip() for ln in (message or "").splitlines() if ln.startswith("E ")]
    return [ln for ln in lines if ln]


def summary(test: dict) -> str:
    """One line: why the test ended the way it did."""
    outcome, message = test["outcome"], test.get("message") or ""
    if outcome in ("skipped", "xfailed", "xpassed"):
        return test.get("reason") or outcome
    if is_xpass_strict(test):
        return message.splitlines()[0]
    if message.startswith(NOT_OBSERVED_PREFIX):  # the failure pytest saw follows a blank line
        seen = {**test, "message": message.partition("\n\n")[2]}
        return f"not the known failure: {summary(seen)}"
    timeout = _TIMEOUT.search(message)
    if timeout:
        return f"timed out after {float(timeout.group(1)):g} s"
    lines = assertion_lines(message)
    if lines:
        return lines[0]
    rest = [ln.strip() for ln in message.splitlines() if ln.strip()]
    return rest[-1] if rest else outcome


def timeout_seconds(test: dict) -> float | None:
    m = _TIMEOUT.search(test.get("message") or "") if test["outcome"] in BAD else None
    return float(m.group(1)) if m else None


def transcript_lines(test: dict) -> list[str]:
    """The recorded calls as the failure output shows them. The errno is named from the
    recorded errno_name: numbers differ between OSes, so the reader's errno table is no guide."""
    out = []
    for e in test.get("transcript") or []:
        line = Entry(e.get("call", "?"), e.get("args") or {}, e.get("result")).format()
        if e.get("errno") is not None:
            name = e.get("errno_name") or f"errno {e['errno']}"
            local = getattr(errno, name, None)
            text = f" ({os.strerror(local)})" if isinstance(local, int) else ""
            line = line.rpartition(" = ")[0] + f" = -1 {name}{text}"
        out.append(line)
    return out


def kernel_line(results: dict) -> str:
    k = results["kernel"]
    return f"{k.get('os')} {k.get('release')} {k.get('machine') or ''}".strip()


# --- the comparison ----------------------------------------------------------------------------

@dataclass
class Difference:
    kind: str
    nodeid: str
    base: str | None
    cand: str | None
    cause: str
    clauses: list[str] = field(default_factory=list)
    explanation: str | None = None


def classify(base: str | None, cand: str | None, base_t: dict | None,
             cand_t: dict | None) -> str | None:
    if base is None:
        return "new test"
    if cand is None:
        return "lost coverage"
    if base == cand:
        if base in BAD and summary(base_t) != summary(cand_t):
            return "failure changed"
        return None
    if base in GOOD + ("xfailed",) and cand in BAD:
        return "regression"
    if base in BAD and cand in GOOD:
        return "fix"
    if cand == "skipped" or (base in GOOD and cand == "xfailed"):
        return "lost coverage"
    if base == "skipped":
        return "unskipped"
    if base in BAD and cand == "xfailed":
        return "new known failure"
    if base == "xfailed" and cand in GOOD:
        return "known failure gone"
    return "other"


def cause(kind: str, base_t: dict | None, cand_t: dict | None) -> str:
    if kind == "new test":
        return "not in BASE" + (f"; {summary(cand_t)}" if cand_t["outcome"] != "passed" else "")
    if kind == "lost coverage":
        if cand_t is None:
            return "vanished: not in CAND (removed, renamed, deselected or not collected there)"
        return f"now {cand_t['outcome']}: {summary(cand_t)}"
    if kind == "regression" and is_xpass_strict(cand_t):
        return ("XPASS(strict): the test passed, i.e. the kernel does what the clause says, so "
                "the known failure did not happen; the entry is wrong for this kernel: "
                f"{cand_t['message'].splitlines()[0].removeprefix(XPASS_PREFIX).strip()}")
    if kind in ("regression", "new known failure", "failure changed", "other"):
        text = summary(cand_t)
        if kind == "failure changed":
            return f"was: {summary(base_t)}; now: {text}"
        if cand_t["outcome"] == "error":
            return f"harness error (not a kernel verdict): {text}"
        return text
    if kind in ("fix", "known failure gone", "unskipped"):
        return f"was: {summary(base_t)}"
    return ""


def compare(base: dict, cand: dict) -> dict:
    """The differences between two runs, their counts, and both runs' provenance."""
    b = {t["nodeid"]: t for t in base["tests"]}
    c = {t["nodeid"]: t for t in cand["tests"]}
    diffs: list[Difference] = []
    unchanged = 0
    files_b, files_c = {_file(n) for n in b}, {_file(n) for n in c}
    for nodeid in list(b) + [n for n in c if n not in b]:
        bt, ct = b.get(nodeid), c.get(nodeid)
        kind = classify(bt and bt["outcome"], ct and ct["outcome"], bt, ct)
        if kind is None:
            unchanged += 1
            continue
        why = cause(kind, bt, ct)
        if kind == "new test" and _file(nodeid) not in files_b:
            why = why.replace("not in BASE", f"not in BASE (no test of {_file(nodeid)} ran there)")
        if ct is None and _file(nodeid) not in files_c:
            why += f"; no test of {_file(nodeid)} ran in CAND"
        explanation = None
        if kind == "lost coverage":
            explanation, note = explain(bt, ct, base, cand)
            kind = "explained" if explanation else kind
            why += f" (not explained: {note})" if note else ""
        clauses = (ct or bt).get("clauses") or []
        diffs.append(Difference(kind, nodeid, bt and bt["outcome"], ct and ct["outcome"],
                                why, list(clauses), explanation))
    diffs.sort(key=lambda d: (KINDS.index(d.kind), d.nodeid))
    counts = {k: sum(1 for d in diffs if d.kind == k) for k in KINDS}
    counts["unchanged"] = unchanged
    return {"base": provenance(base), "cand": provenance(cand), "context": context(base, cand),
            "counts": counts, "differences": [asdict(d) for d in diffs]}


def _file(nodeid: str) -> str:
    return nodeid.partition("::")[0]


def provenance(results: dict) -> dict:
    run, k = results["run"], results["kernel"]
    suite = run.get("suite") or {}
    return {"run_id": run.get("id"), "target": run.get("target"), "os": k.get("os"),
            "release": k.get("release"), "machine": k.get("machine"),
            "config_hash": k.get("config_hash"), "suite_commit": suite.get("commit"),
            "suite_dirty": suite.get("dirty"), "known_failures": run.get("known_failures"),
            "privileged": (results.get("environment") or {}).get("privileged"),
            "tests": len(results["tests"])}


def context(base: dict, cand: dict) -> list[str]:
    """What changed around the tests: kernel, config (and the recorded options), suite commit,
    target, privilege, command."""
    out = []
    pb, pc = provenance(base), provenance(cand)
    for key, label in (("release", "kernel release"), ("config_hash", "kernel config"),
                       ("suite_commit", "suite commit"), ("target", "target"), ("os", "OS"),
                       ("privileged", "privileged"), ("known_failures", "known-failures files")):
        if pb[key] != pc[key]:
            out.append(f"{label}: {pb[key]} -> {pc[key]}")
    ob, oc = (r["kernel"].get("config_options") or {} for r in (base, cand))
    for name in sorted(n for n in set(ob) & set(oc) if ob[n] != oc[n]):
        out.append(f"{name}: {ob[name] or 'not set'} -> {oc[name] or 'not set'}")
    cb, cc = base["run"].get("command"), cand["run"].get("command")
    if cb != cc:
        out.append(f"command: {cb} -> {cc}")
    return out
