"""The speed defaults of `conformance run` (issue 16): xdist by default where it is safe, the
example profile of the property tests, the bytecode cache, the TCG boot options; none of them
may change what a test checks, only how many processes run it and what they compile."""
import hashlib
import json
import shlex
import sys
from pathlib import Path

import pytest

from conformance import catalog, toml_cache
from conformance import hypothesis_profiles as hp
from conformance.targets import host, kernel


@pytest.mark.parametrize("args, want", [
    (["-q"], ["-n", "auto", "--dist", "loadgroup", "-q"]),
    (["-k", "splice"], ["-n", "auto", "--dist", "loadgroup", "-k", "splice"]),
    (["-n", "0"], ["-n", "0"]),
    (["-n2"], ["-n2"]),
    (["--dist=load"], ["--dist=load"]),
    (["-p", "no:xdist"], ["-p", "no:xdist"]),
    (["--pdb"], ["--pdb"]),
    (["-s"], ["-s"]),
    (["conformance/linux/test_x.py::test_y"], ["conformance/linux/test_x.py::test_y"]),
], ids=lambda v: shlex.join(v) if isinstance(v, list) else v)
def test_host_runs_in_parallel_unless_the_arguments_decide(args, want):
    assert host.with_workers(args) == want


def test_guest_keeps_one_crash_proof_worker_for_named_tests():
    assert kernel.crash_proof(["x.py::t"]) == ["-n", "1", "x.py::t"]
    assert kernel.crash_proof(["-p", "no:xdist"]) == ["-p", "no:xdist"]


@pytest.mark.parametrize("profile, full, want", [
    ("quick", 150, 50), ("quick", 60, 20), ("quick", 25, 10), ("quick", 5, 5),
    ("full", 150, 150), ("nightly", 150, 600),
])
def test_example_counts_scale_with_the_profile(monkeypatch, profile, full, want):
    monkeypatch.setattr(hp, "_chosen", None)
    monkeypatch.setenv(hp.ENV, profile)
    assert hp.current() == profile
    assert hp.examples(full) == want


def test_an_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setattr(hp, "_chosen", None)
    monkeypatch.setenv(hp.ENV, "slow")
    with pytest.raises(hp.ProfileError, match="unknown example profile 'slow'"):
        hp.current()


def test_results_record_the_profile_and_each_property_test_count(pytester):
    pytester.makepyfile(test_prop="""
        from hypothesis import given, settings, strategies as st
        from conformance.hypothesis_profiles import examples

        @settings(max_examples=examples(30), deadline=None, database=None)
        @given(st.integers())
        def test_p(n):
            pass

        def test_plain():
            pass
    """)
    out = pytester.path / "res"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--conformance-examples=full",
                                           f"--conformance-results={out}")
    result.assert_outcomes(passed=2)
    data = json.loads((out / "results.json").read_text())
    assert data["environment"]["hypothesis_profile"] == "full"
    counts = {t["nodeid"].rsplit("::", 1)[-1]: t.get("hypothesis_examples") for t in data["tests"]}
    assert counts == {"test_p": 30, "test_plain": None}


def test_bytecode_goes_to_a_cache_outside_the_tree(tmp_path):
    env = host.bytecode_env({"PYTHONDONTWRITEBYTECODE": "1", "A": "b"}, tmp_path)
    assert env == {"A": "b", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    mine = {"PYTHONPYCACHEPREFIX": "/elsewhere", "PYTHONDONTWRITEBYTECODE": "1"}
    assert host.bytecode_env(mine, tmp_path) == mine


def test_warm_up_compiles_what_the_guest_imports(tmp_path, monkeypatch):
    """The warm-up leaves compiled suite modules and pytest's rewritten test modules in the
    cache (a guest then compiles nothing); the same source tree must be used."""
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    proc = host.warm_bytecode("linux", tmp_path)
    try:
        assert proc.wait(300) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rewritten = list(tmp_path.rglob("test_splice_einval.cpython-*pytest*.pyc"))
    plain = list(tmp_path.rglob("gateway_base.cpython-*.pyc"))  # execnet: xdist workers only
    assert rewritten and plain, sorted(p.name for p in tmp_path.rglob("*.pyc"))[:20]
    catalogs = sorted(catalog.SPEC_DIR.glob("linux/*.toml"))
    parsed = {p.stem for p in (tmp_path / toml_cache.SUBDIR).glob("*.pickle")}
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in catalogs} <= parsed
    assert list((host.hypothesis_storage(tmp_path) / "constants").iterdir())


