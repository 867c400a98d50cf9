"""What the guest reports to LAVA and the host reads back, in one place.

- Test case name: the test's KCIDB path (conformance.results.kcidb.test_path) without its
  "zerocopy_conformance." root, e.g. "linux.test_sendfile_errors.test_bad_fd.closed"; LAVA
  keeps names of at most 100 characters from [-_A-Za-z0-9.] (no spaces, no "=", which break
  its signal parser), so a longer name keeps its first 83 characters plus "." and 16 hex
  digits of the node id's SHA-256.
- Result: passed pass, failed fail, error unknown (the harness broke; the kernel's verdict is
  not known), skipped skip, xfailed fail (the kernel deviates from the clause; the deviation is
  a known one), xpassed pass (a strict xfail that passed is recorded as failed: fail).
- Reference (lava-test-reference, test set "clauses"): "urn:zerocopy-conformance:OUTCOME:IDS",
  the exact outcome and the comma-separated clause IDs, so a results export alone keeps both.
- Attachments: results.json, junit.xml and kcidb.json printed on the console between
  ATTACH_BEGIN and ATTACH_END lines, gzip + base64, with their SHA-256 (LAVA 2023 has no
  upload from the device; the job log keeps them).
"""
from __future__ import annotations

import hashlib
import re

from conformance.results.kcidb import PATH_ROOT, test_path

DEFINITION = "zerocopy-conformance"
MAX_NAME = 100
CLAUSE_SET = "clauses"
URN = "urn:zerocopy-conformance:"
RESULT = {"passed": "pass", "failed": "fail", "error": "unknown", "skipped": "skip",
          "xfailed": "fail", "xpassed": "pass"}
# LAVA result -> outcome, for a test case with no reference (the reference is exact)
OUTCOME = {"pass": "passed", "fail": "failed", "skip": "skipped", "unknown": "error"}
ATTACH_BEGIN = "ZEROCOPY-CONFORMANCE-ATTACHMENT-BEGIN"
ATTACH_END = "ZEROCOPY-CONFORMANCE-ATTACHMENT-END"
ATTACHMENTS = ("results.json", "junit.xml", "kcidb.json")
_NAME_OK = re.compile(r"[-_A-Za-z0-9.]+")
_REFERENCE = re.compile(r"urn:zerocopy-conformance:(?P<outcome>[a-z]+):(?P<clauses>[^\s]*)")


def case_name(nodeid: str) -> str:
    name = test_path(nodeid).removeprefix(PATH_ROOT + ".")
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:16]
    return f"{name[:MAX_NAME - 17]}.{digest}"


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME and bool(_NAME_OK.fullmatch(name))


def result(test: dict) -> str:
    return RESULT[test["outcome"]]


def reference(test: dict) -> str:
    return f"{URN}{test['outcome']}:{','.join(test.get('clauses') or [])}"


def parse_reference(text: str) -> tuple[str, list[str]] | None:
    """(outcome, clause IDs) from a reference this suite wrote, or None for any other text."""
    from conformance.results import OUTCOMES

    m = _REFERENCE.fullmatch(text or "")
    if not m or m["outcome"] not in OUTCOMES:
        return None
    return m["outcome"], [c for c in m["clauses"].split(",") if c]
