"""The kernel target: boot a kernel image with virtme-ng on the host root filesystem (QEMU),
run the suite inside as root, and bring the results back through a shared writable directory.

KVM is probed with a real short boot under a deadline; where it is missing or broken the run
falls back to TCG and says so. A panic, oops, hang or failed boot becomes an ERROR result that
carries the console tail; the verdicts of tests that finished before it are kept (journal).
"""
from __future__ import annotations

import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance.abi.process import set_child_subreaper
from conformance.hypothesis_profiles import ENV
from conformance.targets import interrupt, vm_process
from conformance.targets.host import (
    SUITE_DIR,
    bytecode_cache,
    chose_workers,
    hypothesis_storage,
    pytest_argv,
    with_workers,
)

# The user's settings the guest run honours as the host run does.
GUEST_ENV = ("CONFORMANCE_KNOWN_FAILURES", "CONFORMANCE_EXAMPLES")
KVM_PROBE_DEADLINE = 20.0      # a KVM boot to the no-root panic takes ~1 s; TCG ~5 s
READER_JOIN_DEADLINE = 10.0
KMSG_DUMP = "kmsg.txt"  # the guest's /dev/kmsg records at the end of the run
# A kernel that prints a fatal line (vm_process.CONSOLE_FATAL) is not coming back: QEMU normally
# exits (panic=-1 with -no-reboot), but an early-boot panic halts in a loop, so the VM is stopped
# after a grace period.
FATAL_GRACE = 15.0


# Under TCG, udev's coldplug in virtme-ng-init loads a module for every emulated device and CPU
# feature, and some take many seconds to initialise (kvm_intel on `-cpu max`: 21 s of one loaded boot here). None of
# these is one the suite uses (the modules it needs, veth, tun, dummy, vsock_loopback, load on
# demand), so udev is told to leave them (modprobe.blacklist applies to udev's modalias loads).
TCG_SKIPPED_MODULES = ("kvm", "kvm_intel", "kvm_amd", "iTCO_wdt", "iTCO_vendor_support",
                       "lpc_ich", "i6300esb", "pcspkr", "sr_mod", "cdrom", "psmouse",
                       "serio_raw", "joydev", "evdev", "i2c_i801", "powernow_k8",
                       "acpi_cpufreq", "intel_rapl_msr", "intel_rapl_common",
                       "intel_powerclamp")
TCG_BOOT_OPTIONS = "modprobe.blacklist=" + ",".join(TCG_SKIPPED_MODULES)


class TargetError(Exception):
    """Bad input or missing tools: the CLI prints it in one line and exits 2."""


@dataclass(frozen=True)
class Image:
    path: Path
    release: str | None
    banner: str | None
    root_fs: str | None = None   # "9p" | "virtiofs" | None (config not found): kernel_config
    root_note: str = ""


def plan_root(image: Image, path: str) -> Image:
    """Read the image's config and decide how its guest mounts the host root (9p, else
    virtio-fs); a TargetError in one line when it can do neither (targets/kernel_config.py)."""
    from dataclasses import replace

    from conformance.targets import kernel_config
    config = kernel_config.find(image.path, image.release)
    # =m options count when the modules can reach the guest: installed for this release, or
    # built in the image's tree (virtme-ng loads them from either).
    tree = image.path.parents[3] if len(image.path.parents) >= 4 else None
    modules = (bool(image.release) and (Path("/lib/modules") / str(image.release)
                                        / "modules.dep").exists()) or bool(
        tree and image.path.parent.name == "boot" and (tree / "modules.order").exists())
    plan = kernel_config.root_plan(config, path, modules)
    if plan.problem:
        raise TargetError(plan.problem)
    return replace(image, root_fs=plan.fs, root_note=plan.note)


