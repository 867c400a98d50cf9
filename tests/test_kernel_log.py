"""conformance.kernel_log: kmsg/console records grouped into incidents, on samples written in
the kernel's own formats (tests/data/kernel_log: the RFC's refcount_t warning and NULL
dereference on 6.12, a KASAN report, a lockdep report, a soft lockup and an RCU stall on 6.1),
and the Watcher on a fake /dev/kmsg."""
import json
import os
from pathlib import Path

import pytest

from conformance import kernel_log
from conformance.kernel_log import incidents, parse_records

DATA = Path(__file__).parent / "data" / "kernel_log"


def found(name: str) -> list[dict]:
    return [i.to_json() for i in incidents(parse_records((DATA / name).read_text()))]


def test_refcount_warning_is_one_incident_with_its_call_trace():
    (inc,) = found("refcount.kmsg")
    assert inc["kind"] == "refcount_t"
    assert inc["title"] == ("refcount_t: decrement hit 0; leaking memory. "
                            "(lib/refcount.c:31 refcount_warn_saturate+0x9a/0x120)")
    assert inc["frames"][:5] == ["refcount_warn_saturate", "do_splice_direct_actor",
                                 "do_splice_direct", "do_sendfile", "__x64_sys_sendfile2"]
    assert inc["seq"] == 1202
    excerpt = inc["excerpt"].splitlines()
    assert excerpt[0] == "refcount_t: decrement hit 0; leaking memory."
    assert "Call Trace:" in excerpt and excerpt[-1].startswith("---[ end trace")
    assert not any(ln.startswith(("RAX:", "Code:", "Modules linked in")) for ln in excerpt)
    assert "conformance: sendfile2 test done" not in inc["excerpt"]


@pytest.mark.parametrize("name, kind, title, frames, pid", [
    ("rfc612_refcount_real.kmsg", "refcount_t",
     ("refcount_t: decrement hit 0; leaking memory. (lib/refcount.c:31 "
     "refcount_warn_saturate+0x119/0x130)"),
     ["do_splice_direct_actor", "do_splice_direct", "do_sendfile", "__x64_sys_sendfile2"], 87),
    ("rfc612_null_deref_real.kmsg", "NULL pointer dereference",
     "BUG: kernel NULL pointer dereference, address: 0000000000000018",
     ["do_splice_direct", "do_sendfile", "__x64_sys_sendfile2", "do_syscall_64"], 198),
], ids=["refcount", "null-deref"])
def test_real_reports_from_the_rfc_kernel(name, kind, title, frames, pid):
    """Records read from /dev/kmsg in a guest running the RFC series on 6.12.118 (issue 15's
    run): one incident each, with its task; the NULL dereference's Oops line, its second RIP
    dump and the "note: python[198] exited" line do not make incidents of their own."""
    (inc,) = found(name)
    assert (inc["kind"], inc["title"], inc["frames"][:4]) == (kind, title, frames)
    assert (inc["pid"], inc["comm"]) == (pid, "python")
    assert "Call Trace:" in inc["excerpt"] and "Code:" not in inc["excerpt"]


@pytest.mark.parametrize("line, pid, comm", [
    ("CPU: 1 UID: 0 PID: 87 Comm: python Not tainted 6.12.118+ #1", 87, "python"),
    ("CPU: 0 PID: 433 Comm: python3 Tainted: G        W          6.1.0-57-amd64 #1", 433,
     "python3"),
    ("WARNING: CPU: 1 PID: 412 at lib/refcount.c:31 refcount_warn_saturate+0x9a/0x120", 412, None),
], ids=["6.12", "6.1", "warning-line"])
def test_task_lines(line, pid, comm):
    (inc,) = incidents(parse_records(f"4,1,1,-;refcount_t: saturated; leaking memory.\n"
                                     f"4,2,2,-;{line}\n"))
    assert inc.task == (pid, comm)


def test_an_incident_is_kept_by_the_worker_whose_task_logged_it():
    """kernel_health.logged_elsewhere: a live task that is not this process nor its descendant
    logged it elsewhere; this process, its child, a task gone or no task named: not elsewhere."""
    import subprocess
    import sys

    from conformance.kernel_health import logged_elsewhere
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not logged_elsewhere({"pid": os.getpid()})
        assert not logged_elsewhere({"pid": child.pid})            # my descendant
        assert logged_elsewhere({"pid": child.pid}, me=1 << 22)    # seen from elsewhere
        assert not logged_elsewhere({})
    finally:
        child.kill()
        child.wait()
    assert not logged_elsewhere({"pid": child.pid}, me=1 << 22)    # gone: cannot be placed


