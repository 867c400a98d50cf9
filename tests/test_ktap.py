"""KTAP writer: golden output from a fixed results.json, and every output checked against the
KTAP v1 grammar (Documentation/dev-tools/ktap.rst) by the small parser below."""
import json
import os
import re
from pathlib import Path

import pytest

from conformance.results import ktap

GOLDEN = Path(__file__).parent / "golden"
DIRECTIVES = {"SKIP", "TODO", "XFAIL", "XPASS", "TIMEOUT", "ERROR"}
RESULT = re.compile(r"^(?P<ok>ok|not ok) (?P<n>\d+)(?: (?P<desc>[^#]*?))?"
                    r"(?: # ?(?P<directive>[A-Z]+\b)?(?P<diag>.*))?$")


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; CONFORMANCE_UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("CONFORMANCE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; CONFORMANCE_UPDATE_GOLDEN=1 to accept"


def load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


class KtapError(AssertionError):
    pass


def parse(text: str) -> dict:
    """Parse KTAP v1 into {"tests": [{ok, n, desc, directive, diag, subtests}]}; raise KtapError
    on a grammar violation. Unknown lines are refused: our writer must not emit any."""
    lines = text.splitlines()
    pos = 0

    def block(level: int) -> list[dict]:
        nonlocal pos
        indent = "  " * level
        if pos >= len(lines) or lines[pos] != indent + "KTAP version 1":
            raise KtapError(f"line {pos + 1}: expected {indent!r}'KTAP version 1'")
        pos += 1
        m = re.fullmatch(rf"{indent}1\.\.(\d+)", lines[pos]) if pos < len(lines) else None
        if not m:
            raise KtapError(f"line {pos + 1}: expected a plan after the version line")
        planned, pos = int(m.group(1)), pos + 1
        tests, pending = [], None
        while pos < len(lines):
            line = lines[pos]
            if line.startswith(indent + "  KTAP version 1"):
                if pending is not None:
                    raise KtapError(f"line {pos + 1}: two subtest blocks for one result")
                pending = block(level + 1)
                continue
            if not line.startswith(indent) or line[len(indent):].startswith(" "):
                break  # the parent's level
            body = line[len(indent):]
            if body.startswith("#"):
                pos += 1
                continue
            m = RESULT.match(body)
            if not m:
                raise KtapError(f"line {pos + 1}: not a KTAP line: {line!r}")
            n = int(m["n"])
            if n != len(tests) + 1:
                raise KtapError(f"line {pos + 1}: test number {n}, expected {len(tests) + 1}")
            if m["directive"] and m["directive"] not in DIRECTIVES:
                raise KtapError(f"line {pos + 1}: unknown directive {m['directive']}")
            if m["directive"] in ("TIMEOUT", "ERROR") and m["ok"] == "ok":
                raise KtapError(f"line {pos + 1}: {m['directive']} must be 'not ok'")
            tests.append({"ok": m["ok"] == "ok", "n": n, "desc": (m["desc"] or "").strip(),
                          "directive": m["directive"], "diag": (m["diag"] or "").strip(),
                          "subtests": pending or []})
            pending = None
            pos += 1
        if len(tests) != planned:
            raise KtapError(f"plan 1..{planned} but {len(tests)} results at level {level}")
        if pending is not None:
            raise KtapError("a subtest block without its parent's result line")
        return tests

    tests = block(0)
    if any(not ln.startswith("#") for ln in lines[pos:]):
        raise KtapError(f"line {pos + 1}: trailing lines after the top-level block")
    for parent in tests:
        failed = any(not t["ok"] for t in parent["subtests"])
        if failed == parent["ok"]:
            raise KtapError(f"{parent['desc']}: parent result disagrees with its subtests")
    return {"tests": tests, "lines": lines}


def by_desc(tree: dict) -> dict:
    return {f"{p['desc']}::{t['desc']}": t for p in tree["tests"] for t in p["subtests"]}


def test_ktap_matches_golden():
    golden("ktap-mixed.txt", ktap.render(load("results-mixed.json")))


@pytest.mark.parametrize("fixture", ["results-mixed.json", "results-base.json"])
def test_ktap_follows_the_grammar(fixture):
    results = load(fixture)
    tree = parse(ktap.render(results))
    assert sum(len(p["subtests"]) for p in tree["tests"]) == len(results["tests"])


def test_ktap_maps_each_outcome_to_its_directive():
    tests = by_desc(parse(ktap.render(load("results-mixed.json"))))
    m = "conformance.linux."

    def get(module, name):
        return tests[f"{m}{module}::{name}"]

    passed = get("test_sendfile_ebadf",
                 "test_sendfile_fails_with_ebadf[in=negative,out=file-wronly]")
    assert (passed["ok"], passed["directive"]) == (True, None)
    xpass = get("test_sendfile_ebadf", "test_sendfile_fails_with_ebadf[in=closed,out=file-wronly]")
    assert (xpass["ok"], xpass["directive"]) == (False, None)
    timeout = get("test_sendfile_blocking", "test_full_nonblocking_pipe_gives_eagain")
    assert (timeout["ok"], timeout["directive"]) == (False, "TIMEOUT")
    assert timeout["diag"] == "120 seconds"
    xfail = get("test_sendfile_blocking", "test_pipe_without_readers_gives_epipe_and_sigpipe")
    assert (xfail["ok"], xfail["directive"]) == (True, "XFAIL")
    assert "EPIPE comes with SIGPIPE blocked only" in xfail["diag"]
    error = get("test_sendfile_sockets", "test_tcp_peer_receives_the_file_range[ipv6]")
    assert (error["ok"], error["directive"]) == (False, "ERROR")
    skip = get("test_sendfile_sockets", "test_sendfile_queues_no_zerocopy_notification")
    assert (skip["ok"], skip["directive"]) == (True, "SKIP")
    assert skip["diag"].startswith("requires feature SO_ZEROCOPY")
    nonstrict = get("test_sendfile_sockets", "TestSockets::test_nonstrict[a%23b]")
    assert (nonstrict["ok"], nonstrict["directive"]) == (True, "XPASS")


def test_failure_diagnostics_precede_the_result_line():
    lines = ktap.render(load("results-mixed.json")).splitlines()
    at = next(i for i, ln in enumerate(lines) if "ok 1 test_sendfile_rejects_arguments[" in ln)
    before = lines[at - 4:at]
    assert before[0] == "  # clauses: LNX-SF-EINVAL-APPEND"
    assert "expected EINVAL, got EBADF" in before[1]
    assert before[2:] == ["  # syscall transcript (1 calls):",
                          ("  #   sendfile(out_fd=12, in_fd=11, offset=None, count=1) = -1 EBADF "
                          "(Bad file descriptor)")]
    assert lines[-1] == "# Totals: pass:2 fail:5 xfail:1 xpass:1 skip:1 error:2"


def test_parser_rejects_broken_ktap():
    good = "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 a\nok 1 m\n"
    parse(good)
    for bad in (good.replace("1..1\n  KTAP", "1..2\n  KTAP"),       # plan mismatch
                good.replace("  ok 1 a", "  ok 2 a"),                 # numbering
                good.replace("  ok 1 a", "  not ok 1 a"),             # parent must fail
                good.replace("  ok 1 a", "  ok 1 a # BOGUS x"),       # directive
                good.replace("KTAP version 1\n1..1\n", "1..1\n", 1)):  # no version line
        with pytest.raises(KtapError):
            parse(bad)


def test_run_writes_ktap_and_kcidb_next_to_results(pytester):
    pytester.makepyfile(test_small="""
        import pytest

        @pytest.mark.clause("LNX-SF-EOF-ZERO")
        def test_ok():
            pass

        @pytest.mark.clause("LNX-SF-COUNT-ZERO")
        def test_bad():
            assert 1 == 2
    """)
    out = pytester.path / "out"
    pytester.runpytest_subprocess(f"--conformance-results={out}", "--conformance-run-id=r1")
    tree = parse((out / "ktap.txt").read_text())
    assert [t["ok"] for t in tree["tests"][0]["subtests"]] == [True, False]
    kcidb = json.loads((out / "kcidb.json").read_text())
    assert [t["status"] for t in kcidb["tests"]] == ["PASS", "FAIL"]
    assert (out / "junit.xml").exists() and (out / "results.json").exists()
