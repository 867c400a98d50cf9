"""`conformance report`: golden markdown reports from a fixed results.json and a fixed clause
catalog, the rerun command, and the standalone reproducer (standard library only; on Linux it
runs and says whether the failure reproduces)."""
import ast
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.catalog import Clause
from conformance.results import report

GOLDEN = Path(__file__).parent / "golden"
BASE, CAND = GOLDEN / "results-base.json", GOLDEN / "results-mixed.json"
CLAUSES = {c.id: c for c in [
    Clause("LNX-SF-EINVAL-APPEND", "linux", "sendfile",
           "If out_fd was opened with O_APPEND, sendfile() fails with EINVAL.",
           "sendfile(2) ERRORS", "documented", since="2.6.33"),
    Clause("LNX-SF-EBADF-IN-INVALID", "linux", "sendfile",
           "An in_fd that is not an open descriptor gives EBADF.", "sendfile(2) ERRORS",
           "documented"),
    Clause("LNX-SF-EAGAIN", "linux", "sendfile", "A full non-blocking out_fd gives EAGAIN.",
           "sendfile(2) ERRORS", "documented"),
    Clause("LNX-SP-ESPIPE", "linux", "splice", "An offset for a pipe end gives ESPIPE.",
           "fs/splice.c do_splice()", "source", notes="Checked by reading 6.18."),
]}


def golden_dir(name: str, files: dict[str, str]) -> None:
    """Compare with tests/golden/NAME/; CONFORMANCE_UPDATE_GOLDEN=1 rewrites the directory.
    Scripts are kept as .py.txt, so that linters and collectors leave them alone."""
    files = {f"{n}.txt" if n.endswith(".py") else n: text for n, text in files.items()}
    path = GOLDEN / name
    if os.environ.get("CONFORMANCE_UPDATE_GOLDEN"):
        path.mkdir(exist_ok=True)
        for old in path.iterdir():
            old.unlink()
        for fname, text in files.items():
            (path / fname).write_text(text)
    assert sorted(files) == sorted(p.name for p in path.iterdir())
    for fname, text in files.items():
        assert text == (path / fname).read_text(), f"{name}/{fname} differs"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def written(tmp_path: Path, baseline: dict | None = None) -> dict[str, str]:
    out = tmp_path / "reports"
    report.write_all(load(CAND), out, CLAUSES, baseline)
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_reports_match_golden(tmp_path):
    golden_dir("report-mixed", written(tmp_path))


def test_baseline_reports_regressions_and_failing_new_tests(tmp_path):
    files = written(tmp_path, load(BASE))
    md = sorted(n for n in files if n.endswith(".md"))
    assert md == ["01-test_full_nonblocking_pipe_gives_eagain.md",
                  "02-test_sendfile_fails_with_ebadf-in-closed-out-file-wronly.md",
                  "03-test_sendfile_rejects_arguments-EINVAL-in-file-rdonly-out-fi.md",
                  "04-test_splice_rejects_arguments-ESPIPE-in-pipe-read-0x0-out-fi.md",
                  "lost-coverage.md"]
    regression = files[md[2]]
    assert "- **Verdict:** failed (was passed on 6.12.9-test)" in regression
    assert "- **Baseline kernel:** linux 6.12.9-test" in regression
    assert "so this failure means: the kernel disagrees with its documentation" in regression


def test_lost_coverage_section_lists_causes_and_explanations(tmp_path):
    """The tests `compare` calls lost coverage, with causes; then those the records explain."""
    text = written(tmp_path, load(BASE))["lost-coverage.md"]
    lost = text.split("## Lost coverage (3): fails the comparison")[1].split("## Explained")[0]
    for needle in ("test_pipe_without_readers_gives_epipe_and_sigpipe`: passed -> xfailed",
                   "  - cause: now xfailed: known failure known-failures.toml #1",
                   "test_removed`: passed -> gone", "  - cause: vanished: not in CAND",
                   "test_sendfile_queues_no_zerocopy_notification`: passed -> skipped",
                   "  - cause: now skipped: requires feature SO_ZEROCOPY"):
        assert needle in lost, needle
    assert "## Explained (0): does not fail\n\nNone.\n" in text
    base, cand = load(CAND), load(CAND)
    cand["environment"]["privileged"] = False
    test = next(t for t in cand["tests"] if t["nodeid"].endswith("test_was_known"))
    test.update(outcome="skipped", reason="requires root (euid 1000)")
    out = tmp_path / "explained"
    report.write_all(cand, out, CLAUSES, base)
    text = (out / "lost-coverage.md").read_text()
    assert "## Lost coverage (0): fails the comparison\n\nNone." in text
    assert ("## Explained (1): does not fail\n\n- `conformance/linux/test_sendfile_blocking.py::"
            "test_was_known`: passed -> skipped\n  - cause: now skipped: requires root (euid "
            "1000)\n  - explanation: CAND ran unprivileged, BASE as root") in text
    same = tmp_path / "same"
    report.write_all(base, same, CLAUSES, base)
    assert not (same / "lost-coverage.md").exists()


