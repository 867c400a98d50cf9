"""Self-tests of the mutation harness itself (fast; the mutation runs are `python -m tests.mutation`,
never collected here): the notification streams, the verdicts and the matrix, the recording
plugin, and the tracer end to end (a lie reaches a process it starts, and changes what it sees).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.abi.errqueue import (
    IP_RECVERR,
    SO_EE_ORIGIN_ZEROCOPY,
    SOCK_EE,
    SOL_IP,
)

from . import lies, matrix, tracer
from .runs import Run, read_record

ROOT = Path(__file__).resolve().parents[2]
LINUX_X86 = pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64",
                               reason="the tracer is for Linux x86_64")


# --- streams ------------------------------------------------------------------------------------

def zc(lo: int, hi: int, code: int = 0) -> lies.Msg:
    data = SOCK_EE.pack(0, SO_EE_ORIGIN_ZEROCOPY, 0, code, 0, lo, hi) + bytes(16)
    return lies.Msg([(SOL_IP, IP_RECVERR, data)], lambda anc: anc)


def drain(stream: lies.Stream, queue: list[lies.Msg]) -> list[tuple[int, int, int]]:
    """What a reader draining the queue through the stream sees: (lo, hi, code) per read."""
    def pull() -> lies.Msg:
        if not queue:
            raise BlockingIOError(11, "empty")
        return queue.pop(0)
    seen = []
    while True:
        try:
            m = stream.next(pull)
        except BlockingIOError:
            return seen
        ee = m.zc()
        seen.append((ee.info, ee.data, ee.code))


@pytest.mark.parametrize("stream,want", [
    pytest.param(lies.Stream(), [(0, 0, 0), (1, 2, 0)], id="truth"),
    pytest.param(lies.Missing(), [(1, 2, 0)], id="missing"),
    pytest.param(lies.Never(), [], id="never"),
    pytest.param(lies.Duplicated(), [(0, 0, 0), (0, 0, 0), (1, 2, 0), (1, 2, 0)], id="duplicated"),
    pytest.param(lies.MergedOverreach(), [(0, 3, 0)], id="merged-overreach"),
    pytest.param(lies.OutOfOrder(), [(1, 2, 0), (0, 0, 0)], id="out-of-order"),
    pytest.param(lies.Code(copied=True), [(0, 0, 1), (1, 2, 1)], id="copied-set"),
])
def test_stream_tells_its_lie(stream, want):
    assert drain(stream, [zc(0, 0), zc(1, 2)]) == want


def test_copied_cleared_and_alone_overreach():
    assert drain(lies.Code(copied=False), [zc(0, 0, 1)]) == [(0, 0, 0)]
    assert drain(lies.MergedOverreach(), [zc(5, 5)]) == [(5, 6, 0)]


# --- verdicts and the matrix --------------------------------------------------------------------

def rec(nodeid: str, outcome: str, reason: str = "", duration: float = 0.1) -> dict:
    return {"nodeid": nodeid, "outcome": outcome, "reason": reason, "duration": duration}


def fake_run(label: str, wall: float, *records: dict, killed: bool = False) -> Run:
    return Run(label, ("conformance/linux/test_x.py",), wall=wall, killed=killed,
               tests={r["nodeid"]: r for r in records})


A, B = "conformance/linux/test_x.py::test_a[p]", "conformance/linux/test_x.py::test_b"
LIE = lies.Lie("demo", "says so", "seccomp", ("test_x.py",))


def test_a_failure_catches_a_lie_and_the_matrix_names_it():
    base = fake_run("baseline-0", 2.0, rec(A, "passed"), rec(B, "passed"))
    v = matrix.evaluate(LIE, base, fake_run("demo", 3.0, rec(A, "failed", "boom"), rec(B, "passed")), 5)
    assert (v.word, v.caught, v.problems) == ("caught", [A], [])
    text = matrix.render([v], 5.0, base, "6.18")
    assert "demo                         seccomp   caught" in text
    assert "test_x.py: test_a[p]" in text and "problems: none" in text
    assert json.loads(json.dumps(matrix.as_json([v], 5.0)))["lies"][0]["caught"] == [A]


def test_passing_skipping_and_timeouts_are_survival():
    base = fake_run("baseline-0", 2.0, rec(A, "passed"), rec(B, "failed"))
    timeout = "Failed: Timeout (>12.0s) from pytest-timeout."
    v = matrix.evaluate(LIE, base, fake_run("demo", 3.0, rec(A, "failed", timeout),
                                            rec(B, "failed")), 5)
    assert v.word == "SURVIVED" and v.timeouts == [A] and not v.caught   # B failed already


def test_over_five_times_the_baseline_is_slow_and_names_the_test():
    base = fake_run("baseline-0", 2.0, rec(A, "passed"), rec(B, "passed"))
    run = fake_run("demo", 24.0, rec(A, "failed", duration=9.0), killed=True)
    run.running = B
    v = matrix.evaluate(LIE, base, run, 5)
    assert v.word == "SLOW" and "test_x.py::test_a[p]" in v.problems[0] \
        and "test_x.py::test_b" in v.problems[0] and "1 tests never ran" in v.problems[0]


def test_an_absent_feature_must_only_skip_naming_its_option():
    lie = lies.Lie("gone", "no such family", "seccomp", ("test_x.py",), kind="absent",
                   skip_names="CONFIG_X")
    base = fake_run("baseline-0", 2.0, rec(A, "passed"), rec(B, "passed"))
    good = matrix.evaluate(lie, base, fake_run("gone", 2.0, rec(A, "skipped", "CONFIG_X unset"),
                                               rec(B, "passed")), 5)
    bad = matrix.evaluate(lie, base, fake_run("gone", 2.0, rec(A, "skipped", "no idea"),
                                              rec(B, "error", "EAFNOSUPPORT")), 5)
    assert good.problems == [] and good.word == "skips"
    assert [p.split(":")[0] for p in bad.problems] == ["SHAPE", "SHAPE"]


def test_a_regression_fails_its_dedicated_test_and_the_rest_skip_naming_it():
    lie = lies.Lie("reg", "refused", "ptrace", ("test_x.py",), must_fail=("test_b",))
    base = fake_run("baseline-0", 2.0, rec(A, "passed"), rec(B, "passed"), rec(B + "[udp]", "passed"))
    good = matrix.evaluate(lie, base, fake_run("reg", 2.0, rec(A, "skipped", "test_b failed"),
                                               rec(B, "failed"), rec(B + "[udp]", "passed")), 5)
    hidden = matrix.evaluate(lie, base, fake_run("reg", 2.0, rec(A, "skipped", "ENOPROTOOPT"),
                                                 rec(B, "skipped", "ENOPROTOOPT")), 5)
    assert good.problems == []
    assert hidden.word == "SURVIVED" and any(p.startswith("SHAPE") for p in hidden.problems)


def test_allowed_behaviour_must_leave_the_suite_green():
    lie = lies.Lie("legal", "allowed", "binding", ("test_x.py",), kind="allowed")
    base = fake_run("baseline-0", 2.0, rec(A, "passed"))
    assert matrix.evaluate(lie, base, fake_run("legal", 2.0, rec(A, "passed")), 5).word == "green"
    assert matrix.evaluate(lie, base, fake_run("legal", 2.0, rec(A, "failed")), 5).word == "SHAPE"


# --- the recording plugin -----------------------------------------------------------------------

def test_record_tells_each_verdict(pytester, monkeypatch, tmp_path):
    pytester.makepyfile(test_demo="""
        import pytest
        def test_pass(): pass
        def test_fail(): assert 0, "no"
        def test_skip(): pytest.skip("absent: CONFIG_X")
        @pytest.mark.xfail(strict=True, reason="known")
        def test_xfail(): assert 0
        @pytest.fixture
        def broken(): raise OSError("setup")
        def test_error(broken): pass
        def test_hangs():
            import select
            select.select([], [], [], 60)
    """)
    record, timeouts = tmp_path / "record.jsonl", tmp_path / "timeouts.json"
    timeouts.write_text(json.dumps({"test_demo.py::test_hangs": 0.5}))
    monkeypatch.setenv("MUTATION_RECORD", str(record))
    monkeypatch.setenv("MUTATION_TIMEOUTS", str(timeouts))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.runpytest_subprocess("-p", "tests.mutation.inject", "-p", "no:cacheprovider",
                                  "--timeout=30", "--timeout-method=signal")
    pid, tests, running = read_record(record)
    got = {n.split("::")[1]: (r["outcome"], r["reason"][:16]) for n, r in tests.items()}
    assert pid and running is None
    assert got == {"test_pass": ("passed", ""), "test_fail": ("failed", "AssertionError: "),
                   "test_skip": ("skipped", "absent: CONFIG_X"), "test_xfail": ("xfailed", "known"),
                   "test_error": ("error", "OSError: setup"),
                   "test_hangs": ("failed", "Failed: Timeout ")}


# --- the tracer end to end ----------------------------------------------------------------------

CHILD = """
import os, sys, tempfile
f = tempfile.TemporaryFile(); f.write(b"x" * 100); f.flush()
r, w = os.pipe()
r2, w2 = os.pipe(); os.write(w2, b"abcd")
def call(fn):
    try:
        return fn()
    except OSError as e:
        return -e.errno