def test_an_exited_child_is_placed_by_the_run_registry(tmp_path, monkeypatch):
    """An isolated child that has exited: the worker that forked it keeps its incident, the
    other workers leave it; a child nobody registered stays with everyone."""
    import subprocess
    import sys

    from conformance import kernel_health
    monkeypatch.setattr(kernel_health.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(kernel_health, "_registry", kernel_health._open_registry(4242))
    assert kernel_health._registry == tmp_path / "conformance-children-4242"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not kernel_health.logged_elsewhere({"pid": gone.pid}, me=1 << 22)  # unregistered
    kernel_health.forked(gone.pid)
    assert not kernel_health.logged_elsewhere({"pid": gone.pid})              # mine
    assert kernel_health.logged_elsewhere({"pid": gone.pid}, me=1 << 22)      # another's


def test_isolation_registers_its_children(tmp_path, monkeypatch):
    from conformance.fixtures.isolation import Isolation

    from conformance import kernel_health
    monkeypatch.setattr(kernel_health, "_registry", tmp_path)
    run = Isolation()
    try:
        outcome = run(os.getpid)
    finally:
        run.close()
    assert [p.read_text() for p in tmp_path.iterdir()] == [str(os.getpid())]
    assert [p.name for p in tmp_path.iterdir()] == [str(outcome.value)]


def test_a_registry_path_that_is_not_our_directory_is_not_used(tmp_path, monkeypatch):
    from conformance import kernel_health
    monkeypatch.setattr(kernel_health.tempfile, "gettempdir", lambda: str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "conformance-children-7").symlink_to(tmp_path / "elsewhere")
    assert kernel_health._open_registry(7) is None


def test_the_controller_removes_the_registry_at_the_end(pytester, monkeypatch):
    """A run with two workers whose tests fork through isolated(): while it runs the workers
    share one registry; when it ends nothing is left in the temporary directory."""
    pytester.makepyfile(test_fork="""
        import os, pytest
        from conformance import kernel_health
        from conformance.fixtures.isolation import Isolation

        @pytest.mark.parametrize("n", range(4))
        def test_fork(n):
            run = Isolation()
            try:
                assert run(lambda: 1).value == 1
            finally:
                run.close()
            assert kernel_health._registry is not None
            assert kernel_health._registry.name == f"conformance-children-{os.getppid()}"
    """)
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           f"--conformance-results={pytester.path / 'res'}")
    result.assert_outcomes(passed=4)
    assert list(tmp.iterdir()) == []


def test_summary_names_kind_title_and_innermost_frames():
    (inc,) = found("refcount.kmsg")
    assert kernel_log.summary(inc).startswith("refcount_t: decrement hit 0; leaking memory. (")
    assert kernel_log.summary({"kind": "lockdep", "title": "WARNING: possible circular locking "
                               "dependency detected", "frames": []}).startswith("lockdep: WARN")
    assert kernel_log.summary(inc).endswith(
        "[refcount_warn_saturate <- do_splice_direct_actor <- do_splice_direct <- do_sendfile "
        "<- __x64_sys_sendfile2]")


def test_null_dereference_and_its_oops_line_are_one_incident():
    (inc,) = found("null_deref.kmsg")
    assert inc["kind"] == "NULL pointer dereference"
    assert inc["title"] == "BUG: kernel NULL pointer dereference, address: 0000000000000018"
    assert "RIP: 0010:do_splice_direct_actor+0x5c/0x1c0" in inc["excerpt"]
    assert inc["frames"][:3] == ["do_splice_direct", "do_sendfile", "__x64_sys_sendfile2"]


def test_kasan_report():
    (inc,) = found("kasan.kmsg")
    assert inc["kind"] == "KASAN"
    assert inc["title"].startswith("BUG: KASAN: slab-use-after-free in tcp_sendmsg_locked")
    assert "Read of size 8 at addr" in inc["excerpt"]
    assert inc["frames"][3:5] == ["tcp_sendmsg_locked", "tcp_sendmsg"]


def test_lockdep_report():
    (inc,) = found("lockdep.kmsg")
    assert inc["kind"] == "lockdep"
    assert inc["title"] == "WARNING: possible circular locking dependency detected"
    assert "lock_sock_nested" in inc["frames"]


