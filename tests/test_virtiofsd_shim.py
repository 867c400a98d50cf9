"""The virtiofsd shim (conformance/targets/virtiofsd_shim.py): virtme-ng 1.42's Rust-virtiofsd
options translated for QEMU's C virtiofsd, SOCKET.pid written once the socket listens, and the
daemon's exit passed on. A fake daemon stands in for QEMU's; the last test runs the real one
where it is installed."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.targets import kernel_config, virtiofsd_shim

# Exactly what virtme-ng 1.42 runs (virtme/commands/run.py, VirtioFS.start) for the read-only
# root and for a --rwdir, minus the leading path.
ROOT = ["--syslog", "--no-announce-submounts", "--socket-path", "/tmp/virtmeX", "--shared-dir",
        "/", "--sandbox", "none", "--cache", "always"]
RWDIR = ["--syslog", "--no-announce-submounts", "--posix-acl", "--socket-path", "/tmp/virtmeY",
         "--shared-dir", "/var/tmp/out", "--sandbox", "none", "--cache", "auto"]


@pytest.mark.parametrize("argv, expected, sock", [
    (ROOT, ["--socket-path=/tmp/virtmeX", "-o", "source=/", "-o", "sandbox=chroot", "-o",
            "cache=always", "-o", "log_level=warn"], "/tmp/virtmeX"),
    (RWDIR, ["-o", "posix_acl", "--socket-path=/tmp/virtmeY", "-o", "source=/var/tmp/out", "-o",
             "sandbox=chroot", "-o", "cache=auto", "-o", "log_level=warn"], "/tmp/virtmeY"),
    (["--socket-path=/s", "--shared-dir=/d", "--cache=never"],
     ["--socket-path=/s", "-o", "source=/d", "-o", "cache=none", "-o", "log_level=warn"], "/s"),
], ids=["root", "rwdir-acl", "equals-form"])
def test_virtme_options_are_translated(argv, expected, sock):
    assert virtiofsd_shim.translate(argv) == (expected, sock)


@pytest.mark.parametrize("argv, named", [
    (ROOT + ["--readonly"], "--readonly"),
    (["--socket-path", "/s", "--cache", "sometimes"], "--cache sometimes"),
    (["--socket-path", "/s", "--sandbox", "seccomp"], "--sandbox seccomp"),
    (["--shared-dir", "/"], "no --socket-path"),
    (["--socket-path"], "--socket-path needs a value"),
], ids=["readonly", "cache", "sandbox", "no-socket", "no-value"])
def test_what_the_c_daemon_cannot_do_is_refused(argv, named):
    with pytest.raises(virtiofsd_shim.Unsupported, match=named):
        virtiofsd_shim.translate(argv)


# A stand-in for QEMU's daemon: binds --socket-path=PATH (unless told to exit or hang first),
# then waits for SIGTERM as the real one does.
FAKE = """#!{python}
import os, signal, socket, sys, time
args = sys.argv[1:]
if "{mode}" == "exit":
    sys.exit(3)
