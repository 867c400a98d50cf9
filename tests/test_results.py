"""results.json and junit.xml: one verdict per test, clause IDs, transcripts; serial and xdist
runs agree."""
import json
import xml.etree.ElementTree as ET

import pytest

from conformance.results import SCHEMA, provenance
from conformance.results.model import counts, load, split_nodeid

MIXED = """
import errno, pytest
from conformance.abi import transcript

@pytest.fixture
def broken():
    raise RuntimeError("harness trouble")

@pytest.mark.clause("LNX-SF-EOF-ZERO")
def test_passes():
    transcript.record("sendfile", {"count": 0}, lambda: 0)

@pytest.mark.clause("LNX-SF-COUNT-ZERO", "LNX-SF-RET-COUNT")
def test_fails():
    assert 1 == 2, "kernel said 2"

@pytest.mark.clause("LNX-SF-EAGAIN")
@pytest.mark.requires(os="plan9")
def test_skips():
    pass

@pytest.mark.clause("LNX-SF-EPIPE-PIPE")
@pytest.mark.xfail(reason="known: commit abc", strict=True)
def test_xfails():
    assert False

@pytest.mark.clause("LNX-SF-EFBIG")
@pytest.mark.xfail(reason="known: commit def", strict=True)
def test_xpasses_strict():
    pass

@pytest.mark.clause("LNX-SF-SELF")
def test_errors(broken):
    pass
"""

EXPECTED = {
    "test_passes": "passed",
    "test_fails": "failed",
    "test_skips": "skipped",
    "test_xfails": "xfailed",
    "test_xpasses_strict": "failed",  # strict XPASS is a failure in pytest's own terms
    "test_errors": "error",
}


def run_mixed(pytester: pytest.Pytester, *args: str) -> dict:
    pytester.makepyfile(test_mixed=MIXED)
    out = pytester.path / "out"
    pytester.runpytest_subprocess(f"--conformance-results={out}", "--conformance-run-id=r1", *args)
    return json.loads((out / "results.json").read_text()), (out / "junit.xml").read_text()


def by_name(results: dict) -> dict:
    return {t["nodeid"].split("::")[-1]: t for t in results["tests"]}


def test_results_json_records_each_verdict(pytester):
    results, _ = run_mixed(pytester)
    assert results["schema"] == SCHEMA
    assert results["run"]["id"] == "r1"
    assert {k: t["outcome"] for k, t in by_name(results).items()} == EXPECTED
    tests = by_name(results)
    assert tests["test_fails"]["clauses"] == ["LNX-SF-COUNT-ZERO", "LNX-SF-RET-COUNT"]
    assert tests["test_fails"]["basis"]["LNX-SF-COUNT-ZERO"] in ("documented", "source")
    assert "kernel said 2" in tests["test_fails"]["message"]
    assert "harness trouble" in tests["test_errors"]["message"]
    assert tests["test_skips"]["reason"].startswith("requires OS plan9")
    assert tests["test_xfails"]["reason"] == "known: commit abc"
    assert "E       assert False" in tests["test_xfails"]["message"]  # the deviation seen
    assert tests["test_passes"]["transcript"] == [
        {"call": "sendfile", "args": {"count": 0}, "result": 0, "errno": None}]
    for key in ("os", "release", "machine", "config_hash", "config_options", "cmdline"):
        assert key in results["kernel"]
    assert results["environment"]["accel"] == "none"


def test_xdist_run_gives_the_same_verdicts(pytester):
    results, _ = run_mixed(pytester, "-n", "2")
    assert {k: t["outcome"] for k, t in by_name(results).items()} == EXPECTED
    assert results["environment"]["xdist_workers"] == 2
    assert by_name(results)["test_passes"]["transcript"][0]["call"] == "sendfile"


def test_json_only_leaves_the_other_formats_to_the_host(pytester):
    """A VM guest writes results.json only; the host renders the rest after merging."""
    pytester.makepyfile(test_mixed=MIXED)
    out = pytester.path / "out"
    pytester.runpytest_subprocess(f"--conformance-results={out}", "--conformance-formats=json")
    assert sorted(p.name for p in out.iterdir()) == ["journal.jsonl", "results.json"]
    assert {k: t["outcome"] for k, t in by_name(json.loads(
        (out / "results.json").read_text())).items()} == EXPECTED


