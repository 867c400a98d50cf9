"""KCIDB writer: golden output from a fixed results.json, validated with kcidb-io's own schema
(the `test` extra of pyproject), and the status / known-failure mapping. Also the JUnit
writer's golden output (the other format CI dashboards read)."""
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.results import junit, kcidb

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; CONFORMANCE_UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("CONFORMANCE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; CONFORMANCE_UPDATE_GOLDEN=1 to accept"


def load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def schema():
    try:
        import kcidb_io
    except ImportError:
        pytest.fail("kcidb-io is missing: pip install -e '.[test]' (the self-tests validate "
                    "kcidb.json with it)")
    return kcidb_io.schema.LATEST


def test_kcidb_matches_golden():
    golden("kcidb-mixed.json", kcidb.dumps(load("results-mixed.json")))


@pytest.mark.parametrize("fixture", ["results-mixed.json", "results-base.json"])
def test_kcidb_validates_with_kcidb_io(fixture):
    doc = kcidb.render(load(fixture))
    latest = schema()
    latest.validate(doc)
    assert (doc["version"]["major"], doc["version"]["minor"]) == (latest.major, latest.minor)


def test_schema_rejects_what_kcidb_has_no_room_for():
    """The validation is real: an XFAIL status or an id without origin does not pass."""
    doc = kcidb.render(load("results-mixed.json"))
    latest = schema()
    for break_it in (lambda d: d["tests"][0].update(status="XFAIL"),
                     lambda d: d["tests"][0].update(id="no-origin"),
                     lambda d: d["tests"][0].update(clauses=["X"])):
        bad = json.loads(json.dumps(doc))
        break_it(bad)
        assert not latest.is_valid(bad)


def by_nodeid(doc: dict) -> dict:
    return {t["misc"]["nodeid"].split("::")[-1]: t for t in doc["tests"]}


def test_statuses_clauses_and_known_failures():
    doc = kcidb.render(load("results-mixed.json"), origin="lab_x")
    tests = by_nodeid(doc)
    statuses = {name: t["status"] for name, t in tests.items()}
    assert statuses["test_sendfile_fails_with_ebadf[in=negative,out=file-wronly]"] == "PASS"
    assert statuses["test_sendfile_offsets_follow_the_man_page"] == "FAIL"
    assert statuses["test_tcp_peer_receives_the_file_range[ipv6]"] == "ERROR"
    assert statuses["test_sendfile_queues_no_zerocopy_notification"] == "SKIP"
    # a known failure is a FAIL with an incident; a strict XPASS is a PASS with the issue absent
    xfail = tests["test_pipe_without_readers_gives_epipe_and_sigpipe"]
    xpass = tests["test_sendfile_fails_with_ebadf[in=closed,out=file-wronly]"]
    assert (xfail["status"], xpass["status"]) == ("FAIL", "PASS")
    incidents = {i["test_id"]: i for i in doc["incidents"]}
    assert incidents[xfail["id"]]["present"] is True
    assert incidents[xpass["id"]]["present"] is False
    issues = {i["id"]: i for i in doc["issues"]}
    assert issues[incidents[xfail["id"]]["issue_id"]]["report_url"] == "https://example.org/bug/1"
    assert xfail["misc"]["clauses"] == ["LNX-SF-EPIPE-PIPE"]
    assert all(t["id"].startswith("lab_x:") and t["build_id"] == doc["builds"][0]["id"]
               for t in doc["tests"])
    assert doc["builds"][0]["misc"]["config_hash"] == "sha256:" + "ab" * 32
    assert doc["checkouts"][0]["git_commit_name"] == "6.18.44-test"


@pytest.mark.parametrize("nodeid, path", [
    ("conformance/linux/test_x.py::test_y[in=a,out=b@0x0]",
     "zerocopy_conformance.linux.test_x.test_y.in_a_out_b_0x0"),
    ("conformance/linux/test_x.py::TestC::test_y",
     "zerocopy_conformance.linux.test_x.TestC.test_y"),
    ("conformance/linux/test_x.py", "zerocopy_conformance.linux.test_x"),
], ids=["param", "class", "module"])
def test_paths_are_dotted_and_schema_safe(nodeid, path):
    assert kcidb.test_path(nodeid) == path
    assert re.fullmatch(r"([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?", path)


def test_origin_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(kcidb.ORIGIN_ENV, "my_lab")
    assert kcidb.origin_from_env() == "my_lab"
    monkeypatch.setenv(kcidb.ORIGIN_ENV, "My-Lab")
    with pytest.raises(ValueError, match="origin"):
        kcidb.origin_from_env()


def test_junit_matches_golden_and_carries_clauses_and_known_failures():
    text = junit.render(load("results-mixed.json"))
    golden("junit-mixed.xml", text)
    suite = ET.fromstring(text)
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["kernel.config_hash"] == "sha256:" + "ab" * 32
    assert props["suite.commit"].startswith("ec13d12e5c33")
    case = next(c for c in suite.iter("testcase")
                if c.get("name") == "test_pipe_without_readers_gives_epipe_and_sigpipe")
    assert [(p.get("name"), p.get("value")) for p in case.iter("property")] == [
        ("clause", "LNX-SF-EPIPE-PIPE"),
        ("known_failure", ("known-failures.toml #1: EPIPE comes with SIGPIPE blocked only "
                          "[https://example.org/bug/1]"))]
    failed = next(c for c in suite.iter("testcase") if c.get("name").startswith(
        "test_sendfile_rejects_arguments"))
    assert failed.find("system-out").text.endswith("count=1) = -1 EBADF (Bad file descriptor)")
