"""The conformance plugin, driven through pytester: clause checks, requirements, probes,
deadlines, transcripts."""
import pytest

from conformance import probes

SUITE_INI = """
[pytest]
conformance_suite_dirs = suite
"""


@pytest.fixture
def suite(pytester: pytest.Pytester):
    """A pytester dir whose suite/ holds conformance tests."""
    pytester.makeini(SUITE_INI)
    pytester.mkdir("suite")

    def write(name: str, source: str):
        return pytester.makepyfile(**{f"suite/{name}": source})

    return write


def test_conformance_test_without_clause_fails_collection(pytester, suite):
    suite("test_a", "def test_no_clause():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_no_clause: conformance test cites no clause*"])


def test_unknown_clause_id_fails_collection(pytester, suite):
    suite("test_a", """
import pytest
@pytest.mark.clause("LNX-SF-NO-SUCH-THING")
def test_x():
    pass
""")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown clause ID 'LNX-SF-NO-SUCH-THING'*"])


def test_test_for_an_untestable_clause_fails_collection(pytester, suite):
    suite("test_a", """
import pytest
@pytest.mark.clause("LNX-SF-EIO")
def test_x():
    pass
""")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*LNX-SF-EIO is marked untestable*"])


def test_tests_outside_suite_dirs_need_no_clause(pytester, suite):
    pytester.makepyfile(test_other="def test_plain():\n    pass\n")
    pytester.runpytest("test_other.py").assert_outcomes(passed=1)


def test_our_markers_are_registered_and_strangers_rejected(pytester, suite):
    """Under --strict-markers (which `conformance run` passes) clause and requires are known."""
    suite("test_a", """
import pytest
@pytest.mark.clause("LNX-SF-EOF-ZERO")
@pytest.mark.requires(os="linux")
def test_ours():
    pass
@pytest.mark.clause("LNX-SF-EOF-ZERO")
@pytest.mark.no_such_marker
def test_x():
    pass
""")
    result = pytester.runpytest("--strict-markers")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'no_such_marker' not found in `markers`*"])


@pytest.mark.parametrize("marker, reason", [
    ('os="plan9"', "requires OS plan9 (running *)"),
    ('kernel="999.0", because="commit 0123456789ab adds it"',
     "requires kernel >= 999.0 (commit 0123456789ab adds it); running *"),
], ids=["os", "kernel"])
def test_unmet_requirement_skips_naming_what_is_missing(pytester, suite, marker, reason):
    suite("test_a", f"""
import pytest
@pytest.mark.clause("LNX-SF-EOF-ZERO")
@pytest.mark.requires({marker})
def test_x():
    raise AssertionError("the body must not run")
""")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"SKIPPED*{reason}"])


def test_kernel_requirement_without_commit_is_rejected():
    with pytest.raises(ValueError, match="must cite the commit"):
        probes.evaluate({"kernel": "5.12"}, lambda name: None)


def test_feature_probe_runs_once_per_session(pytester, suite, monkeypatch):
    calls = []

    def fake_probe():
        calls.append(1)
        return "fake feature absent (ENOPROTOOPT)"

    monkeypatch.setitem(probes.PROBES, "FAKE", fake_probe)
    suite("test_a", """
import pytest
pytestmark = [pytest.mark.clause("LNX-SF-EOF-ZERO"), pytest.mark.requires(feature="FAKE")]
@pytest.mark.parametrize("n", range(3))
def test_x(n):
    pass
""")
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*requires feature FAKE: fake feature absent (ENOPROTOOPT)*"])
    assert len(calls) == 1


def test_suite_tests_get_the_default_deadline(pytester, suite):
    suite("test_a", """
import pytest
from conformance.plugin import DEFAULT_TEST_DEADLINE
@pytest.mark.clause("LNX-SF-EOF-ZERO")
def test_x(request):
    mark = request.node.get_closest_marker("timeout")
    assert mark.args == (DEFAULT_TEST_DEADLINE,) and mark.kwargs == {"method": "signal"}
""")
    pytester.runpytest().assert_outcomes(passed=1)


def test_user_timeout_wins_over_the_default(pytester, suite):
    suite("test_a", """
import pytest
@pytest.mark.clause("LNX-SF-EOF-ZERO")
def test_x(request):
    assert request.node.get_closest_marker("timeout") is None
""")
    pytester.runpytest("--timeout=7").assert_outcomes(passed=1)


def test_hung_test_fails_at_its_deadline(pytester, suite):
    suite("test_a", """
import pytest, threading
@pytest.mark.clause("LNX-SF-EOF-ZERO")
@pytest.mark.timeout(1, method="signal")
def test_hangs():
    threading.Event().wait(60)
""")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_failure_output_shows_the_syscall_transcript(pytester, suite):
    suite("test_a", """
import errno, pytest
from conformance.abi import transcript
def fails():
    raise OSError(errno.EBADF, "Bad file descriptor")
@pytest.mark.clause("LNX-SF-EOF-ZERO")
def test_x():
    transcript.record("sendfile", {"out_fd": -1, "count": 1}, lambda: 7)
    transcript.record("sendfile", {"out_fd": -1, "count": 2}, fails)
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*syscall transcript*",
        "sendfile(out_fd=-1, count=1) = 7",
        "sendfile(out_fd=-1, count=2) = -1 EBADF (Bad file descriptor)",
    ])