def test_junit_carries_clause_ids_and_verdicts(pytester):
    _, junit = run_mixed(pytester)
    suite = ET.fromstring(junit)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("6", "2", "1", "2")
    case = next(c for c in suite.iter("testcase") if c.get("name") == "test_fails")
    assert [p.get("value") for p in case.iter("property")] == [
        "LNX-SF-COUNT-ZERO", "LNX-SF-RET-COUNT"]
    assert case.find("failure") is not None


def test_load_rejects_other_schemas(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema": "other/9"}))
    with pytest.raises(ValueError, match="schema"):
        load(tmp_path)


def test_counts_cover_every_outcome():
    results = {"tests": [{"outcome": "passed"}, {"outcome": "error"}, {"outcome": "passed"}]}
    assert counts(results) == {"passed": 2, "failed": 0, "skipped": 0, "xfailed": 0,
                               "xpassed": 0, "error": 1}


@pytest.mark.parametrize("nodeid, expected", [
    ("conformance/linux/test_x.py::test_y[a-b]", ("conformance.linux.test_x", "test_y[a-b]")),
    ("t/test_x.py::TestC::test_y", ("t.test_x.TestC", "test_y")),
    ("t/test_x.py", ("t.test_x", "t/test_x.py")),
], ids=["function", "class", "module"])
def test_split_nodeid(nodeid, expected):
    assert split_nodeid(nodeid) == expected


def test_config_options_keep_the_probes_options_and_cited_ones():
    """compare explains a skip naming CONFIG_X by the values both runs record."""
    config = (b"CONFIG_VSOCKETS=m\n# CONFIG_VSOCKETS_LOOPBACK is not set\n"
              b'CONFIG_LOCALVERSION="-test"\nCONFIG_OTHER=y\n')
    names = provenance.probe_options() | {"CONFIG_LOCALVERSION"}
    assert {"CONFIG_VSOCKETS", "CONFIG_VSOCKETS_LOOPBACK", "CONFIG_NET_NS"} <= names
    got = provenance.config_options(config, names)
    assert got["CONFIG_VSOCKETS"] == "m" and got["CONFIG_LOCALVERSION"] == "-test"
    assert got["CONFIG_VSOCKETS_LOOPBACK"] is None and got["CONFIG_NET_NS"] is None
    assert "CONFIG_OTHER" not in got
    assert provenance.config_options(None, names) is None


def test_recorder_keeps_the_config_options_skip_reasons_cite(pytester):
    pytester.makepyfile(test_cfg="""
import pytest

@pytest.mark.clause("LNX-SF-EAGAIN")
def test_skips():
    pytest.skip("kernel without CONFIG_NO_SUCH_OPTION_X")
""")
    out = pytester.path / "out"
    pytester.runpytest_subprocess(f"--conformance-results={out}")
    kernel = json.loads((out / "results.json").read_text())["kernel"]
    if kernel["config_hash"] is None:
        pytest.skip("this kernel's config is not readable: config_options is None")
    assert kernel["config_options"]["CONFIG_NO_SUCH_OPTION_X"] is None  # cited, not set
    assert set(provenance.probe_options()) <= set(kernel["config_options"])


def test_a_test_under_way_when_the_run_is_interrupted_is_an_error_naming_it(pytester, tmp_path):
    """KeyboardInterrupt (what SIGINT, or conformance run's forwarding of SIGTERM, raises) in a
    test: the finished tests keep their verdicts, the running one is an ERROR saying why."""
    pytester.makepyfile(test_stop="""
import pytest
def test_before():
    pass
def test_under_way():
    raise KeyboardInterrupt
def test_never_started():
    pass
""")
    out = tmp_path / "out"
    pytester.runpytest_subprocess(f"--conformance-results={out}", "-p", "no:cacheprovider")
    tests = by_name(json.loads((out / "results.json").read_text()))
    assert tests["test_before"]["outcome"] == "passed"
    assert tests["test_under_way"]["outcome"] == "error"
    assert "interrupted" in tests["test_under_way"]["message"]
    assert "test_never_started" not in tests
