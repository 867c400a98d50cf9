"""Evidence of the FreeBSD clauses that rest on a reading of the source (issue 14).

No FreeBSD kernel has run the FreeBSD suites, so every FreeBSD clause with basis = "source" must
say where the reading is (source_file, source_function, source_commit) and carry a `reviewed`
record from someone other than its author who re-read that code; the schema is in
conformance/spec/README.md. Also here: the FreeBSD known failures (known-failures-freebsd.toml)
point at clauses and tests that exist and pin an observed value, and the schema check refuses a
malformed review record.
"""
import re
import tomllib
from pathlib import Path

import pytest

from conformance import catalog

FREEBSD_SOURCE = sorted((c for c in catalog.load("freebsd").values() if c.basis == "source"),
                        key=lambda c: c.id)
KNOWN_FAILURES = Path(catalog.__file__).parent / "data" / "known-failures-freebsd.toml"
SUITE = Path(catalog.__file__).parent / "freebsd"


def test_there_are_freebsd_source_clauses():
    assert len(FREEBSD_SOURCE) >= 60


@pytest.mark.parametrize("clause", FREEBSD_SOURCE, ids=lambda c: c.id)
def test_source_clause_names_file_function_and_commit(clause):
    """Each reading is located: a file path, the function(s), a commit hash (or owner/repo@hash)."""
    missing = [k for k in clause.evidence_missing() if k != "reviewed"]
    assert not missing, f"{clause.id}: missing {', '.join(missing)}"
    assert re.match(r"[\w./-]+\.[ch]\b", clause.source_file), clause.source_file
    assert "(" in clause.source_function or clause.source_function.isupper(), clause.source_function


@pytest.mark.parametrize("clause", FREEBSD_SOURCE, ids=lambda c: c.id)
def test_source_clause_was_reviewed_by_someone_else(clause):
    """Each reading was re-read by another reviewer; a 'differs' verdict is answered in notes."""
    review = clause.reviewed
    assert review is not None, f"{clause.id}: no reviewed record"
    assert review.by and "author" not in review.by.lower(), review.by
    if review.kind == "differs":
        assert clause.notes and "review" in clause.notes.lower(), (
            f"{clause.id}: the reviewer's verdict ({review.verdict}) is not answered in notes")


REVIEW_BASE = """
[[clause]]
id = "FBSD-SPLICE-X"
feature = "so_splice"
statement = "s"
source = "uipc_socket.c"
basis = "source"
source_file = "sys/kern/uipc_socket.c"
source_function = "so_splice()"
source_commit = "blubskye/freebsd-src@0c964205c6ad"
"""


def test_a_complete_review_record_parses():
    text = REVIEW_BASE + ('reviewed = { commit = "0c964205c6ad", date = "2026-12-04", '
                          'verdict = "differs: the count is reset", by = "helper" }\n')
    clause = catalog.parse(text, "freebsd")["FBSD-SPLICE-X"]
    assert (clause.reviewed.kind, clause.evidence_missing()) == ("differs", [])
    assert catalog.parse(REVIEW_BASE, "freebsd")["FBSD-SPLICE-X"].evidence_missing() == ["reviewed"]


@pytest.mark.parametrize("review, message", [
    ('{ commit = "0c964205", date = "2026-12-04", verdict = "fine", by = "x" }', "verdict"),
    ('{ commit = "HEAD", date = "2026-12-04", verdict = "confirmed", by = "x" }', "commit"),
    ('{ commit = "0c964205", date = "Dec 4", verdict = "confirmed", by = "x" }', "date"),
    ('{ commit = "0c964205", date = "2026-12-04", verdict = "confirmed" }', "exactly"),
    ('"confirmed"', "must be a table"),
], ids=["verdict", "commit", "date", "missing-by", "not-a-table"])
def test_a_malformed_review_record_is_refused(review, message):
    with pytest.raises(catalog.CatalogError, match=message):
        catalog.parse(REVIEW_BASE + f"reviewed = {review}\n", "freebsd")


def test_source_commit_must_be_a_hash():
    with pytest.raises(catalog.CatalogError, match="source_commit"):
        catalog.parse(REVIEW_BASE.replace("blubskye/freebsd-src@0c964205c6ad", "main"), "freebsd")


def test_freebsd_known_failures_name_real_clauses_and_tests():
    """Each entry names an existing FreeBSD clause and test function, and pins what it observes."""
    entries = tomllib.loads(KNOWN_FAILURES.read_text())["failure"]
    clauses = catalog.load("freebsd")
    assert entries
    for entry in entries:
        assert entry["os"] == "freebsd" and entry["clause"] in clauses, entry
        path, _, name = entry["test"].partition("::")
        source = (SUITE.parent.parent / path).read_text()
        assert f"def {name.split('[')[0]}(" in source, entry["test"]
        assert re.compile(entry["observed"], re.DOTALL).pattern
        assert "Source reading only" in entry["reason"], "say that no FreeBSD kernel ran it"


@pytest.mark.parametrize("entry", tomllib.loads(KNOWN_FAILURES.read_text())["failure"],
                         ids=lambda e: e["clause"])
def test_observed_regex_matches_the_message_the_test_would_print(entry):
    """The regex matches the assertion message the test builds from the values the source
    reading predicts (count 0; 1600 bytes), so the strict xfail can hold."""
    predicted = {
        "FBSD-SPLICE-FAILED-SPLICE-KEEPS-COUNT":
            "AssertionError: count after the failed SO_SPLICE: 0, expected 3 (kept)",
        "FBSD-SPLICE-MAX-SURVIVES-FAILED-SPLICE":
            "AssertionError: 1600 bytes forwarded in all with sp_max 1000, expected 1000 "
            "(the failed call must not extend the limit)",
    }[entry["clause"]]
    assert re.search(entry["observed"], predicted, re.DOTALL)
    assert not re.search(entry["observed"], predicted.replace("0,", "5,").replace("1600", "1400"),
                         re.DOTALL)


def test_clauses_command_shows_reviewed_and_not_reviewed():
    """`conformance clauses` labels each FreeBSD source clause, and --json carries the record."""
    from conformance.commands import clauses as cmd
    reviewed = catalog.parse(REVIEW_BASE + 'reviewed = { commit = "0c964205c6ad", date = '
                             '"2026-12-04", verdict = "confirmed", by = "helper" }\n',
                             "freebsd")["FBSD-SPLICE-X"]
    unreviewed = catalog.parse(REVIEW_BASE, "freebsd")["FBSD-SPLICE-X"]
    linux = catalog.parse(REVIEW_BASE.replace("FBSD-SPLICE-X", "LNX-SP-X"), "linux")["LNX-SP-X"]
    rows = [{"basis": c.basis, **cmd.evidence(c)} for c in (reviewed, unreviewed, linux)]
    assert [cmd.review_label(r) for r in rows] == [
        "[source, reviewed: confirmed (2026-12-04, helper)]", "[source, NOT REVIEWED]", "[source]"]
    assert rows[0]["evidence"] == {"file": "sys/kern/uipc_socket.c", "function": "so_splice()",
                                   "commit": "blubskye/freebsd-src@0c964205c6ad"}
    assert rows[0]["reviewed"]["by"] == "helper" and rows[1]["reviewed"] is None
