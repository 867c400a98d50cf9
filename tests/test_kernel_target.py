"""The kernel target's host side, without booting anything: image checks, the guest script,
and how a failed boot, a hang or a tainted kernel turn into results."""
import json
import struct
from pathlib import Path

import pytest

from conformance import cli
from conformance.results import SCHEMA
from conformance.results.journal import JOURNAL
from conformance.targets import kernel, kernel_results, vm_process


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
    assert "--conformance-formats=json" in script   # finalize renders the rest on the host
    assert script.endswith("exit $rc")


def vm(**kw):
    run = kernel.VMRun(wall_seconds=12.0, **kw)
    return run


def finalize(tmp_path, run):
    image = kernel.inspect_image(str(fake_bzimage(tmp_path / "bzImage")))
    run.console = tmp_path / "console.log"
    return kernel_results.finalize(tmp_path, image, run, "tcg", 2, "2G", "r1", "kernel:x",
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


DATA = Path(__file__).parent / "data" / "kernel_log"


def guest_results(tmp_path, tests):
    (tmp_path / "results.json").write_text(json.dumps({
        "schema": SCHEMA, "run": {"id": "r1", "target": "kernel:x", "duration": 9.0, "start": "t0"},
        "kernel": {"os": "linux", "release": "6.99.1-test"}, "environment": {"accel": "none"},
        "tests": tests}))


def test_taint_during_the_run_is_a_health_error_quoting_the_warning(tmp_path):
    """Issue 15: the message quoted 'WARNING: CPU: , ] RIP:' and a console tail of pytest
    output; it now quotes the warning's first line and call trace, from the console's kernel
    records when no kmsg dump came back."""
    (tmp_path / "console.log").write_text((DATA / "console.log").read_text())
    (tmp_path / "taint.before").write_text("0\n")
    (tmp_path / "taint.after").write_text(str(1 << 9) + "\n")
    guest_results(tmp_path, [])
    results = finalize(tmp_path, vm(exit_code=0, boot_seconds=20.0))
    [entry] = results["tests"]
    assert entry["nodeid"] == "kernel/6.99.1-test::health" and entry["outcome"] == "error"
    message = entry["message"]
    assert "W (warning)" in message and "1 incident(s) in the console log" in message
    assert ("refcount_t: decrement hit 0; leaking memory. (lib/refcount.c:31 "
            "refcount_warn_saturate+0x9a/0x120) [refcount_warn_saturate <- "
            "do_splice_direct_actor <- do_splice_direct <- do_sendfile <- __x64_sys_sendfile2]"
            in message)
    assert " do_splice_direct_actor+0x1a5/0x1c0" in message
    assert "PASSED" not in message and "[ 40%]" not in message and "segfault" not in message
    assert entry["kernel_log"][0]["kind"] == "refcount_t"


def test_health_entry_names_the_test_during_which_the_kernel_warned(tmp_path):
    from conformance import kernel_log
    text = (DATA / "refcount.kmsg").read_text()
    (tmp_path / kernel.KMSG_DUMP).write_text(text)
    (tmp_path / "console.log").write_text("")
    (tmp_path / "taint.before").write_text("0\n")
    (tmp_path / "taint.after").write_text(str(1 << 9) + "\n")
    [inc] = [i.to_json() for i in kernel_log.incidents(kernel_log.parse_records(text))]
    node = "conformance/linux/test_sendfile2_rfc.py::test_each_zc_call_takes_one_id"
    guest_results(tmp_path, [{"nodeid": node, "clauses": [], "basis": {}, "outcome": "failed",
                              "duration": 1.0, "reason": None, "message": "assert ...",
                              "transcript": [], "kernel_log": [inc]}])
    results = finalize(tmp_path, vm(exit_code=1, boot_seconds=20.0))
    health = results["tests"][-1]
    assert "in the guest's /dev/kmsg" in health["message"]
    assert f"(during {node})" in health["message"]


def test_guest_script_dumps_the_kernel_log_records(tmp_path):
    script = kernel.guest_script("linux", tmp_path, "r1", ["conformance"], [], "kernel:/b", "tcg")
    assert f"-m conformance.kernel_log --dump > {tmp_path / kernel.KMSG_DUMP}" in script


def test_guest_script_carries_the_users_example_profile_and_known_failures(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("CONFORMANCE_EXAMPLES", "nightly")
    monkeypatch.delenv("CONFORMANCE_KNOWN_FAILURES", raising=False)
    script = kernel.guest_script("linux", tmp_path, "r1", ["conformance"], [], "kernel:/b", "tcg")
    assert "export CONFORMANCE_EXAMPLES=nightly" in script
    assert "CONFORMANCE_KNOWN_FAILURES" not in script


def test_taint_present_before_the_run_is_not_blamed_on_it(tmp_path):
    (tmp_path / "taint.before").write_text(str(1 << 9))
    (tmp_path / "taint.after").write_text(str(1 << 9))
    assert kernel_results.new_taints(tmp_path) == []


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
        vm_process.pump(stream, console, shown.append, fatal)
    assert [m for _, m in fatal] == ["PANIC: early exception"]
    assert len(shown) == 3 and (tmp_path / "console.log").read_bytes().count(b"\n") == 3


# Kernels without 9p: the image's config decides how the guest mounts the host root.

from conformance.targets import kernel_config

NINEP_Y = "CONFIG_NET_9P=y\nCONFIG_NET_9P_VIRTIO=y\nCONFIG_9P_FS=y\n"
NO_NINEP = "# CONFIG_NET_9P is not set\n"
VIRTIOFS_Y = "CONFIG_FUSE_FS=y\nCONFIG_VIRTIO_FS=y\n"
NO_VIRTIOFS = "CONFIG_FUSE_FS=m\n# CONFIG_VIRTIO_FS is not set\n"


def cfg(text):
    return kernel_config.Config(kernel_config.parse(text), "/boot/config-x")


def test_config_lines_are_parsed():
    assert kernel_config.parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n# c\n") == {
        "CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"x y"'}


@pytest.mark.parametrize("text, modules, virtiofsd, fs, problem", [
    (NINEP_Y + VIRTIOFS_Y, False, None, "9p", None),
    (NINEP_Y + VIRTIOFS_Y, False, "/usr/libexec/virtiofsd", "virtiofs", None),
    (NINEP_Y.replace("=y", "=m") + NO_VIRTIOFS, True, None, "9p", None),
    (NO_NINEP + VIRTIOFS_Y, False, "/usr/libexec/virtiofsd", "virtiofs", None),
    (NO_NINEP + VIRTIOFS_Y, False, None, "virtiofs", "install the Rust virtiofsd"),
    (NO_NINEP + NO_VIRTIOFS, False, "/usr/libexec/virtiofsd", None,
     ("lacks CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO, CONFIG_9P_FS (9p) and CONFIG_FUSE_FS, "
      "CONFIG_VIRTIO_FS (virtio-fs)")),
    (NINEP_Y.replace("=y", "=m") + NO_VIRTIOFS, False, None, None, "lacks CONFIG_NET_9P"),
], ids=["9p-builtin-no-daemon", "both-virtiofs-preferred", "9p-modules-installed",
        "virtiofs-only", "virtiofs-no-daemon", "neither", "9p-modules-not-installed"])
def test_root_plan(text, modules, virtiofsd, fs, problem):
    plan = kernel_config.root_plan(cfg(text), "bzImage", modules, lambda: virtiofsd)
    assert plan.fs == fs
    if problem:
        assert problem in plan.problem and "\n" not in plan.problem
    else:
        assert plan.problem is None


def test_unknown_config_assumes_9p():
    plan = kernel_config.root_plan(None, "bzImage", False, lambda: None)
    assert plan.fs is None and plan.problem is None and "not found" in plan.note


def test_config_beside_the_image_is_read_and_a_kernel_without_either_is_refused(tmp_path,
                                                                               capsys):
    image = fake_bzimage(tmp_path / "bzImage")
    (tmp_path / "config-6.99.1-test").write_text(NO_NINEP + NO_VIRTIOFS)
    assert cli.main(["run", "--kernel", str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "cannot mount the host's root: it lacks CONFIG_NET_9P" in err
    assert f"config: {tmp_path / 'config-6.99.1-test'}" in err


def test_embedded_ikconfig_is_found_in_a_compressed_payload():
    import gzip
    import lzma
    config = NO_NINEP + VIRTIOFS_Y
    vmlinux = b"\0" * 100 + b"IKCFG_ST" + gzip.compress(config.encode()) + b"IKCFG_ED" + b"\0" * 50
    assert kernel_config.ikconfig(vmlinux) == config                      # uncompressed image
    image = b"HdrS" + b"\1" * 300 + lzma.compress(vmlinux, lzma.FORMAT_XZ) + b"\0" * 64
    assert kernel_config.ikconfig(image) == config                        # xz payload
    image = b"HdrS" + gzip.compress(vmlinux)
    assert kernel_config.ikconfig(image) == config                        # gzip payload
    assert kernel_config.ikconfig(b"HdrS" + b"\0" * 4096) is None


def test_debian_kernels_here_boot_over_virtiofs_where_a_daemon_serves_it():
    expected = "virtiofs" if kernel_config.virtiofsd() else "9p"
    for path in ("/boot/vmlinuz-6.1.0-57-amd64", "/boot/vmlinuz-6.12.118+deb12-amd64"):
        if Path(path).exists():
            assert kernel.inspect_image(path).root_fs == expected


def test_crash_proof_guest_runs_use_one_xdist_worker_unless_the_user_chose():
    assert kernel.crash_proof(["-q"]) == ["-n", "auto", "--dist", "loadgroup", "-q"]
    assert kernel.crash_proof(["-s", "x.py::t"]) == ["-n", "1", "-s", "x.py::t"]
    assert kernel.crash_proof(["-n", "2"]) == ["-n", "2"]
    assert kernel.crash_proof(["-n2"]) == ["-n2"]
    assert kernel.crash_proof(["-p", "no:xdist"]) == ["-p", "no:xdist"]


def test_a_root_mount_failure_says_what_the_boot_needs(tmp_path):
    """Issue 15: a kernel without 9p ended in 'did not boot' with nothing saying why."""
    (tmp_path / "console.log").write_text(
        "[    1.2] virtme-ng-init: mounting /dev/root on /newroot/ failed: No such device\n")
    results = finalize(tmp_path, vm(exit_code=255))
    message = results["tests"][0]["message"]
    assert "could not mount the host root" in message
    assert "CONFIG_NET_9P" in message and "CONFIG_VIRTIO_FS" in message