def test_soft_lockup_and_rcu_stall_are_two_incidents():
    lockup, stall = found("softlockup_rcu.kmsg")
    assert lockup["kind"] == "soft lockup" and "stuck for 26s" in lockup["title"]
    assert lockup["frames"] == ["do_splice_direct", "do_sendfile", "__x64_sys_sendfile64"]
    assert stall["kind"] == "RCU stall"


@pytest.mark.parametrize("line, kind", [
    (("general protection fault, probably for non-canonical address 0xdffffc0000000003: 0000 "
      "[#1] PREEMPT SMP KASAN NOPTI"), "general protection fault"),
    (("Oops: general protection fault, probably for non-canonical address 0x6b6b6b6b6b6b6b6b: "
      "0000 [#1] PREEMPT SMP NOPTI"), "general protection fault"),
    ("kernel BUG at mm/slub.c:435!", "BUG"),
    ("WARNING: CPU: 0 PID: 1 at net/core/skbuff.c:6952 skb_splice_from_iter+0x1f/0x2b0",
     "WARNING"),
    ("INFO: task kworker/0:1:12 blocked for more than 120 seconds.", "hung task"),
    ("Kernel panic - not syncing: Fatal exception", "panic"),
    ("python3[433]: segfault at 0 ip 00007f3b1cb2bb59 sp 00007ffd3c1f1a28 error 4", "segfault"),
    ("Oops: 0000 [#1] PREEMPT SMP NOPTI", "Oops"),
], ids=lambda v: v.split()[0] if " " in v else v)
def test_trigger_lines(line, kind):
    assert kernel_log.trigger(line) == kind


@pytest.mark.parametrize("line", [
    "TCP: request_sock_TCP: Possible SYN flooding on port 80. Sending cookies.",
    "virtio_net virtio0 eth0: renamed from eth0",
    "conformance/linux/test_x.py::test_warns PASSED",
    "audit: type=1400 audit(1700000000.000:1): apparmor=\"DENIED\"",
], ids=["syn-flood", "rename", "pytest-output", "audit"])
def test_ordinary_lines_are_not_incidents(line):
    assert kernel_log.trigger(line) is None


def test_console_log_records_are_parsed_and_pytest_output_ignored():
    refcount, segfault = found("console.log")
    assert refcount["kind"] == "refcount_t"
    assert refcount["frames"][:2] == ["refcount_warn_saturate", "do_splice_direct_actor"]
    assert "PASSED" not in refcount["excerpt"] and "[ 40%]" not in refcount["excerpt"]
    assert segfault["kind"] == "segfault"


def test_dictionary_lines_and_escapes():
    recs = parse_records("6,7,8,-;a\\x09tab\n SUBSYSTEM=cpu\n4,9,10,c;b\n")
    assert [(r.level, r.seq, r.usec, r.text) for r in recs] == [(6, 7, 8, "a\ttab"),
                                                                (4, 9, 10, "b")]


def test_a_pause_ends_an_incident():
    text = ("4,1,1000000,-;WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n4,2,1000001,-;Call Trace:\n"
            "4,3,1000002,-; f+0x1/0x2\n6,4,9000000,-; g+0x1/0x2\n")
    (inc,) = [i.to_json() for i in incidents(parse_records(text))]
    assert inc["frames"] == ["f"]


def test_taint_entry_names_new_trouble_bits_only():
    assert kernel_log.taint_entry(0, 1 << 12) is None           # O: an out-of-tree module
    entry = kernel_log.taint_entry(1 << 12, (1 << 12) | (1 << 9))
    assert entry["kind"] == "taint" and "W (warning)" in entry["title"]
    assert "now WO" in entry["title"]
    assert kernel_log.taint_entry(None, 512) is None


def test_watcher_reads_what_came_since_the_last_read_and_the_taint(tmp_path):
    kmsg, tainted = tmp_path / "kmsg", tmp_path / "tainted"
    tainted.write_text("0\n")
    os.mkfifo(kmsg)
    keep = os.open(kmsg, os.O_RDWR)  # a writer, so non-blocking reads give EAGAIN, not EOF
    try:
        w = kernel_log.Watcher(str(kmsg), str(tainted))
        assert w.reason is None and w.collect() == []
        os.write(keep, (DATA / "refcount.kmsg").read_bytes())
        tainted.write_text(f"{1 << 9}\n")
        (got,) = w.collect()  # the warning explains the W taint: no separate taint entry
        assert got["kind"] == "refcount_t"
        assert w.collect() == []
        tainted.write_text(f"{(1 << 9) | (1 << 7)}\n")
        (taint,) = w.collect()
        assert taint["kind"] == "taint" and "D (oops/die)" in taint["title"]
        w.close()
    finally:
        os.close(keep)