FREEBSD_CLAUSES = {c.id: c for c in [
    Clause("BSD-SPL-COUNT-KEPT", "freebsd", "so_splice", "A failed SO_SPLICE keeps the count.",
           "getsockopt(2) SO_SPLICE", "documented"),
    Clause("BSD-SPL-EOF-EPIPE", "freebsd", "so_splice", "EOF with a full sink unsplices.",
           "sys/kern/uipc_socket.c so_splice_xfer_data()", "source"),
]}


def freebsd_results() -> dict:
    """A FreeBSD run: two failures (one per basis) and one error, basis as recorded."""
    results = load(CAND)
    results["kernel"].update(os="freebsd", release="15.0-RELEASE", machine="amd64")
    fail = {"outcome": "failed", "duration": 0.1, "reason": None, "transcript": [],
            "known_failure": None, "message": "E       AssertionError: 32768 bytes left"}
    results["tests"] = [
        {**fail, "nodeid": "conformance/freebsd/test_so_splice_teardown.py::test_eof",
         "clauses": ["BSD-SPL-EOF-EPIPE"], "basis": {"BSD-SPL-EOF-EPIPE": "source"}},
        {**fail, "nodeid": "conformance/freebsd/test_so_splice_bytecount.py::test_kept",
         "clauses": ["BSD-SPL-COUNT-KEPT"], "basis": {"BSD-SPL-COUNT-KEPT": "documented"}},
        {**fail, "nodeid": "conformance/freebsd/test_so_splice_teardown.py::test_setup",
         "outcome": "error", "clauses": ["BSD-SPL-EOF-EPIPE"],
         "basis": {"BSD-SPL-EOF-EPIPE": "source"}},
    ]
    return results


def test_freebsd_source_only_failures_say_what_the_verdict_means(tmp_path):
    report.write_all(freebsd_results(), tmp_path, FREEBSD_CLAUSES)
    files = {p.name: p.read_text() for p in tmp_path.glob("*.md")}
    eof, kept, setup = (files[n] for n in ("01-test_eof.md", "02-test_kept.md",
                                            "03-test_setup.md"))
    caveat = ('> **Caveat:** BSD-SPL-EOF-EPIPE has basis "source" (our reading of the FreeBSD '
              'source, not yet confirmed on a FreeBSD kernel). This verdict means "behaviour '
              'differs from our reading of the source" until confirmed on a FreeBSD kernel')
    assert eof.splitlines()[2].startswith(caveat)
    assert "Caveat" not in kept  # a documented clause: the kernel disagrees with its man page
    assert "Caveat" not in setup  # a harness error is no verdict
    # the basis the run recorded counts, even where this checkout's catalog says otherwise
    results = freebsd_results()
    results["tests"][0]["basis"] = {"BSD-SPL-EOF-EPIPE": "documented"}
    report.write_all(results, tmp_path / "recorded", FREEBSD_CLAUSES)
    assert "Caveat" not in (tmp_path / "recorded" / "01-test_eof.md").read_text()
    linux = freebsd_results()
    linux["kernel"]["os"] = "linux"
    report.write_all(linux, tmp_path / "linux", FREEBSD_CLAUSES)
    assert "Caveat" not in (tmp_path / "linux" / "01-test_eof.md").read_text()


def test_report_has_what_a_kernel_developer_needs(tmp_path):
    text = written(tmp_path)["02-test_sendfile_rejects_arguments-EINVAL-in-file-rdonly-out-fi.md"]
    assert text.startswith("# [zerocopy-conformance] sendfile LNX-SF-EINVAL-APPEND: failure: ")
    for needle in ("**Kernel:** linux 6.18.44-test", "sha256:" + "ab" * 32,
                   "statement: If out_fd was opened with O_APPEND",
                   "source: sendfile(2) ERRORS; since 2.6.33",
                   ("**Expected:** sendfile(out=file-append, in=file-rdonly, offset=None, count=1) "
                   "fails with EINVAL"),
                   ("**Observed:** sendfile(out=file-append, in=file-rdonly, offset=None, count=1): "
                   "EBADF (Bad file descriptor)"),
                   "sendfile(out_fd=12, in_fd=11, offset=None, count=1) = -1 EBADF",
                   ("'conformance/linux/test_sendfile_einval.py::test_sendfile_rejects_arguments["
                   "EINVAL-in=file-rdonly,out=file-append,off=NULL,count=1]'"),
                   "```python"):
        assert needle in text, needle


