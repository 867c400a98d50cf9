"""Present, absent or broken: how a probe's answer becomes a verdict (conformance/plugin.py,
conformance/probes/__init__.py), and the evidence the probes accept (conformance/kconfig.py)."""
import errno
import gzip

import pytest

from conformance import kconfig, probes
from conformance.probes import zerocopy as zc_probes

SUITE_INI = "[pytest]\nconformance_suite_dirs = suite\n"
DEPENDENT = """
import pytest
pytestmark = pytest.mark.clause("LNX-MZC-TCP")
@pytest.mark.requires(feature="FAKE")
def test_needs_it():
    pass
"""
DEDICATED = """
import pytest
@pytest.mark.clause("LNX-MZC-SETUP-OK")
def test_dedicated():
    assert False, "the interface was refused"
"""


@pytest.fixture
def suite(pytester: pytest.Pytester):
    pytester.makeini(SUITE_INI)
    pytester.mkdir("suite")
    return lambda name, source: pytester.makepyfile(**{f"suite/{name}": source})


def run_with(pytester, monkeypatch, answer, *args):
    def fake():
        if isinstance(answer, BaseException):
            raise answer
        return answer
    monkeypatch.setitem(probes.PROBES, "FAKE", fake)
    return pytester.runpytest_inprocess("-rs", *args)


def test_absent_with_evidence_skips_with_it(pytester, suite, monkeypatch):
    suite("test_dep.py", DEPENDENT)
    result = run_with(pytester, monkeypatch, "CONFIG_FAKE is not set (/proc/config.gz)")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*requires feature FAKE: CONFIG_FAKE is not set*"])


def test_broken_fails_its_dedicated_test_and_skips_the_rest_naming_it(pytester, suite,
                                                                      monkeypatch):
    suite("test_dep.py", DEPENDENT)
    suite("test_ded.py", DEDICATED)
    broken = probes.Broken("setsockopt refused with ENOPROTOOPT", "test_ded.py::test_dedicated")
    result = run_with(pytester, monkeypatch, broken)
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines([("*broken on this kernel: setsockopt refused with ENOPROTOOPT; "
                                  "the regression is reported by test_ded.py::test_dedicated*")])


def test_broken_without_its_dedicated_test_in_the_run_fails_the_dependents(pytester, suite,
                                                                          monkeypatch):
    suite("test_dep.py", DEPENDENT)
    suite("test_ded.py", DEDICATED)
    broken = probes.Broken("setsockopt refused with ENOPROTOOPT", "test_ded.py::test_dedicated")
    result = run_with(pytester, monkeypatch, broken, "-k", "needs_it")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*feature FAKE is broken on this kernel*not part of this run*"])


def test_a_probe_that_raises_is_an_error_for_each_dependent_never_a_skip(pytester, suite,
                                                                        monkeypatch):
    suite("test_dep.py", DEPENDENT + "\n@pytest.mark.requires(feature='FAKE')\n"
                                     "def test_also():\n    pass\n")
    result = run_with(pytester, monkeypatch, OSError(errno.EIO, "unexpected"))
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*probe FAKE failed: OSError*"])


def test_built_in_zerocopy_is_broken_not_absent_when_refused(monkeypatch):
    monkeypatch.setattr(zc_probes, "_zerocopy_refused", lambda family, kind: "ENOPROTOOPT")
    monkeypatch.setattr(probes, "release_tuple", lambda release=None: (6, 1, 0))
    answer = zc_probes.tcp_zerocopy()
    assert isinstance(answer, probes.Broken), answer
    assert answer.test == zc_probes.SETUP_OK_TEST and "ENOPROTOOPT" in answer.reason


def test_built_in_zerocopy_is_absent_on_an_older_release(monkeypatch):
    monkeypatch.setattr(probes, "release_tuple",
                        lambda release=None: (4, 9, 0) if release is None else (4, 14))
    assert "arrived in 4.14" in zc_probes.tcp_zerocopy()


def test_config_parsing_and_evidence(tmp_path, monkeypatch):
    text = "CONFIG_VETH=m\n# CONFIG_DUMMY is not set\nCONFIG_LOCALVERSION=\"-x\"\n"
    assert kconfig.parse_config(text) == {"CONFIG_VETH": "m", "CONFIG_DUMMY": None,
                                          "CONFIG_LOCALVERSION": "-x"}
    config = tmp_path / "config.gz"
    config.write_bytes(gzip.compress(text.encode()))
    monkeypatch.setattr(kconfig, "running_config",
                        lambda release=None: (kconfig.parse_config(text), str(config)))
    assert kconfig.absent_evidence("CONFIG_VETH") is None
    assert kconfig.absent_evidence("CONFIG_DUMMY") == f"CONFIG_DUMMY is not set ({config})"


def test_no_config_and_no_module_lists_is_no_evidence(monkeypatch):
    monkeypatch.setattr(kconfig, "running_config", lambda release=None: None)
    monkeypatch.setattr(kconfig, "module_file", lambda module, release=None: (_ for _ in ()).throw(
        FileNotFoundError("no lists")))
    assert kconfig.absent_evidence("CONFIG_DUMMY", "dummy") is None