sock = [a.split("=", 1)[1] for a in args if a.startswith("--socket-path=")][0]
open(sock + ".args", "w").write(" ".join(args))
if "{mode}" == "serve":
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.listen()
signal.signal(signal.SIGTERM, signal.SIG_DFL)
time.sleep(60)
"""


def fake_daemon(tmp_path, mode):
    path = tmp_path / f"fake-{mode}"
    path.write_text(FAKE.format(python=sys.executable, mode=mode))
    path.chmod(0o755)
    return str(path)


def wait_for(path: Path, deadline=20.0):
    end = time.monotonic() + deadline
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


@contextmanager
def shim_serving(daemon: str, *args: str):
    """The shim serving daemon ARGS in a child process, killed (by its PID) if a test leaves
    it running."""
    code = ("import sys; from conformance.targets import virtiofsd_shim as s; "
            "sys.exit(s.serve(sys.argv[1], sys.argv[2:], 20.0))")
    shim = subprocess.Popen([sys.executable, "-c", code, daemon, *args])
    try:
        yield shim
    finally:
        if shim.poll() is None:
            shim.kill()
            shim.wait()


def test_pid_file_names_the_daemon_once_it_listens_and_sigterm_ends_both(tmp_path):
    sock = tmp_path / "sock"
    with shim_serving(fake_daemon(tmp_path, "serve"), "--socket-path", str(sock),
                      "--shared-dir", str(tmp_path), "--sandbox", "none") as shim:
        wait_for(Path(f"{sock}.pid"))
        assert sock.is_socket()
        pid = int(Path(f"{sock}.pid").read_text())
        assert pid != shim.pid   # virtme-ng's SIGTERM must reach the daemon itself
        assert f"-o source={tmp_path} -o sandbox=chroot" in Path(f"{sock}.args").read_text()
        os.kill(pid, signal.SIGTERM)   # as virtme-ng stops it
        assert shim.wait(timeout=20) == 128 + signal.SIGTERM


def test_sigterm_to_the_shim_stops_the_daemon(tmp_path):
    sock = tmp_path / "sock"
    with shim_serving(fake_daemon(tmp_path, "serve"), "--socket-path", str(sock)) as shim:
        wait_for(Path(f"{sock}.pid"))
        daemon = int(Path(f"{sock}.pid").read_text())
        shim.terminate()
        assert shim.wait(timeout=20) == 128 + signal.SIGTERM
        end = time.monotonic() + 20
        while Path(f"/proc/{daemon}").exists() and time.monotonic() < end:
            time.sleep(0.02)     # reaped by the shim's wait; gone once the shim exits
        assert not Path(f"/proc/{daemon}").exists()


def test_a_daemon_that_exits_gives_no_pid_file_and_its_status(tmp_path):
    sock = tmp_path / "sock"
    code = virtiofsd_shim.serve(fake_daemon(tmp_path, "exit"), ["--socket-path", str(sock)])
    assert code == 3 and not Path(f"{sock}.pid").exists()


def test_a_daemon_that_never_listens_is_stopped_at_the_deadline(tmp_path, capsys):
    sock = tmp_path / "sock"
    start = time.monotonic()
    code = virtiofsd_shim.serve(fake_daemon(tmp_path, "hang"), ["--socket-path", str(sock)], 0.5)
    assert code == 1 and not Path(f"{sock}.pid").exists()
    assert time.monotonic() - start < 15
    assert "made no socket" in capsys.readouterr().err


def test_without_the_c_daemon_the_shim_says_so(monkeypatch, capsys):
    monkeypatch.setattr(virtiofsd_shim, "c_virtiofsd", lambda: None)
    assert virtiofsd_shim.main(["--version"]) == 2
    assert "C virtiofsd not found" in capsys.readouterr().err


def test_installed_wrapper_runs_this_module(tmp_path):
    directory = virtiofsd_shim.install(tmp_path / "bin")
    script = directory / "virtiofsd"
    assert os.access(script, os.X_OK)
    assert "-m conformance.targets.virtiofsd_shim" in script.read_text()


def test_the_root_plan_names_the_shim_when_only_the_c_daemon_exists(monkeypatch):
    monkeypatch.setattr(kernel_config, "rust_virtiofsd", lambda: None)
    monkeypatch.setattr(virtiofsd_shim, "c_virtiofsd", lambda: "/usr/lib/qemu/virtiofsd")
    assert "through the option shim" in kernel_config.virtiofsd()
    monkeypatch.setattr(virtiofsd_shim, "c_virtiofsd", lambda: None)
    assert kernel_config.virtiofsd() is None


REAL = virtiofsd_shim.c_virtiofsd()


@pytest.mark.skipif(REAL is None or os.geteuid() != 0,
                    reason="needs QEMU's C virtiofsd (qemu-system-common) and root")
def test_the_real_c_daemon_listens_through_the_shim(tmp_path):
    sock = Path("/tmp") / f"conformance-shim-test-{os.getpid()}"   # short: sun_path limit
    script = virtiofsd_shim.install(tmp_path / "bin") / "virtiofsd"
    proc = subprocess.Popen([str(script), *ROOT[:2], "--socket-path", str(sock), "--shared-dir",
                             str(tmp_path), "--sandbox", "none", "--cache", "always"],
                            cwd=Path(virtiofsd_shim.__file__).parents[2])
    try:
        wait_for(Path(f"{sock}.pid"))
        pid = int(Path(f"{sock}.pid").read_text())
        assert Path(f"/proc/{pid}/exe").resolve() == Path(REAL).resolve()
        probe = socket.socket(socket.AF_UNIX)
        probe.connect(str(sock))    # the vhost-user socket accepts, as QEMU connects
        probe.close()
        os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for leftover in (sock, Path(f"{sock}.pid")):
            leftover.unlink(missing_ok=True)
