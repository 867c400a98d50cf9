"""The vagrant target: run the suite inside a running Vagrant machine over `vagrant ssh` and copy
its results back to the host.

`vagrant up` is the user's (vagrant/Vagrantfile defines `freebsd`, `freebsd14` and `linux`). The
target checks that vagrant is installed and the machine is running, pushes the tree with
`vagrant rsync`, asks the guest what it is (OS, kernel release, virtualisation, provisioned venv),
runs pytest there as root with --conformance-results into a guest directory, then fetches that
directory as a tar stream into results/<run-id>/. Every vagrant call has a deadline; what is
missing is reported in one line that says how to fix it (Unavailable), never a hang or traceback.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance.targets import interrupt, vm_process
from conformance.targets.host import SUITE_DIR, pytest_argv
from conformance.targets.kernel import TargetError
from conformance.targets.vagrant_results import GUEST_VENV, finalize, guest_dir, unpack

GUEST_SRC = "/vagrant"
STATUS_DEADLINE = 120.0     # vagrant status (ruby start + provider query); ~3 s here
RSYNC_DEADLINE = 300.0
PROBE_DEADLINE = 120.0
FETCH_DEADLINE = 300.0
STOP_DEADLINE = 10.0
RUNNING = "running"
# what systemd-detect-virt (Linux) or kern.vm_guest (FreeBSD) says -> results' accel
ACCEL = {"kvm": "kvm", "qemu": "tcg", "oracle": "vbox", "vbox": "vbox", "none": "none"}

PROBE_SCRIPT = f"""\
echo "os=$(uname -s)"; echo "release=$(uname -r)"
if command -v systemd-detect-virt >/dev/null 2>&1; then echo "virt=$(systemd-detect-virt)"
else echo "virt=$(sysctl -n kern.vm_guest 2>/dev/null)"; fi
if [ -x {GUEST_VENV}/bin/python ]; then echo venv=yes; else echo venv=no; fi
if [ -f {GUEST_SRC}/pyproject.toml ]; then echo src=yes; else echo src=no; fi
if sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi
"""


class Unavailable(TargetError):
    """Vagrant or the machine is not there: the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Vagrant:
    exe: str
    cwd: Path


@dataclass(frozen=True)
class Guest:
    machine: str
    os: str
    release: str
    accel: str
    sudo: bool


@dataclass
class GuestRun:
    exit_code: int | None = None
    timed_out: bool = False
    wall_seconds: float = 0.0
    fetched: bool = False
    notes: list[str] = field(default_factory=list)


def find_vagrant(cwd: Path | None = None) -> Vagrant:
    exe = shutil.which("vagrant")
    if not exe:
        raise Unavailable("vagrant is not installed, so no Vagrant machine can run the suite: "
                          "install it (Debian/Ubuntu: apt-get install vagrant vagrant-libvirt), "
                          "then `vagrant up` in the repository root")
    where = Path(os.environ.get("VAGRANT_CWD") or cwd or SUITE_DIR.parent)
    if not (where / "Vagrantfile").is_file():
        raise Unavailable(f"no Vagrantfile in {where}: run from the repository root or set "
                          "VAGRANT_CWD to the directory that holds it")
    return Vagrant(exe, where)


