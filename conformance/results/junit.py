"""JUnit XML from results.json, with clause IDs as properties (Jenkins, GitLab, kernel CI).

Suite properties: kernel release, version, machine, config hash, run id, target, suite version
and commit. Test case properties: one `clause` per clause ID, and `known_failure` when a
known-failures entry applied. A failure's syscall transcript goes to <system-out>.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from conformance.kernel_log import format_entries, summary
from conformance.results.compare import transcript_lines
from conformance.results.known_failures import PROPERTY
from conformance.results.model import split_nodeid


def render(results: dict) -> str:
    tests = results["tests"]
    counts = Counter(t["outcome"] for t in tests)
    suite = ET.Element("testsuite", {
        "name": f"conformance-{results['kernel']['os']}",
        "tests": str(len(tests)),
        "failures": str(counts["failed"] + counts["xpassed"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"] + counts["xfailed"]),
        "time": f"{results['run']['duration']:.3f}",
        "timestamp": results["run"]["start"],
        "hostname": results["kernel"]["release"],
    })
    props = ET.SubElement(suite, "properties")
    for key in ("release", "version", "machine", "config_hash"):
        ET.SubElement(props, "property", {"name": f"kernel.{key}",
                                          "value": str(results["kernel"].get(key))})
    suite_info = results["run"].get("suite") or {}
    for name, value in (("run.id", results["run"]["id"]),
                        ("run.target", results["run"].get("target")),
                        ("suite.version", suite_info.get("version")),
                        ("suite.commit", suite_info.get("commit"))):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for t in tests:
        classname, name = split_nodeid(t["nodeid"])
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": name,
                                                 "time": f"{t['duration']:.3f}"})
        cprops = ET.SubElement(case, "properties")
        for cid in t["clauses"]:
            ET.SubElement(cprops, "property", {"name": "clause", "value": cid})
        entry = t.get(PROPERTY)
        if entry:
            value = f"{entry['where']}: {entry['reason']} [{entry['link']}]"
            ET.SubElement(cprops, "property", {"name": PROPERTY, "value": value})
        outcome = t["outcome"]
        if outcome == "failed":
            ET.SubElement(case, "failure", {"message": "failed"}).text = t.get("message") or ""
        elif outcome == "xpassed":
            ET.SubElement(case, "failure", {"message": f"unexpected pass: {t.get('reason')}"})
        elif outcome == "error":
            ET.SubElement(case, "error", {"message": "error"}).text = t.get("message") or ""
        elif outcome in ("skipped", "xfailed"):
            ET.SubElement(case, "skipped", {"message": f"{outcome}: {t.get('reason') or ''}"})
        calls = transcript_lines(t) if outcome in ("failed", "error", "xpassed") else []
        if calls:
            ET.SubElement(case, "system-out").text = "syscall transcript:\n" + "\n".join(calls)
        if t.get("kernel_log"):  # the kernel warned during this test (conformance.kernel_log)
            for inc in t["kernel_log"]:
                ET.SubElement(cprops, "property", {"name": "kernel_log", "value": summary(inc)})
            ET.SubElement(case, "system-err").text = "kernel log:\n" + format_entries(
                t["kernel_log"])
    ET.indent(suite)
    body = ET.tostring(suite, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
