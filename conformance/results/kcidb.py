"""KCIDB v5 JSON from results.json, for KernelCI's common database (kcidb-io schema v5.3).

- one checkout: the kernel that ran (release and version string; no git data is known here);
- one build: that kernel's configuration (architecture, config hash); status PASS, since it
  booted and ran the suite;
- one test per result, path "zerocopy_conformance.<module>.<test>" (characters outside
  [A-Za-z0-9_-] become "_"; the exact node id, clause IDs and their basis are in misc);
- status: passed PASS, failed FAIL, error ERROR (the harness broke, the kernel's status is
  unknown), skipped SKIP. KCIDB has no XFAIL: a known failure is a FAIL with an incident
  (present) of an issue made from its known-failures entry, and a strict xfail that passed is
  a PASS with an incident marking the issue absent, so the stale entry shows.
IDs are "<origin>:<run id>:..."; the origin defaults to "zerocopy_conformance" and must be the
one KernelCI registered for the submitter (environment variable CONFORMANCE_KCIDB_ORIGIN).
"""
from __future__ import annotations

import hashlib
import json
import os
import re

from conformance.results.compare import is_xpass_strict, summary, transcript_lines
from conformance.results.known_failures import PROPERTY, XPASS_PREFIX

VERSION = {"major": 5, "minor": 3}
DEFAULT_ORIGIN = "zerocopy_conformance"
ORIGIN_ENV = "CONFORMANCE_KCIDB_ORIGIN"
PATH_ROOT = "zerocopy_conformance"
MAX_EXCERPT = 16384
STATUS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP",
          "xfailed": "FAIL", "xpassed": "PASS"}


def origin_from_env() -> str:
    origin = os.environ.get(ORIGIN_ENV) or DEFAULT_ORIGIN
    if not re.fullmatch(r"[a-z0-9_]+", origin):
        raise ValueError(f"{ORIGIN_ENV}={origin!r}: a KCIDB origin is [a-z0-9_]+")
    return origin


def _segment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "_"


def test_path(nodeid: str) -> str:
    """'conformance/linux/test_x.py::test_y[a=1]'
    -> 'zerocopy_conformance.linux.test_x.test_y.a_1'."""
    path, _, rest = nodeid.partition("::")
    parts = path.removesuffix(".py").split("/")
    if parts and parts[0] == "conformance":
        parts = parts[1:]
    name, _, param = rest.partition("[")
    parts += name.split("::") if name else []
    if param:
        parts.append(param.removesuffix("]"))
    return ".".join([PATH_ROOT] + [_segment(p) for p in parts if p])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _excerpt(test: dict) -> str | None:
    if test["outcome"] not in ("failed", "error") and not test.get("kernel_log"):
        return None
    text = (test.get("message") or "")
    if test.get("kernel_log"):
        from conformance.kernel_log import format_entries
        text += ("\n\n" if text else "") + "kernel log:\n" + format_entries(test["kernel_log"])
    calls = transcript_lines(test)
    if calls:
        text += "\n\nsyscall transcript:\n" + "\n".join(calls)
    text = text.replace("\0", "")
    return text if len(text) <= MAX_EXCERPT else "...\n" + text[-(MAX_EXCERPT - 4):]


def _issue(origin: str, entry: dict) -> dict:
    issue = {"id": f"{origin}:known-failure-{_digest(json.dumps(entry, sort_keys=True))}",
             "version": 1, "origin": origin,
             "report_subject": f"known failure: {entry['reason']}"[:1000],
             "comment": f"{entry['where']}: {entry['reason']}"
                        + (f" [{entry['link']}]" if entry.get("link") else ""),
             "culprit": {"code": True, "tool": False, "harness": False},
             "misc": {"known_failure": entry}}
    if re.match(r"https?://", entry.get("link") or ""):
        issue["report_url"] = entry["link"]
    return issue


def render(results: dict, origin: str = DEFAULT_ORIGIN) -> dict:
    run, k, env = results["run"], results["kernel"], results.get("environment") or {}
    suite = run.get("suite") or {}
    base = f"{origin}:{run['id']}"
    checkout_id = f"{base}:checkout"
    build_id = f"{base}:build"
    checkout = {"id": checkout_id, "origin": origin, "valid": True,
                "start_time": run["start"],
                "comment": f"{k.get('os')} {k.get('release')} {k.get('version')}",
                "misc": {"os": k.get("os"), "release": k.get("release"),
                         "version": k.get("version")}}
    if k.get("release"):
        checkout["git_commit_name"] = k["release"]
    build = {"id": build_id, "origin": origin, "checkout_id": checkout_id, "status": "PASS",
             "start_time": run["start"],
             "comment": f"kernel {k.get('release')} as booted; config {k.get('config_hash')}",
             "misc": {"config_hash": k.get("config_hash"), "cmdline": k.get("cmdline")}}
    if k.get("machine"):
        build["architecture"] = k["machine"]
    tests, issues, incidents = [], {}, []
    for n, t in enumerate(results["tests"], 1):
        test_id = f"{base}:{n}:{_digest(t['nodeid'])}"
        status = "PASS" if is_xpass_strict(t) else STATUS[t["outcome"]]
        misc = {"nodeid": t["nodeid"], "outcome": t["outcome"], "clauses": t.get("clauses") or [],
                "basis": t.get("basis") or {}, "run_id": run["id"],
                "suite_version": suite.get("version"), "suite_commit": suite.get("commit")}
        if t.get("reason"):
            misc["reason"] = t["reason"]
        if t.get("kernel_log"):  # the kernel warned during this test (conformance.kernel_log)
            misc["kernel_log"] = [{k2: i.get(k2) for k2 in ("kind", "title", "frames")}
                                  for i in t["kernel_log"]]
        entry = t.get(PROPERTY)
        if entry:
            misc[PROPERTY] = entry
        test = {"id": test_id, "origin": origin, "build_id": build_id,
                "path": test_path(t["nodeid"]), "status": status, "start_time": run["start"],
                "duration": float(t.get("duration") or 0.0),
                "comment": summary(t)[:1000] if t["outcome"] != "passed" else t["nodeid"],
                "environment": {"comment": f"target {run.get('target')}, accel "
                                           f"{env.get('accel')}",
                                "misc": {k2: env.get(k2) for k2 in
                                         ("accel", "privileged", "python", "xdist_workers")}},
                "misc": misc}
        excerpt = _excerpt(t)
        if excerpt and not is_xpass_strict(t):
            test["log_excerpt"] = excerpt
        tests.append(test)
        if t["outcome"] == "xfailed" or is_xpass_strict(t):
            # an xfail mark in the test itself is a known failure too, with its reason
            entry = entry or {"where": "xfail mark", "reason": t.get("reason") or summary(t),
                              "link": ""}
            issue = issues.setdefault(entry["where"] + entry["reason"], _issue(origin, entry))
            present = t["outcome"] == "xfailed"
            incidents.append({
                "id": f"{test_id}:incident", "origin": origin, "issue_id": issue["id"],
                "issue_version": issue["version"], "test_id": test_id, "present": present,
                "comment": ("known failure happened" if present else
                            (t.get("message") or XPASS_PREFIX).splitlines()[0])})
    doc = {"version": dict(VERSION), "checkouts": [checkout], "builds": [build], "tests": tests}
    if issues:
        doc["issues"] = list(issues.values())
        doc["incidents"] = incidents
    return doc


def dumps(results: dict, origin: str = DEFAULT_ORIGIN) -> str:
    return json.dumps(render(results, origin), indent=1) + "\n"
