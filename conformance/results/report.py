"""Bug reports from results: one markdown file per failure (or per regression against a
baseline), ready to paste into a bug tracker or a mail to the maintainers.

Each report has a title, the kernel(s) and config hash, the clause (statement, source, basis),
expected vs observed, the syscall transcript, the exact rerun command (target, test id,
hypothesis seed when known) and, where the calls allow, a standalone Python reproducer
generated from the transcript (standard library only; see reproducer.py). A FreeBSD failure of
a test whose clause has basis "source" says first that the verdict means "behaviour differs from
our reading of the source" until confirmed on a FreeBSD kernel. With a baseline, lost-coverage.md
lists the tests that ran in the baseline and are skipped, xfailed or gone now, as `compare`
does: the unexplained ones, then those the two runs' records explain.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from conformance.results import compare as cmp
from conformance.results import lost_coverage
from conformance.results.known_failures import (
    NOT_OBSERVED_PREFIX,
    PROPERTY,
    XPASS_PREFIX,
    is_shipped,
)
from conformance.results.reproducer import reproducer

BASIS = {  # what the basis is, and what a kernel verdict against it means
    "documented": ("documented (man page or kernel documentation)",
                   "the kernel disagrees with its documentation"),
    "source": ("our reading of the kernel source only",
               ("the kernel differs from that reading: check the reading before calling it a "
               "kernel bug")),
    "tests": ("asserted by the OS's own test suite", "the kernel fails its own suite's check"),
    "peer": ("asserted only by a peer suite (another implementation's tests)",
             "the kernel differs from what that suite expects"),
}
MESSAGE_TAIL = 40
SOURCE_ONLY = ('This verdict means "behaviour differs from our reading of the source" until '
               "confirmed on a FreeBSD kernel: check the reading (the clause's source) before "
               "calling it a kernel bug.")


@dataclass
class Item:
    """One thing to report: a test of RESULTS, and how it behaved in the baseline."""
    test: dict
    kind: str  # "failure", "error", "regression", "xpass"
    base: dict | None = None


def select(results: dict, baseline: dict | None) -> list[Item]:
    """Regressions against the baseline (and new tests that fail), or else every failed,
    errored or xpassed test."""
    tests = {t["nodeid"]: t for t in results["tests"]}
    if baseline is not None:
        diff = cmp.compare(baseline, results)
        base = {t["nodeid"]: t for t in baseline["tests"]}
        items = []
        for d in diff["differences"]:
            t = tests.get(d["nodeid"])
            if d["kind"] == "regression":
                kind = "xpass" if cmp.is_xpass_strict(t) else "regression"
                items.append(Item(t, kind, base.get(d["nodeid"])))
            elif d["kind"] == "new test" and t["outcome"] in cmp.BAD:
                items.append(Item(t, "xpass" if cmp.is_xpass_strict(t) else
                                  t["outcome"].replace("failed", "failure")))
        return items
    out = []
    for t in results["tests"]:
        if cmp.is_xpass_strict(t) or t["outcome"] == "xpassed":
            out.append(Item(t, "xpass"))
        elif t["outcome"] in ("failed", "error"):
            out.append(Item(t, t["outcome"].replace("failed", "failure")))
    return out


def hypothesis_seed(results: dict, test: dict) -> str | None:
    for text in (test.get("message") or "", results["run"].get("command") or ""):
        m = re.search(r"--hypothesis-seed[= ](\S+)", text) or re.search(r"@seed\((\d+)\)", text)
        if m:
            return m.group(1)
    return None


def expected_observed(test: dict) -> tuple[str, str]:
    if cmp.is_xpass_strict(test) or test["outcome"] == "xpassed":
        why = (test.get("message") or "").splitlines()[0].removeprefix(XPASS_PREFIX).strip() \
            if test["outcome"] == "failed" else test.get("reason") or ""
        why = why.removeprefix("known failure ")
        return (f"a failure, as the known-failures entry says: {why}",
                ("the test passed: the kernel does what the clause says, so the entry is stale "
                "(the kernel was fixed, or the entry's kernel range is too wide)"))
    if test["outcome"] == "error":
        return ("the test's setup (fixtures) completes",
                f"harness error, not a kernel verdict: {cmp.summary(test)}")
    seconds = cmp.timeout_seconds(test)
    if seconds is not None:
        return ("the test completes within its deadline", (f"it was still running after "
                f"{seconds:g} s (pytest-timeout); the transcript shows the last calls"))
    lines = cmp.assertion_lines(test.get("message"))
    for line in lines:
        m = cmp.ERRNO_MSG.match(line.removeprefix("AssertionError: "))
        if m:
            got = (f"{m['got']} ({m['str']})" if m["got"] and m["str"] else m["got"]) \
                or f"success, returning {m['ret']}"
            return f"{m['what']} fails with {m['exp']}", f"{m['what']}: {got}"
    first = lines[0] if lines else cmp.summary(test)
    return ("what the clause states (the assertion below)", first)


def clause_section(test: dict, clauses: dict, verdict: bool) -> list[str]:
    """The clauses a test cites; with verdict, what a kernel failure against each basis means."""
    out = []
    for cid in test.get("clauses") or []:
        c = clauses.get(cid)
        if c is None:
            out.append(f"- **{cid}**: not in this checkout's catalog (renamed or removed since "
                       "the run)")
            continue
        since = f"; since {c.since}" if c.since else ""
        out += [f"- **{cid}** ({c.feature}; source: {c.source}{since})",
                f"  - statement: {' '.join(c.statement.split())}",
                f"  - basis: {BASIS.get(c.basis, (c.basis,))[0]}"]
        if verdict and c.basis in BASIS:
            out.append(f"  - so this failure means: {BASIS[c.basis][1]}")
        if c.notes:
            out.append(f"  - notes: {' '.join(c.notes.split())}")
    return out


def rerun(results: dict, test: dict) -> list[str]:
    run, env = results["run"], results.get("environment") or {}
    suite = run.get("suite") or {}
    nodeid = shlex.quote(test["nodeid"])
    seed = hypothesis_seed(results, test)
    seed_arg = f" --hypothesis-seed={seed}" if seed else ""
    target = run.get("target") or "host"
    os_name = results["kernel"].get("os") or "linux"
    commit = (suite.get("commit") or "unknown commit")[:12]
    who = "as root, " if env.get("privileged") else ""
    lines = [f"# {who}from a checkout of the suite at {commit} (pip install -e . in a venv)"]
    extra = [p for p in run.get("known_failures") or [] if not is_shipped(p)]
    if extra:  # the run used more known-failures files: without them the verdict may differ
        lines.append(f"export CONFORMANCE_KNOWN_FAILURES={shlex.quote(':'.join(extra))}")
    if target.startswith("kernel:"):
        accel = env.get("accel") or "auto"
        vm = results.get("vm") or {}
        image = vm.get("image") or target.removeprefix("kernel:")
        lines.append(f"conformance run --os {os_name} --kernel {shlex.quote(image)} "
                     f"--accel {accel} -- {nodeid}{seed_arg}")
    else:
        lines += [f"conformance run --os {os_name} -- {nodeid}{seed_arg}",
                  "# only this test, straight through pytest, on the running kernel:",
                  f"python3 -m pytest -p no:cacheprovider --strict-markers {nodeid}{seed_arg}"]
    return lines


def title(item: Item, results: dict, clauses: dict) -> str:
    test = item.test
    cids = test.get("clauses") or []
    feature = clauses[cids[0]].feature if cids and cids[0] in clauses else "conformance"
    k = results["kernel"]
    what = {"regression": "regression", "xpass": "known failure no longer happens",
            "error": "harness error"}.get(item.kind, "failure")
    clause = cids[0] if cids else test["nodeid"].split("::")[-1]
    detail = cmp.summary(test) if item.kind != "xpass" else "the test passes"
    detail = detail.removeprefix("AssertionError: ")
    if len(detail) > 120:
        detail = detail[:117] + "..."
    return (f"[zerocopy-conformance] {feature} {clause}: {what}: {detail} "
            f"({k.get('os')} {k.get('release')})")


def _fence(lines: list[str], lang: str = "") -> list[str]:
    return [f"```{lang}", *lines, "```"]


def render(item: Item, results: dict, clauses: dict, baseline: dict | None = None,
           script: str | None = None, why_no_script: str | None = None) -> str:
    test, run, k = item.test, results["run"], results["kernel"]
    env, suite = results.get("environment") or {}, run.get("suite") or {}
    expected, observed = expected_observed(test)
    out = [f"# {title(item, results, clauses)}", "", *source_only_caveat(item, results, clauses)]
    out += [f"- **Test:** `{test['nodeid']}`",
            f"- **Verdict:** {test['outcome']}" + (
                f" (was {item.base['outcome']} on {baseline['kernel'].get('release')})"
                if item.base and baseline else ""),
            (f"- **Kernel:** {k.get('os')} {k.get('release')} `{k.get('version')}` "
            f"{k.get('machine')}"),
            f"- **Kernel config:** {k.get('config_hash') or 'not readable on the target'}"]
    if baseline is not None:
        bk = baseline["kernel"]
        out.append(f"- **Baseline kernel:** {bk.get('os')} {bk.get('release')} "
                   f"`{bk.get('version')}`, config {bk.get('config_hash') or 'unknown'} "
                   f"(run {baseline['run'].get('id')})")
    out += [(f"- **Run:** {run.get('id')}, target {run.get('target')}, accel "
            f"{env.get('accel')}, {'root' if env.get('privileged') else 'unprivileged'}, "
            f"zerocopy-conformance {suite.get('version')} at "
            f"{(suite.get('commit') or 'unknown')[:12]}{' (dirty)' if suite.get('dirty') else ''}")]
    if k.get("cmdline"):
        out.append(f"- **Kernel command line:** `{k['cmdline']}`")
    entry = test.get(PROPERTY)
    if entry:
        out.append(f"- **Known-failures entry:** {entry['where']}: {entry['reason']} "
                   f"[{entry['link']}]")
    if (test.get("message") or "").startswith(NOT_OBSERVED_PREFIX):
        out.append(f"- **Not the known failure:** {test['message'].splitlines()[0]}")
    verdict = item.kind in ("failure", "regression")
    out += ["", "## Clause", "",
            *(clause_section(test, clauses, verdict) or ["(the test cites none)"])]
    out += ["", "## Expected vs observed", "", f"- **Expected:** {expected}",
            f"- **Observed:** {observed}", ""]
    message = (test.get("message") or "").splitlines()
    if message:
        tail = message[-MESSAGE_TAIL:]
        note = f" (last {len(tail)} of {len(message)} lines)" if len(tail) < len(message) else ""
        out += [f"Failure message{note}:", "", *_fence(tail), ""]
    if test.get("kernel_log"):  # conformance.kernel_health: the kernel warned during the test
        from conformance.kernel_log import summary as incident_summary
        out += ["## Kernel log during the test", "",
                *(f"- {incident_summary(i)}" for i in test["kernel_log"]), ""]
        out += [ln for i in test["kernel_log"] if i.get("excerpt")
                for ln in (*_fence(i["excerpt"].splitlines()), "")]
    calls = cmp.transcript_lines(test)
    out += ["## Syscall transcript", ""]
    out += _fence(calls) if calls else [("(no call was recorded: the test failed before its "
                                        "first call through the bindings)")]
    out += ["", "## Rerun", "", *_fence(rerun(results, test), "sh"), ""]
    seed = hypothesis_seed(results, test)
    if "Falsifying example" in "\n".join(message) or "Failing test case" in "\n".join(message):
        out += ["This is a property test (Hypothesis): the failing example is in the message "
                "above; " + (f"the seed was {seed}; " if seed else "no seed was recorded; ")
                + "on the same checkout Hypothesis replays it first from its example database "
                  "(.hypothesis/).", ""]
    out += ["## Standalone reproducer", ""]
    if script:
        out += [("Python 3, standard library only; run it as the same user as the run. Exit 1: "
                "the failure reproduces on this kernel; 0: it does not."), "",
                *_fence(script.rstrip("\n").splitlines(), "python")]
    else:
        out.append(f"None generated: {why_no_script}.")
    return "\n".join(out) + "\n"


def slug(text: str, n: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:n].rstrip("-.") or "test"


def source_only_caveat(item: Item, results: dict, clauses: dict) -> list[str]:
    """For a FreeBSD failure: the cited clauses whose basis (as the run recorded it, else as the
    catalog says) is only our reading of the source, and what the verdict then means."""
    if results["kernel"].get("os") != "freebsd" or item.kind not in ("failure", "regression"):
        return []
    recorded = item.test.get("basis") or {}
    cids = [c for c in item.test.get("clauses") or []
            if recorded.get(c, getattr(clauses.get(c), "basis", None)) == "source"]
    if not cids:
        return []
    which = f"{', '.join(cids)} {'has' if len(cids) == 1 else 'have'}"
    return [(f'> **Caveat:** {which} basis "source" (our reading of the FreeBSD source, not yet '
             f"confirmed on a FreeBSD kernel). {SOURCE_ONLY}"), ""]


def write_all(results: dict, out_dir: Path, clauses: dict,
              baseline: dict | None = None) -> list[Path]:
    """Write one report (and its reproducer script, when there is one) per item, and with a
    baseline lost-coverage.md when coverage was lost; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    text = lost_coverage.render(cmp.compare(baseline, results), results, baseline) \
        if baseline else None
    if text:
        written.append(out_dir / lost_coverage.FILE)
        written[-1].write_text(text)
    for i, item in enumerate(select(results, baseline), 1):
        script, why = reproducer(item.test, results)
        name = f"{i:02d}-{slug(item.test['nodeid'].split('::', 1)[-1])}"
        path = out_dir / f"{name}.md"
        path.write_text(render(item, results, clauses, baseline, script, why))
        written.append(path)
        if script:
            repro = out_dir / f"{name}-repro.py"
            repro.write_text(script)
            repro.chmod(0o755)
    return written