def test_guest_script_reads_the_host_cache(tmp_path):
    script = kernel.guest_script("linux", tmp_path, "r", ["conformance"], [], "kernel:x", "tcg")
    assert f"export PYTHONPYCACHEPREFIX={host.bytecode_cache()}" in script
    assert "-n auto --dist loadgroup" in script
    constants = host.hypothesis_storage(host.bytecode_cache()) / "constants"
    assert f"ln -s {constants} {tmp_path / '.hypothesis' / 'constants'}" in script


def test_xdist_workers_start_with_the_slow_and_property_tests(pytester):
    """Workers reorder (the same way in each, as xdist requires); a serial run keeps the file's
    order. Results keep the order tests ran in."""
    pytester.makepyfile(test_order="""
        import pytest
        from hypothesis import given, settings, strategies as st

        def test_a():
            pass

        @settings(max_examples=2, deadline=None, database=None)
        @given(st.integers())
        def test_b(n):
            pass

        @pytest.mark.slow("big")
        def test_c():
            pass

        def test_d():
            pass
    """)
    for args, want in ((["-n", "1"], ["test_c", "test_b", "test_a", "test_d"]),
                       (["-p", "no:xdist"], ["test_a", "test_b", "test_c", "test_d"])):
        out = pytester.path / f"res{args[0]}"
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args,
                                               f"--conformance-results={out}")
        result.assert_outcomes(passed=4)
        journal = (out / "journal.jsonl").read_text().splitlines()
        assert [json.loads(line)["nodeid"].rsplit("::", 1)[-1] for line in journal] == want


def test_tcg_boot_skips_device_modules_the_suite_does_not_use(tmp_path, monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def popen(argv, **kw):
        seen["argv"] = argv
        raise Stop

    monkeypatch.setattr(kernel.subprocess, "Popen", popen)
    monkeypatch.setattr(kernel, "set_child_subreaper", lambda: None)
    image = kernel.Image(Path("/boot/vmlinuz-x"), "x", None, "9p")
    tools = kernel.Tools(sys.executable, "/usr/bin/qemu-system-x86_64")
    for accel in ("tcg", "kvm"):
        with pytest.raises(Stop):
            kernel.run_vm(tools, image, "true", tmp_path, accel, 2, "2G", 10.0, print)
        blacklist = [a for a in seen["argv"] if a.startswith("modprobe.blacklist=")]
        assert (blacklist == [kernel.TCG_BOOT_OPTIONS]) == (accel == "tcg")
    assert "kvm_intel" in kernel.TCG_BOOT_OPTIONS


def test_the_xdist_controller_does_not_import_hypothesis_at_the_end(pytester, monkeypatch):
    """hypothesis's terminal summary imported hypothesis in the controller after the last test
    (about 12 s under TCG) with nothing to print; a failing property test still shows its
    falsifying example (the worker's report)."""
    pytester.makeconftest("""
        import os, sys
        def pytest_unconfigure(config):
            if not hasattr(config, "workerinput"):
                with open(os.environ["CONTROLLER_SAW"], "w") as fh:
                    fh.write(str("hypothesis" in sys.modules))
    """)
    pytester.makepyfile(test_prop="""
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=5, deadline=None, database=None)
        @given(st.integers(min_value=0))
        def test_p(n):
            assert n >= 0

        @settings(deadline=None, database=None)
        @given(st.integers())
        def test_fails(n):
            assert n < 10
    """)
    saw = pytester.path / "saw"
    monkeypatch.setenv("CONTROLLER_SAW", str(saw))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "1",
                                           f"--conformance-results={pytester.path / 'res'}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_fails*", "*n=10,*"])
    assert saw.read_text() == "False"
