"""SIGTERM, SIGINT and SIGHUP to `conformance run`: every process it started is gone, the results
so far are written with the interruption marked, and the exit status is 128 + the signal.

The run happens in this process (cli.main); a thread sends the signal to this process once the
stand-in it started has said where it is (its PIDs in a file), which is how `timeout`, a CI
runner or a terminal reach a run. The stand-ins: a fake pytest (host target), a fake virtme-ng
that starts a fake QEMU and virtiofsd (kernel target, one VM and a matrix), a fake vagrant
(vagrant target). Each starts a helper child of its own, so a group that is only half stopped
shows. No VM, no root."""
import contextlib
import json
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from conformance import cli
from conformance.results import model
from conformance.targets import host, interrupt, kernel, rootless, vagrant

DEADLINE = 30.0  # for a stand-in to start, and for the processes to be gone
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]

# A child that sleeps until stopped, for the stand-ins' helpers (not Python: a signal during
# an interpreter's start-up prints a traceback of its own).
SLEEPER = ["sleep", "600"]

FAKE_PYTEST = f"""\
import json, os, signal, subprocess, sys
out, mode = sys.argv[1], sys.argv[2]
sys.path[:0] = {sys.path!r}
from conformance.results import SCHEMA, provenance
helper = subprocess.Popen({SLEEPER!r})
done = {{"nodeid": "conformance/linux/test_x.py::test_done", "clauses": [], "basis": {{}},
        "outcome": "passed", "duration": 0.1, "reason": None, "message": None,
        "transcript": []}}
with open(os.path.join(out, "journal.jsonl"), "a") as fh:
    fh.write(json.dumps(done) + "\\n")
def on_sigint(signum, frame):
    if mode == "stubborn":
        return
    if mode == "graceful":  # what pytest's sessionfinish does: results.json of what finished
        run = {{"id": "r", "start": "2026-01-01T00:00:00+00:00", "duration": 1.0,
               "suite": provenance.suite(), "target": "host", "command": "c"}}
        results = {{"schema": SCHEMA, "run": run,
                    "kernel": provenance.kernel(), "environment": provenance.environment("none", 0),
                    "tests": [done]}}
        with open(os.path.join(out, "results.json"), "w") as fh:
            json.dump(results, fh)
    sys.exit(2)
signal.signal(signal.SIGINT, on_sigint)
with open(os.path.join(out, "pids"), "w") as fh:
    fh.write(f"{{os.getpid()}} {{helper.pid}}")
while True:
    signal.pause()
"""

# virtme-ng as run_vm calls it: --rwdir OUT; it "boots", starts QEMU and virtiofsd, and waits.
FAKE_VNG = f"""\
#!{sys.executable}
import os, subprocess, sys, signal
args = sys.argv[1:]
out = args[args.index("--rwdir") + 1]
kids = [subprocess.Popen({SLEEPER!r}) for _ in ("qemu", "virtiofsd")]
open(os.path.join(out, ".booted"), "w").close()
print("[    0.000000] Linux version 6.99.1-test", flush=True)
with open(os.path.join(out, "pids"), "w") as fh:
    fh.write(" ".join(str(p) for p in [os.getpid(), *(k.pid for k in kids)]))
while True:
    signal.pause()
"""

# vagrant as the target calls it: status, rsync, the probe, then the guest run that hangs.
FAKE_VAGRANT = f"""\
#!{sys.executable}
import os, subprocess, sys, signal
args = sys.argv[1:]
if args[0] == "status":
    print("1,linux,provider-name,libvirt")
    print("1,linux,state,running")
    sys.exit(0)
if args[0] == "rsync":
    sys.exit(0)
script = args[-1]
if "uname -s" in script:
    print("os=Linux\\nrelease=6.99.1-test\\nvirt=qemu\\nvenv=yes\\nsrc=yes\\nsudo=yes")
    sys.exit(0)
ssh = subprocess.Popen({SLEEPER!r})
with open(os.environ["FAKE_PIDS"], "w") as fh:
    fh.write(f"{{os.getpid()}} {{ssh.pid}}")
while True:
    signal.pause()
"""


