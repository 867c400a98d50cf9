"""KTAP v1 from results.json, in the kselftest grammar (Documentation/dev-tools/ktap.rst).

One nested block per test module (file), one result line per test:
    ok N name                      passed
    not ok N name                  failed (diagnostic lines before it: assertion, transcript)
    not ok N name # TIMEOUT S seconds   failed on the per-test deadline
    not ok N name # ERROR reason   harness error (fixture), not a kernel verdict
    ok N name # SKIP reason        skipped
    ok N name # XFAIL reason       known failure, as kselftest.h ksft_test_result_xfail
    ok N name # XPASS reason       non-strict xfail that passed (ksft_test_result_xpass)
A strict xfail that passed is a failure ("not ok") with an "# XPASS(strict)" diagnostic. A
module is "not ok" when one of its tests is, "ok # SKIP" when all were skipped. Each test's
clause IDs precede its result as a "# clauses:" diagnostic; "# Totals:" ends the output.
"""
from __future__ import annotations

from collections import Counter

from conformance.kernel_log import summary as incident_summary
from conformance.results.compare import (
    assertion_lines,
    is_xpass_strict,
    summary,
    timeout_seconds,
    transcript_lines,
)

MAX_DIAG_LINES = 12
MAX_TRANSCRIPT_LINES = 8
INDENT = "  "


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def clean(text: str | None) -> str:
    """One line without '#', which KTAP reserves for the directive in result lines."""
    return one_line(text).replace("#", "%23")


def _diagnostics(test: dict) -> list[str]:
    out = []
    if test.get("clauses"):
        out.append(f"# clauses: {one_line(' '.join(test['clauses']))}")
    for inc in test.get("kernel_log") or []:  # the kernel warned during this test
        out.append(f"# kernel: {one_line(incident_summary(inc))}")
    if test["outcome"] in ("failed", "error"):
        if is_xpass_strict(test):
            what = summary(test).removeprefix("[XPASS(strict)]").strip()
            out.append(f"# XPASS(strict): {one_line(what)}")
        else:
            lines = assertion_lines(test.get("message"))[:MAX_DIAG_LINES] or [summary(test)]
            out.extend(f"# {one_line(ln)}" for ln in lines)
        calls = transcript_lines(test)
        if calls:
            shown = calls[-MAX_TRANSCRIPT_LINES:]
            more = f", last {len(shown)}" if len(shown) < len(calls) else ""
            out.append(f"# syscall transcript ({len(calls)} calls{more}):")
            out.extend(f"#   {one_line(c)}" for c in shown)
    return out


def result_line(n: int, test: dict, name: str) -> str:
    outcome = test["outcome"]
    reason = clean(summary(test))
    if outcome == "passed":
        return f"ok {n} {name}"
    if outcome == "skipped":
        return f"ok {n} {name} # SKIP {reason}"
    if outcome == "xfailed":
        return f"ok {n} {name} # XFAIL {reason}"
    if outcome == "xpassed":
        return f"ok {n} {name} # XPASS {reason}"
    if outcome == "error":
        return f"not ok {n} {name} # ERROR {reason}"
    seconds = timeout_seconds(test)
    if seconds is not None:
        return f"not ok {n} {name} # TIMEOUT {seconds:g} seconds"
    return f"not ok {n} {name}"


def _split(nodeid: str) -> tuple[str, str]:
    path, sep, rest = nodeid.partition("::")
    module = path.removesuffix(".py").replace("/", ".")
    return module, clean(rest if sep else path)


def render(results: dict) -> str:
    modules: dict[str, list[tuple[str, dict]]] = {}
    for test in results["tests"]:
        module, name = _split(test["nodeid"])
        modules.setdefault(module, []).append((name, test))
    run, k = results["run"], results["kernel"]
    suite = run.get("suite") or {}
    commit = (suite.get("commit") or "unknown")[:12] + (" (dirty)" if suite.get("dirty") else "")
    lines = ["KTAP version 1", f"1..{len(modules)}",
             (f"# zerocopy-conformance {suite.get('version')} commit {commit}, run {run['id']}, "
             f"target {run.get('target')}"),
             (f"# kernel {k.get('os')} {k.get('release')} {one_line(k.get('version'))} "
             f"{k.get('machine')}, config {k.get('config_hash') or 'unknown'}")]
    for m, (module, tests) in enumerate(modules.items(), 1):
        lines += [INDENT + "KTAP version 1", f"{INDENT}1..{len(tests)}"]
        for n, (name, test) in enumerate(tests, 1):
            lines += [INDENT + d for d in _diagnostics(test)]
            lines.append(INDENT + result_line(n, test, name))
        outcomes = {t["outcome"] for _, t in tests}
        if outcomes & {"failed", "error"}:
            lines.append(f"not ok {m} {module}")
        elif outcomes == {"skipped"}:
            lines.append(f"ok {m} {module} # SKIP every test skipped")
        else:
            lines.append(f"ok {m} {module}")
    c = Counter(t["outcome"] for t in results["tests"])
    lines.append(f"# Totals: pass:{c['passed']} fail:{c['failed']} xfail:{c['xfailed']} "
                 f"xpass:{c['xpassed']} skip:{c['skipped']} error:{c['error']}")
    return "\n".join(lines) + "\n"
