"""The kernel target's host side, without booting anything: image checks, the guest script,
and how a failed boot, a hang or a tainted kernel turn into results."""
import json
import struct

import pytest

from conformance import cli
from conformance.results import SCHEMA
from conformance.results.journal import JOURNAL
from conformance.targets import kernel


def fake_bzimage(path, banner: bytes = b"6.99.1-test (me@example) #1 SMP"):
    head = bytearray(0x600)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x20E, 0x300)   # version string at 0x200 + 0x300
    head[0x500:0x500 + len(banner)] = banner
    path.write_bytes(bytes(head))
    return path


def test_bzimage_release_is_read_from_the_header(tmp_path):
    image = kernel.inspect_image(str(fake_bzimage(tmp_path / "bzImage")))
    assert image.release == "6.99.1-test"
    assert image.banner.startswith("6.99.1-test (me@example)")


def text_file(d):
    (d / "text").write_text("hello")
    return d / "text"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "no such file"),
    (lambda d: d, "not a regular file"),
    (text_file, "not a kernel image"),
], ids=["missing", "directory", "not-a-kernel"])
def test_bad_images_are_refused_in_one_line(tmp_path, capsys, make, message):
    assert cli.main(["run", "--kernel", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_virtme_ng_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kernel.shutil, "which", lambda name: None)
    monkeypatch.setattr(kernel.sys, "executable", str(tmp_path / "python"))
    assert cli.main(["run", "--kernel", str(fake_bzimage(tmp_path / "bzImage"))]) == 2
    assert "virtme-ng is not installed" in capsys.readouterr().err


def test_guest_script_runs_the_suite_and_records_taint(tmp_path):
    script = kernel.guest_script("linux", tmp_path, "r1", ["conformance", "run"], ["-k", "x y"],
                                 "kernel:/b", "tcg")
    assert "taint.before" in script and "taint.after" in script and ".booted" in script
    assert "--conformance-accel=tcg" in script and "'x y'" in script
    assert script.endswith("exit $rc")


def vm(**kw):
    run = kernel.VMRun(wall_seconds=12.0, **kw)
    return run


def finalize(tmp_path, run):
    image = kernel.inspect_image(str(fake_bzimage(tmp_path / "bzImage")))
    run.console = tmp_path / "console.log"
    return kernel.finalize(tmp_path, image, run, "tcg", 2, "2G", "r1", "kernel:x",
                           ["conformance", "run"], "probe note")


def test_failed_boot_is_an_error_carrying_the_console_tail(tmp_path):
    (tmp_path / "console.log").write_text("booting\nKernel panic - not syncing: VFS\n")
    results = finalize(tmp_path, vm(exit_code=255))
    assert results["schema"] == SCHEMA
    [entry] = results["tests"]
    assert entry["nodeid"] == "kernel/6.99.1-test::run" and entry["outcome"] == "error"
    assert "did not reach the suite" in entry["message"]
    assert "Kernel panic - not syncing" in entry["message"]
    assert results["kernel"]["release"] == "6.99.1-test"
    assert json.loads((tmp_path / "results.json").read_text())["vm"]["exit_code"] == 255


def test_hang_keeps_the_tests_that_finished(tmp_path):
    (tmp_path / "console.log").write_text("...\n")
    (tmp_path / ".booted").write_text("")
    done = {"nodeid": "t.py::test_a", "clauses": ["LNX-SF-EOF-ZERO"], "basis": {},
            "outcome": "passed", "duration": 0.1, "reason": None, "message": None,
            "transcript": []}
    (tmp_path / JOURNAL).write_text(json.dumps(done) + "\n{\"torn")
    results = finalize(tmp_path, vm(timed_out=True, boot_seconds=20.0,
                                    notes=["no result within the 60s VM deadline"]))
    assert [t["outcome"] for t in results["tests"]] == ["passed", "error"]
    assert "VM deadline" in results["tests"][1]["message"]
    assert results["vm"]["timed_out"] is True


def test_taint_during_the_run_is_a_health_error(tmp_path):
    (tmp_path / "console.log").write_text("WARNING: CPU: 1 PID: 7 at net/core/skbuff.c\n")
    (tmp_path / "taint.before").write_text("0\n")
    (tmp_path / "taint.after").write_text(str(1 << 9) + "\n")
    (tmp_path / "results.json").write_text(json.dumps({
        "schema": SCHEMA, "run": {"id": "r1", "target": "kernel:x", "duration": 9.0, "start": "t0"},
        "kernel": {"os": "linux", "release": "6.99.1-test"}, "environment": {"accel": "none"},
        "tests": []}))
    results = finalize(tmp_path, vm(exit_code=0, boot_seconds=20.0))
    [entry] = results["tests"]
    assert entry["nodeid"] == "kernel/6.99.1-test::health"
    assert "W (warning)" in entry["message"] and "WARNING: CPU: " in entry["message"]
    assert results["environment"]["accel"] == "tcg"


def test_taint_present_before_the_run_is_not_blamed_on_it(tmp_path):
    (tmp_path / "taint.before").write_text(str(1 << 9))
    (tmp_path / "taint.after").write_text(str(1 << 9))
    assert kernel.new_taints(tmp_path) == []


def test_guest_script_travels_as_a_file_not_on_the_kernel_command_line(tmp_path):
    """virtme-ng puts --exec on the 2048-byte kernel command line; only `sh FILE` goes there."""
    script = kernel.guest_script("linux", tmp_path, "r1", ["conformance"], ["-k", "x" * 3000],
                                 "kernel:/b", "tcg")
    command = kernel.write_guest_script(tmp_path, script)
    assert command == f"sh {tmp_path / 'guest.sh'}" and len(command) < 300
    assert "x" * 3000 in (tmp_path / "guest.sh").read_text()


def test_console_pump_notices_a_fatal_kernel_message(tmp_path):
    import io
    stream = io.BytesIO(b"[ 0.1] booting\nPANIC: early exception 0x06 IP 10:ffff\nmore\n")
    fatal, shown = [], []
    with open(tmp_path / "console.log", "wb") as console:
        kernel._pump(stream, console, shown.append, fatal)
    assert [m for _, m in fatal] == ["PANIC: early exception"]
    assert len(shown) == 3 and (tmp_path / "console.log").read_bytes().count(b"\n") == 3