def fake_bzimage(path: Path, release: str) -> Path:
    head = bytearray(0x600)
    head[0x202:0x206] = b"HdrS"
    head[0x20E:0x210] = (0x300).to_bytes(2, "little")  # version string at 0x200 + 0x300
    banner = f"{release} (me@example) #1 SMP".encode()
    head[0x500:0x500 + len(banner)] = banner
    path.write_bytes(bytes(head))
    return path


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def alive(pid: int) -> bool:
    """Running (a zombie has finished: its parent just has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE}s"
        time.sleep(0.05)


def pid_files(where: Path, count: int) -> list[Path]:
    return sorted(where.glob("*/pids"))[:count] if len(list(where.glob("*/pids"))) >= count else []


class Killer(threading.Thread):
    """Send sig to this process once count stand-ins wrote their PIDs under where."""

    def __init__(self, pids_ready, sig: int) -> None:
        super().__init__(daemon=True)
        self.pids_ready, self.sig, self.pids, self.error = pids_ready, sig, [], None
        self.returned = threading.Event()  # set when the run has returned

    def run(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            files = self.pids_ready()
            if files and all(f.stat().st_size for f in files):
                self.pids = [int(p) for f in files for p in f.read_text().split()]
                os.kill(os.getpid(), self.sig)
                if not self.returned.wait(DEADLINE):  # it waits for what it did not stop
                    self.error = f"the run did not return within {DEADLINE}s of {self.sig.name}"
                    for pid in self.pids:  # the stand-ins this test made: end them by PID
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)
        self.error = "the stand-in never wrote its PIDs"
        if signal.getsignal(self.sig) is interrupt._handler:  # the run is still waiting
            os.kill(os.getpid(), self.sig)


def interrupted_run(argv: list[str], pids_ready, sig: int, capsys) -> tuple[int, list[int], str]:
    killer = Killer(pids_ready, sig)
    killer.start()
    code = cli.main(argv)
    killer.returned.set()
    killer.join(DEADLINE)
    assert killer.error is None, killer.error
    for pid in killer.pids:
        wait_for(lambda pid=pid: not alive(pid), f"process {pid} the run started is gone")
    assert interrupt.registered() == []
    err = capsys.readouterr().err
    return code, killer.pids, err


def only_run_dir(results: Path) -> Path:
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    return run


@pytest.fixture
def fake_host(monkeypatch, tmp_path):
    """The host target with pytest replaced by FAKE_PYTEST (mode from the test)."""
    script = tmp_path / "fake_pytest.py"
    script.write_text(FAKE_PYTEST)
    mode = {"value": "graceful"}
    monkeypatch.setattr(rootless, "plan", lambda: rootless.Plan(None, None))
    monkeypatch.setattr(host, "pytest_argv", lambda os_name, out, *a, **k:
                        [sys.executable, str(script), str(out), mode["value"]])
    monkeypatch.setattr(host, "INTERRUPT_GRACE", 1.0)
    return mode


@pytest.mark.parametrize("mode, sig", [
    *(("graceful", s) for s in SIGNALS), ("silent", signal.SIGTERM), ("stubborn", signal.SIGHUP),
], ids=lambda v: getattr(v, "name", v))
def test_host_run_stops_pytest_and_keeps_what_finished(fake_host, tmp_path, capsys, sig, mode):
    """graceful: pytest wrote results.json on SIGINT; silent: only its journal; stubborn: it
    ignored SIGINT and was stopped with SIGTERM past the grace period."""
    fake_host["value"] = mode
    results = tmp_path / "results"
    code, _, err = interrupted_run(["run", "--os", "linux", "--results", str(results)],
                                   lambda: pid_files(results, 1), sig, capsys)
    assert code == 128 + sig, err
    assert err.strip().splitlines() == [err.strip()] and f"interrupted by {sig.name}" in err
    data = model.load(only_run_dir(results))
    outcomes = {t["nodeid"]: t["outcome"] for t in data["tests"]}
    assert outcomes == {"conformance/linux/test_x.py::test_done": "passed", "host::run": "error"}
    marker = next(t for t in data["tests"] if t["nodeid"] == "host::run")
    assert marker["message"].startswith(f"interrupted by {sig.name}")
    assert data["run"]["interrupted"] == sig.name
    assert (only_run_dir(results) / "junit.xml").exists()


@pytest.fixture
def fake_vm(monkeypatch, tmp_path):
    vng = executable(tmp_path / "vng", FAKE_VNG)
    monkeypatch.setattr(kernel, "find_tools", lambda: kernel.Tools(str(vng), "/bin/false"))
    return [fake_bzimage(tmp_path / f"bzImage-{n}", f"6.99.{n}-test") for n in (1, 2)]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_kernel_run_stops_the_vm_and_marks_the_run(fake_vm, tmp_path, capsys, sig):
    results = tmp_path / "results"
    argv = ["run", "--results", str(results), "--kernel", str(fake_vm[0]), "--accel", "tcg"]
    code, pids, err = interrupted_run(argv, lambda: pid_files(results, 1), sig, capsys)
    assert code == 128 + sig, err
    assert len(pids) == 3  # vng, "qemu", "virtiofsd": all gone (interrupted_run checked)
    data = model.load(only_run_dir(results))
    (entry,) = [t for t in data["tests"] if t["outcome"] == "error"]
    assert entry["nodeid"] == "kernel/6.99.1-test::run"
    assert entry["message"].startswith(f"interrupted by {sig.name}; the VM was stopped")
    assert f"interrupted by {sig.name}" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("jobs, started", [(1, 1), (2, 2)], ids=["queued", "parallel"])
def test_matrix_stops_every_vm_and_starts_no_more(fake_vm, tmp_path, capsys, jobs, started):
    """--jobs 1: the second VM is queued when the signal comes and never starts; --jobs 2:
    both run and both are stopped."""
    results = tmp_path / "results"
    argv = ["run", "--results", str(results), "--accel", "tcg", "--jobs", str(jobs),
            *(a for img in fake_vm for a in ("--kernel", str(img)))]
    code, pids, err = interrupted_run(argv, lambda: pid_files(results, started),
                                      signal.SIGTERM, capsys)
    assert code == 128 + signal.SIGTERM, err
    assert len(pids) == 3 * started
    runs = [p for p in results.iterdir() if p.is_dir()]
    assert len(runs) == started
    for run in runs:
        assert any(t["message"] and t["message"].startswith("interrupted by SIGTERM")
                   for t in model.load(run)["tests"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_vagrant_run_stops_vagrant_ssh(monkeypatch, tmp_path, capsys, sig):
    exe = executable(tmp_path / "vagrant", FAKE_VAGRANT)
    (tmp_path / "Vagrantfile").write_text("# stand-in\n")
    monkeypatch.setattr(vagrant, "find_vagrant", lambda: vagrant.Vagrant(str(exe), tmp_path))
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_PIDS", str(pids))
    results = tmp_path / "results"
    code, started, err = interrupted_run(
        ["run", "--results", str(results), "--vagrant", "linux"],
        lambda: [pids] if pids.exists() else [], sig, capsys)
    assert code == 128 + sig, err
    assert len(started) == 2
    (entry,) = model.load(only_run_dir(results))["tests"]
    assert entry["nodeid"] == "vagrant/linux::run" and entry["outcome"] == "error"
    assert entry["message"].startswith(f"interrupted by {sig.name}; vagrant ssh was stopped")


def test_handlers_are_restored_after_a_run(fake_host, tmp_path, capsys):
    before = {s: signal.getsignal(s) for s in SIGNALS}
    results = tmp_path / "results"
    interrupted_run(["run", "--os", "linux", "--results", str(results)],
                    lambda: pid_files(results, 1), signal.SIGTERM, capsys)
    assert {s: signal.getsignal(s) for s in SIGNALS} == before
    assert interrupt.requested() == signal.SIGTERM  # until the next run starts clear


def test_a_signal_stops_the_run_only_what_it_registered(monkeypatch):
    """The handler signals the registered groups only, by their leader's PID."""
    sent = []
    monkeypatch.setattr(interrupt.os, "killpg", lambda pgid, sig: sent.append((pgid, sig)))
    with interrupt.handling(), interrupt.group(4242, signal.SIGINT):
        interrupt._handler(signal.SIGTERM, None)
        assert interrupt.requested() == signal.SIGTERM
        with interrupt.group(4343):  # started after the signal: stopped at once
            pass
    assert sent == [(4242, signal.SIGINT), (4343, signal.SIGTERM)]
    assert interrupt.exit_status() == 128 + signal.SIGTERM


def test_an_uninterrupted_run_keeps_its_exit_status(fake_host, tmp_path, monkeypatch):
    """No signal: the fake pytest (told to finish at once) decides, as before."""
    monkeypatch.setattr(host, "pytest_argv", lambda os_name, out, *a, **k: [
        sys.executable, "-c", "import sys; sys.exit(3)"])
    assert cli.main(["run", "--os", "linux", "--results", str(tmp_path / "r")]) == 2
    assert interrupt.requested() is None


def test_results_json_of_an_interrupted_run_is_valid(fake_host, tmp_path, capsys):
    results = tmp_path / "results"
    interrupted_run(["run", "--os", "linux", "--results", str(results)],
                    lambda: pid_files(results, 1), signal.SIGINT, capsys)
    run = only_run_dir(results)
    assert json.loads((run / "results.json").read_text())["schema"].startswith("conformance-")
    assert cli.main(["compare", str(run), str(run)]) == 0