closed = os.dup(0); os.close(closed)
print(call(lambda: os.sendfile(w, f.fileno(), 0, 100)),
      call(lambda: os.sendfile(w, closed, 0, 1)),
      [call(lambda: os.splice(r2, w, 1)) for _ in range(4)])
"""


def traced(lie: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tests.mutation", "exec", lie, "--",
                           sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@LINUX_X86
@pytest.mark.parametrize("lie,want", [
    # sendfile moves 100 bytes; closed in_fd: EBADF (9); each splice moves one byte
    ("canary-sendfile-eio", "-5 -5 [1, 1, 1, 1]"),
    ("sendfile-claims-half", "50 -9 [1, 1, 1, 1]"),
    ("sendfile-ebadf-as-einval", "100 -22 [1, 1, 1, 1]"),
    ("splice-zero-every-second", "100 -9 [1, 0, 1, 0]"),
])
def test_tracer_makes_the_kernel_lie(lie, want):
    assert traced(lie) == want


def test_published_config_is_edited_line_by_line():
    text = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n"
    assert tracer.edited_config(text, {"CONFIG_A": None, "CONFIG_B": "y", "CONFIG_D": None}) == (
        "# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=m\n# CONFIG_D is not set\n")


def test_every_default_lie_is_complete():
    for lie in (lies.LIES[n] for n in lies.DEFAULT):
        assert lie.files and lie.says and lie.kind in ("regression", "absent", "allowed")
        assert bool(lie.rules) == (lie.mechanism in ("seccomp", "ptrace")), lie.name
        assert bool(lie.stream) == (lie.mechanism == "binding"), lie.name
        assert (lie.on_entry is not None) == (lie.mechanism == "ptrace"), lie.name
    assert len(lies.DEFAULT) >= 12 and os.path.isdir(ROOT / "conformance" / "linux")