def test_watcher_says_why_it_cannot_read(tmp_path):
    w = kernel_log.Watcher(str(tmp_path / "missing"), str(tmp_path / "tainted"))
    assert w.reason.startswith("cannot read") and w.collect() == []


# Crash survival: a test that kills its process does not end the run.

CRASHING = """
import os, signal

def test_before():
    pass

def test_sigkill():
    os.kill(os.getpid(), signal.SIGKILL)

def test_sigsegv():
    os.kill(os.getpid(), signal.SIGSEGV)

def test_after():
    pass
"""


def test_a_test_that_kills_its_worker_is_an_error_naming_the_signal(pytester):
    """Under pytest-xdist the killed worker is replaced, the remaining tests run, the killed
    tests are ERRORs naming the signal, and results.json is written."""
    pytester.makepyfile(test_crash=CRASHING)
    out = pytester.path / "results"
    result = pytester.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider",
                                           f"--conformance-results={out}", "test_crash.py")
    assert result.ret == 1
    tests = {t["nodeid"].split("::")[1]: t
             for t in json.loads((out / "results.json").read_text())["tests"]}
    assert tests["test_before"]["outcome"] == "passed"
    assert tests["test_after"]["outcome"] == "passed"
    for name, sig in (("test_sigkill", "SIGKILL"), ("test_sigsegv", "SIGSEGV")):
        assert tests[name]["outcome"] == "error", tests[name]
        assert f"crashed while running 'test_crash.py::{name}'" in tests[name]["message"]
        assert f"the test's process was killed by {sig}" in tests[name]["message"]
    assert "testcase" in (out / "junit.xml").read_text()


def test_isolated_call_reports_value_errno_and_signal(isolated):
    import errno
    import signal
    assert isolated(lambda: 6 * 7) == (42, None, None, None)
    assert isolated(lambda: os.close(-1)).errno == errno.EBADF
    killed = isolated(lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert killed.signal == "SIGKILL" and str(killed) == \
        "the calling process was killed by SIGKILL"
    assert isolated(lambda: os._exit(5)).exit_status == 5


def test_isolated_call_past_its_deadline_fails_the_test(pytester):
    pytester.makepyfile(test_slow="""
        import select
        def test_hangs(isolated):
            isolated(lambda: select.select([], [], [], 30), deadline=0.5)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*did not return within 0.5s*"])


def test_a_test_during_which_the_kernel_warned_carries_the_excerpt_in_every_output():
    """tests[].kernel_log reaches JUnit, KTAP, KCIDB and the markdown report."""
    from conformance import catalog
    from conformance.results import SCHEMA, junit, kcidb, ktap, report
    (inc,) = found("refcount.kmsg")
    test = {"nodeid": "conformance/linux/test_sendfile2_rfc.py::test_each_zc_call",
            "clauses": ["LNX-RFC-ONE-ID-PER-CALL"], "basis": {}, "outcome": "failed",
            "duration": 1.0, "reason": None, "message": "E   assert not ['ids never notified: 0']",
            "transcript": [], "kernel_log": [inc]}
    results = {"schema": SCHEMA,
               "run": {"id": "r1", "start": "2026-12-04T00:00:00+00:00", "duration": 2.0,
                       "target": "kernel:bzImage", "suite": {}},
               "kernel": {"os": "linux", "release": "6.12.57+", "version": "#1", "machine":
                          "x86_64"},
               "environment": {"accel": "tcg"}, "tests": [test]}
    line = "refcount_t: decrement hit 0; leaking memory."
    assert line in junit.render(results) and "do_splice_direct_actor+0x1a5/0x1c0" in \
        junit.render(results)
    assert f"# kernel: {line}" in ktap.render(results)
    doc = kcidb.render(results)
    assert doc["tests"][0]["misc"]["kernel_log"][0]["frames"][1] == "do_splice_direct_actor"
    assert "do_sendfile+0x2f6/0x3f0" in doc["tests"][0]["log_excerpt"]
    (item,) = report.select(results, None)
    text = report.render(item, results, catalog.load_all())
    assert "## Kernel log during the test" in text and f"- {line}" in text
    assert " __x64_sys_sendfile2+0xb9/0xd0" in text