def test_rerun_command_carries_target_and_hypothesis_seed():
    results = load(CAND)
    hyp = next(t for t in results["tests"] if "arithmetic" in t["nodeid"])
    lines = report.rerun(results, hyp)
    assert lines[0].startswith("# as root, from a checkout of the suite at ec13d12e5c33")
    assert lines[1] == "export CONFORMANCE_KNOWN_FAILURES=/etc/lab.toml"  # the run's extra file
    assert lines[2].endswith("test_sendfile_offsets_follow_the_man_page --hypothesis-seed=12345")
    vm = copy.deepcopy(results)
    vm["run"]["target"] = "kernel:/boot/vmlinuz-6.1.0-30-amd64"
    vm["environment"]["accel"] = "tcg"
    vm["run"]["known_failures"] = vm["run"]["known_failures"][:1]
    assert report.rerun(vm, hyp)[1].startswith(
        "conformance run --os linux --kernel /boot/vmlinuz-6.1.0-30-amd64 --accel tcg -- ")


def test_no_reproducer_where_the_transcript_cannot_make_one():
    results = load(CAND)
    why = {t["nodeid"].split("::")[-1]: report.reproducer(t, results)[1] for t in results["tests"]}
    assert why["test_sendfile_offsets_follow_the_man_page"].startswith("a property test")
    assert why["test_full_nonblocking_pipe_gives_eagain"].startswith(
        "the transcript does not say what in_fd was")
    assert why["test_tcp_peer_receives_the_file_range[ipv6]"] == "the transcript is empty"
    zc = {"nodeid": "x.py::t[in=file-rdonly,out=file-rdwr]", "outcome": "failed", "message": "",
          "transcript": [{"call": "setsockopt", "args": {}, "result": 0, "errno": None}]}
    assert "(setsockopt)" in report.reproducer(zc, results)[1]


def stdlib_only(script: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names)


def run_script(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    path = tmp_path / "repro.py"
    path.write_text(script)
    # -I: isolated, so nothing of this project (or site-packages) can be imported
    return subprocess.run([sys.executable, "-I", str(path)], check=False, capture_output=True,
                          text=True,
                          timeout=60, cwd=tmp_path)


def test_reproducers_use_the_standard_library_only():
    results = load(CAND)
    scripts = [s for t in results["tests"] if (s := report.reproducer(t, results)[0])]
    assert len(scripts) == 4  # the three failures with fd kinds in their ids, and one pass
    for script in scripts:
        assert stdlib_only(script) == set()
        compile(script, "repro.py", "exec")


@pytest.mark.skipif(sys.platform != "linux", reason="the reproducer calls Linux sendfile64")
def test_reproducer_says_whether_the_failure_reproduces(tmp_path):
    """sendfile with in_fd -1 is EBADF on every Linux: a report claiming the clause expects
    EINVAL there reproduces (exit 1); the strict-XPASS report's EBADF does not (exit 0)."""
    results = load(CAND)
    negative = copy.deepcopy(next(t for t in results["tests"] if "in=negative" in t["nodeid"]))
    negative.update(outcome="failed", message="E   AssertionError: sendfile(out=file-wronly, "
                    "in=negative): expected EINVAL, got EBADF (Bad file descriptor)")
    proc = run_script(tmp_path, report.reproducer(negative, results)[0])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "REPRODUCED: the kernel disagrees with clause LNX-SF-EBADF-IN-INVALID" in proc.stdout
    assert "-1 EBADF   (recorded: -1 EBADF; the clause expects: -1 EINVAL)" in proc.stdout
    xpass = next(t for t in results["tests"] if "in=closed" in t["nodeid"])
    proc = run_script(tmp_path, report.reproducer(xpass, results)[0])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("NOT REPRODUCED: this kernel does what")


def test_cli_writes_reports_next_to_the_run(tmp_path, capsys):
    run = tmp_path / "run1"
    run.mkdir()
    (run / "results.json").write_text(CAND.read_text())
    assert cli.main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(f"8 failure report(s) in {run / 'reports'}")
    assert len(list((run / "reports").glob("*.md"))) == 8
    assert len(list((run / "reports").glob("*-repro.py"))) == 3


def test_cli_nothing_to_report_is_exit_0(tmp_path, capsys):
    results = load(CAND)
    results["tests"] = [t for t in results["tests"] if t["outcome"] == "passed"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert cli.main(["report", str(tmp_path), "--baseline", str(tmp_path)]) == 0
    assert "no regression" in capsys.readouterr().out