def inspect_image(path: str) -> Image:
    """Check that path is a bootable kernel image and read its release from the header."""
    p = Path(path)
    if not p.exists():
        raise TargetError(f"kernel image {path}: no such file")
    if not p.is_file():
        raise TargetError(f"kernel image {path}: not a regular file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(0x400)
            if head[0x202:0x206] == b"HdrS":  # x86 boot protocol: bzImage
                (ver_off,) = struct.unpack_from("<H", head, 0x20E)
                fh.seek(0x200 + ver_off)
                banner = fh.read(256).split(b"\0")[0].decode(errors="replace")
                return plan_root(Image(p.resolve(), banner.split(" ")[0] or None,
                                       banner or None), path)
            if head[0x38:0x3C] == b"ARM\x64":  # arm64 Image: no version in the header
                return plan_root(Image(p.resolve(), None, None), path)
    except OSError as exc:
        raise TargetError(f"kernel image {path}: {exc.strerror}") from None
    raise TargetError(f"kernel image {path}: not a kernel image (no x86 'HdrS' or arm64 magic)")


@dataclass(frozen=True)
class Tools:
    vng: str
    qemu: str


def find_tools() -> Tools:
    """virtme-ng (vng), QEMU for this machine, and busybox (virtme-ng builds its initramfs
    with it), or a TargetError naming what to install."""
    here = Path(sys.executable).parent
    vng = str(here / "vng") if (here / "vng").exists() else shutil.which("vng")
    if not vng:
        raise TargetError("virtme-ng is not installed (pip install virtme-ng)")
    arch = platform.machine()
    qemu = shutil.which(f"qemu-system-{'aarch64' if arch == 'arm64' else arch}")
    if not qemu:
        raise TargetError(f"qemu-system-{arch} is not installed (apt-get install qemu-system-x86)")
    if not shutil.which("busybox"):
        raise TargetError("busybox is not installed; virtme-ng needs it for the initramfs "
                          "(apt-get install busybox-static)")
    return Tools(vng, qemu)


def probe_kvm(tools: Tools, image: Image) -> tuple[str, str]:
    """('kvm' | 'tcg', why): boot image under KVM with the CPU model virtme-ng uses (-cpu host)
    to the no-root-fs panic, within a deadline."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no accessible /dev/kvm"
    argv = [tools.qemu, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nographic",
            "-no-reboot", "-kernel", str(image.path), "-append", "console=ttyS0 panic=-1"]
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, errors="replace",
                              timeout=KVM_PROBE_DEADLINE, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "tcg", f"a KVM test boot did not finish in {KVM_PROBE_DEADLINE:.0f}s"
    if proc.returncode == 0 and "Linux version" in proc.stdout:
        return "kvm", "a KVM test boot reached the kernel"
    last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["?"])[-1]
    return "tcg", f"a KVM test boot failed (exit {proc.returncode}: {last[:160]})"


@dataclass
class VMRun:
    exit_code: int | None = None
    timed_out: bool = False
    boot_seconds: float | None = None
    wall_seconds: float = 0.0
    console: Path | None = None
    notes: list[str] = field(default_factory=list)


def guest_script(os_name: str, out: Path, run_id: str, command: list[str],
                 pytest_args: list[str], target: str, accel: str) -> str:
    """The shell script virtme-ng runs as root inside the guest (see write_guest_script)."""
    # The host renders junit.xml, ktap.txt and kcidb.json once it has merged (finalize).
    argv = pytest_argv(os_name, out, run_id, command,
                       ["--conformance-formats=json", *crash_proof(pytest_args)],
                       target=target, accel=accel)
    q = shlex.quote
    return "; ".join([
        f"cd {q(str(SUITE_DIR.parent))}",
        f"export HYPOTHESIS_STORAGE_DIRECTORY={q(str(out / '.hypothesis'))}",
        # the constants cache host.warm_bytecode filled: each worker would parse every module
        f"mkdir -p {q(str(out / '.hypothesis'))}",
        (f"ln -s {q(str(hypothesis_storage(bytecode_cache()) / 'constants'))} "
         f"{q(str(out / '.hypothesis' / 'constants'))}"),
        # compiled by the host before the boot (host.warm_bytecode): nothing to compile under TCG
        f"export PYTHONPYCACHEPREFIX={q(str(bytecode_cache()))}",
        *([f"export {ENV}={q(os.environ[ENV])}"] if os.environ.get(ENV) else []),
        *(f"export {name}={q(os.environ[name])}" for name in GUEST_ENV if os.environ.get(name)),
        f": > {q(str(out / '.booted'))}",
        f"cat /proc/sys/kernel/tainted > {q(str(out / 'taint.before'))}",
        f"{shlex.join(argv)}",
        "rc=$?",
        f"cat /proc/sys/kernel/tainted > {q(str(out / 'taint.after'))}",
        f"dmesg > {q(str(out / 'dmesg.txt'))} 2>&1",
        f"{q(sys.executable)} -m conformance.kernel_log --dump > {q(str(out / KMSG_DUMP))}",
        "exit $rc",
    ])


def crash_proof(pytest_args: list[str]) -> list[str]:
    """pytest-xdist workers in the guest, unless the user chose: one per vCPU by default
    (host.with_workers: QEMU's multi-threaded TCG runs them in parallel), one when the arguments
    name single tests. A test whose process dies (a kernel oops in its syscall, a signal) then
    ends only its worker; xdist starts another for the remaining tests and the crashed test is
    an ERROR naming the signal (conformance.kernel_health), instead of the whole guest run
    ending."""
    if chose_workers(pytest_args):
        return pytest_args
    parallel = with_workers(pytest_args)
    return parallel if parallel is not pytest_args else ["-n", "1", *pytest_args]


def write_guest_script(out: Path, script: str) -> str:
    """Put the script in the shared results directory and return the short command that runs
    it. virtme-ng passes --exec base64-encoded on the kernel command line, which holds 2048
    bytes on x86: a long pytest command line would be cut or, on Debian's 6.12.117, trip a
    fortify panic in start_kernel (strlen over boot_command_line)."""
    path = out / "guest.sh"
    path.write_text("#!/bin/sh\n" + script + "\n")
    return f"sh {shlex.quote(str(path))}"


def run_vm(tools: Tools, image: Image, script: str, out: Path, accel: str, cpus: int,
           memory: str, deadline: float, echo, append: str = "") -> VMRun:
    """Boot image, run script, wait at most deadline seconds; console goes to out/console.log.
    echo(line) is called for each console line (the caller decides what to show)."""
    argv = [tools.vng, "--run", str(image.path), "--user", "root", "--cpus", str(cpus),
            "--memory", memory, "--rwdir", str(out), "--verbose",
            "--name", "conformance", "--exec", write_guest_script(out, script)]
    if accel == "tcg":
        argv[1:1] = ["--disable-kvm", "--append", TCG_BOOT_OPTIONS]
    if append:
        argv[1:1] = ["--append", append]
    if image.root_fs == "9p" or (image.root_fs is None and not shutil.which("virtiofsd")):
        # virtme-ng would try the C virtiofsd in /usr/lib/qemu, wait ~3 s per shared directory
        # for it to fail, then use 9p anyway. root_fs "virtiofs": a kernel without 9p, and a
        # Rust virtiofsd virtme-ng finds first (kernel_config.rust_virtiofsd), else QEMU's C
        # one through the option shim put first on vng's PATH (targets/virtiofsd_shim.py).
        argv.insert(1, "--force-9p")
    env = dict(os.environ, PATH=f"{Path(tools.vng).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if image.root_fs == "virtiofs":
        from conformance.targets import kernel_config, virtiofsd_shim
        if not kernel_config.rust_virtiofsd():
            env["PATH"] = f"{virtiofsd_shim.install(out / '.virtiofsd')}{os.pathsep}{env['PATH']}"
    result = VMRun(console=out / "console.log")
    set_child_subreaper()
    start = time.monotonic()
    with open(result.console, "wb") as console:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
        interrupt.watch(proc.pid)  # SIGTERM/SIGINT/SIGHUP to the run stop the VM at once
        fatal: list[tuple[float, str]] = []
        reader = threading.Thread(target=vm_process.pump, args=(proc.stdout, console, echo, fatal),
                                  daemon=True)
        reader.start()
        try:
            while True:
                try:
                    result.exit_code = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if interrupt.requested():
                    break
                if fatal and time.monotonic() - fatal[0][0] > FATAL_GRACE:
                    result.notes.append(f"the kernel died ({fatal[0][1]}) and the VM did not "
                                        f"exit within {FATAL_GRACE:.0f}s; it was stopped")
                    break
                if result.boot_seconds is None and (out / ".booted").exists():
                    result.boot_seconds = round(time.monotonic() - start, 1)
                if time.monotonic() - start > deadline:
                    result.timed_out = True
                    result.notes.append(f"no result within the {deadline:.0f}s VM deadline; "
                                        "the VM was stopped")
                    break
        finally:
            vm_process.stop(proc)
            interrupt.unwatch(proc.pid)
            reader.join(READER_JOIN_DEADLINE)
    if interrupt.requested():
        result.notes.insert(0, f"{interrupt.note()}; the VM was stopped")
    if result.boot_seconds is None and (out / ".booted").exists():
        result.boot_seconds = round(time.monotonic() - start, 1)
    result.wall_seconds = round(time.monotonic() - start, 1)
    return result