def call(v: Vagrant, args: list[str], deadline: float, what: str) -> subprocess.CompletedProcess:
    """Run `vagrant ARGS` in its own process group, killed at the deadline (Unavailable)."""
    proc = subprocess.Popen([v.exe, *args], cwd=v.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        with interrupt.group(proc.pid):
            out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        vm_process.stop(proc)
        raise Unavailable(f"`vagrant {' '.join(args[:2])}` did not answer within {deadline:.0f}s "
                          f"({what}); is the provider (libvirtd, VirtualBox) running?") from None
    if interrupt.requested():
        vm_process.stop(proc)
        raise Unavailable(f"`vagrant {' '.join(args[:2])}` stopped: {interrupt.note()}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def parse_status(text: str) -> tuple[dict[str, tuple[str, str]], str | None]:
    """`vagrant status --machine-readable` -> ({machine: (state, provider)}, error message)."""
    states: dict[str, str] = {}
    providers: dict[str, str] = {}
    error = None
    for line in text.splitlines():
        parts = line.split(",", 3)
        if len(parts) < 4:
            continue
        _, target, kind, data = parts
        data = data.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n")
        if kind == "state":
            states[target] = data
        elif kind == "provider-name":
            providers[target] = data
        elif kind == "error-exit":
            error = data.split(",", 1)[-1].strip()
    return {m: (s, providers.get(m, "?")) for m, s in states.items()}, error


def machine_states(v: Vagrant, machines: list[str] | None = None) -> dict[str, tuple[str, str]]:
    p = call(v, ["status", "--machine-readable", *(machines or [])], STATUS_DEADLINE,
             "reading machine states")
    states, error = parse_status(p.stdout.decode(errors="replace"))
    if error or p.returncode != 0:
        why = error or (p.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        raise Unavailable(f"`vagrant status` failed in {v.cwd}: {' '.join(why.split())}")
    return states


def not_running(machine: str, state: str, v: Vagrant) -> str:
    human = state.replace("_", " ")
    return (f"vagrant machine '{machine}' is not running (state: {human}); start it with "
            f"`vagrant up {machine}` in {v.cwd}")


def check_running(v: Vagrant, machine: str) -> str:
    """The machine's provider, or Unavailable saying how to start it."""
    states = machine_states(v, [machine])
    state, provider = states.get(machine, ("unknown", "?"))
    if state != RUNNING:
        raise Unavailable(not_running(machine, state, v))
    return provider


def parse_probe(machine: str, text: str) -> Guest:
    facts = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    os_name = facts.get("os", "").strip().lower()
    if os_name not in ("linux", "freebsd"):
        raise Unavailable(f"vagrant machine '{machine}' runs {os_name or 'an unknown OS'}; "
                          "the suite has Linux and FreeBSD suites only")
    if facts.get("src") != "yes":
        raise Unavailable(f"vagrant machine '{machine}' has no {GUEST_SRC}/pyproject.toml: "
                          f"run `vagrant rsync {machine}`")
    if facts.get("venv") != "yes":
        raise Unavailable(f"vagrant machine '{machine}' is not provisioned (no {GUEST_VENV}): "
                          f"run `vagrant provision {machine}`")
    virt = facts.get("virt", "").strip() or "none"
    return Guest(machine, os_name, facts.get("release", "?").strip(), ACCEL.get(virt, virt),
                 facts.get("sudo") == "yes")


def prepare(v: Vagrant, machine: str, sync: bool = True) -> tuple[str, Guest]:
    """(provider, guest) of a running, synced and provisioned machine, or Unavailable."""
    provider = check_running(v, machine)
    if sync:
        p = call(v, ["rsync", machine], RSYNC_DEADLINE, "syncing the tree into the guest")
        if p.returncode != 0:
            raise Unavailable(f"`vagrant rsync {machine}` failed: "
                              + (p.stderr.decode(errors="replace").strip() or "?")[-300:])
    p = call(v, ["ssh", machine, "--no-tty", "-c", PROBE_SCRIPT], PROBE_DEADLINE,
             "asking the guest what it runs")
    if p.returncode != 0:
        raise Unavailable(f"`vagrant ssh {machine}` failed (exit {p.returncode}): "
                          + (p.stderr.decode(errors="replace").strip() or "?")[-300:])
    return provider, parse_probe(machine, p.stdout.decode(errors="replace"))


def guest_script(guest: Guest, run_id: str, command: list[str], pytest_args: list[str]) -> str:
    """The sh script `vagrant ssh -c` runs: pytest on the guest's suite, as root when it can."""
    out = guest_dir(run_id)
    argv = pytest_argv(guest.os, Path(out), run_id, command, pytest_args,
                       target=f"vagrant:{guest.machine}", accel=guest.accel)
    argv[0] = f"{GUEST_VENV}/bin/python"
    argv[argv.index(str(SUITE_DIR / guest.os))] = f"{GUEST_SRC}/conformance/{guest.os}"
    sudo = "sudo -n " if guest.sudo else ""
    q = shlex.quote
    return "\n".join([
        f"{sudo}rm -rf {q(out)} && mkdir -p {q(out)} || exit 125",
        f"cd {GUEST_SRC} || exit 125",
        f"{sudo}env HYPOTHESIS_STORAGE_DIRECTORY={q(out + '/.hypothesis')} {shlex.join(argv)}",
        "rc=$?",
        f"{sudo}chown -R \"$(id -u):$(id -g)\" {q(out)}",
        "exit $rc",
    ])


def run_guest(v: Vagrant, guest: Guest, script: str, log: Path, deadline: float,
              echo) -> GuestRun:
    """Run script in the guest; its output goes to log and to echo(line), at most deadline s."""
    result = GuestRun()
    start = time.monotonic()
    with open(log, "wb") as sink:
        proc = subprocess.Popen([v.exe, "ssh", guest.machine, "--no-tty", "-c", script],
                                cwd=v.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        reader = threading.Thread(target=vm_process.pump, args=(proc.stdout, sink, echo), daemon=True)
        reader.start()
        interrupt.watch(proc.pid)  # SIGTERM/SIGINT/SIGHUP to the run end vagrant ssh at once
        try:
            result.exit_code = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            result.timed_out = True
            result.notes.append(f"the guest run did not finish within {deadline:.0f}s; "
                                "vagrant ssh was stopped")
        finally:
            vm_process.stop(proc)
            interrupt.unwatch(proc.pid)
            reader.join(STOP_DEADLINE)
    if interrupt.requested():
        result.notes.insert(0, f"{interrupt.note()}; vagrant ssh was stopped and the guest's "
                               f"results were not fetched")
    result.wall_seconds = round(time.monotonic() - start, 1)
    return result


def fetch(v: Vagrant, guest: Guest, run_id: str, out: Path) -> None:
    """Copy the guest's results directory into out (tar over vagrant ssh), then remove it."""
    q = shlex.quote(guest_dir(run_id))
    p = call(v, ["ssh", guest.machine, "--no-tty", "-c", f"tar -C {q} -cf - ."],
             FETCH_DEADLINE, "copying results back")
    if p.returncode != 0:
        raise Unavailable(f"copying {guest_dir(run_id)} back failed (exit {p.returncode}): "
                          + p.stderr.decode(errors="replace").strip()[-300:])
    unpack(p.stdout, out)
    call(v, ["ssh", guest.machine, "--no-tty", "-c", f"rm -rf {q}"], FETCH_DEADLINE,
         "removing the guest's copy")


def run_machine(v: Vagrant, guest: Guest, provider: str, out: Path, run_id: str,
                command: list[str], pytest_args: list[str], deadline: float, echo) -> dict:
    """Run the suite in a prepared guest and bring its results into out; the results dict."""
    script = guest_script(guest, run_id, command, pytest_args)
    run = run_guest(v, guest, script, out / "guest.log", deadline, echo)
    if not run.timed_out and not interrupt.requested():
        try:
            fetch(v, guest, run_id, out)
            run.fetched = True
        except Unavailable as exc:
            run.notes.append(str(exc))
    return finalize(out, guest, run, run_id, command, provider)


def main(argv: list[str]) -> int:
    """`python -m conformance.targets.vagrant [MACHINE...] [-- PYTEST-ARGS]` (the tox `vagrant`
    env): the suite in each given or else each running machine, plus the host suite on a Linux
    host, in one combined table. No vagrant or no running machine is reported and exits 0."""
    import platform

    from conformance import cli

    own, rest = (argv[:argv.index("--")], argv[argv.index("--"):]) if "--" in argv else (argv, [])
    try:
        v = find_vagrant()
        states = machine_states(v)
    except Unavailable as exc:
        print(f"conformance: {exc}; nothing to run in a VM")
        return 0
    machines = own or [m for m, (state, _) in states.items() if state == RUNNING]
    for m, (state, _) in states.items():
        if m not in machines and state != RUNNING:
            print(f"conformance: {not_running(m, state, v)}")
    if not machines:
        print("conformance: no Vagrant machine is running; nothing to run in a VM")
        return 0
    host = ["--kernel", "host"] if platform.system() == "Linux" else []
    return cli.main(["run", *host, *(a for m in machines for a in ("--vagrant", m)), *rest])


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
