"""Run the suite of an OS against a target and write DIR/<run-id>/results.json and junit.xml.
The default target is the running kernel; --kernel IMAGE boots IMAGE under QEMU with
virtme-ng (repeat it for a matrix, one VM per kernel). Arguments after -- go to pytest."""
from __future__ import annotations

import argparse
import os
import platform
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from conformance import catalog
from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.results import OUTCOMES, model
from conformance.targets import host, kernel, vagrant

HELP = "run the suite against a target (default: this kernel; --kernel IMAGE under QEMU)"
PASSES_PYTEST_ARGS = True
_print_lock = threading.Lock()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--os", choices=catalog.OSES, default=None,
                   help="which suite (default: the running OS)")
    p.add_argument("--results", metavar="DIR", default="results",
                   help="results go to DIR/<run-id>/ (default: results)")
    p.add_argument("--kernel", metavar="IMAGE", action="append", default=[],
                   help="boot IMAGE (bzImage/vmlinuz) with virtme-ng and run the Linux suite "
                        "inside; repeat for a matrix; 'host' means the running kernel, no VM")
    p.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                   help="VM acceleration (auto: probe KVM with a short boot, else TCG)")
    p.add_argument("--cpus", type=int, default=2, help="vCPUs per VM (default 2)")
    p.add_argument("--memory", default="2G", help="memory per VM (default 2G)")
    p.add_argument("--vm-deadline", type=float, default=1800.0, metavar="SECONDS",
                   help="outer deadline per VM, boot included (default 1800)")
    p.add_argument("--append", metavar="ARGS", default="",
                   help="extra kernel command line for the VMs")
    p.add_argument("--jobs", type=int, default=0,
                   help="VMs at once (default: as many as CPUs and memory allow)")
    p.add_argument("--vagrant", metavar="MACHINE", action="append", default=[],
                   help="run the suite in the running Vagrant machine MACHINE over vagrant ssh "
                        "(its own OS's suite; --vm-deadline bounds it); repeatable; combines "
                        "with --kernel host")


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def running_os() -> str:
    name = platform.system().lower()
    return name if name in catalog.OSES else "linux"


def new_run_dir(base: str, target: str) -> tuple[str, Path]:
    """Make DIR/<run-id>/ and check it is writable, or raise UsageError."""
    run_id = (datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
              + f"-{target}-{secrets.token_hex(3)}")
    out = Path(base) / run_id
    try:
        out.mkdir(parents=True)
        probe = out / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"conformance run: results directory {base!r} is not writable: "
                         f"{exc.strerror or exc}") from None
    return run_id, out.resolve()


def summary_line(results: dict, wall: float) -> str:
    c = model.counts(results)
    k = results["kernel"]
    return (f"conformance: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, "
            f"{c['xfailed']} xfailed, {c['xpassed']} xpassed, {c['error']} errors "
            f"in {wall:.1f}s on {k['os']} {k['release']}")


def verdict(results: dict) -> int:
    c = model.counts(results)
    return EXIT_FAIL if c["failed"] or c["error"] or c["xpassed"] else EXIT_OK


def run_host(ns, os_name: str, pytest_args: list[str], argv: list[str]) -> tuple[dict, float]:
    run_id, out = new_run_dir(ns.results, "host")
    start = time.monotonic()
    code = host.run_pytest(os_name, out, run_id, ["conformance", *argv], pytest_args)
    wall = time.monotonic() - start
    try:
        results = model.load(out)
    except model.ResultsError as exc:
        raise UsageError(f"conformance run: pytest exited {code} without results ({exc})") from None
    if code not in (0, 1, 5):
        raise UsageError(f"conformance run: pytest could not run the suite (exit {code}); see above")
    say(f"\nkernel {results['kernel']['os']} {results['kernel']['release']} (host); "
        f"results: {out}/ (results.json, junit.xml, ktap.txt, kcidb.json)")
    return results, wall


def default_jobs(cpus: int, memory: str, count: int) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    size = memory.strip().upper().removesuffix("B")
    mem = int(float(size[:-1]) * units[size[-1]]) if size[-1:] in units else int(size) * 2**20
    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    by_cpu = max(1, (os.cpu_count() or 1) // max(1, cpus))
    by_mem = max(1, int(avail * 0.8) // max(1, mem))
    return max(1, min(count, by_cpu, by_mem))


def run_kernel(ns, image: kernel.Image, tools: kernel.Tools, accel: str, note: str,
               pytest_args: list[str], argv: list[str], echo_console: bool) -> tuple[dict, float]:
    label = image.release or image.path.name
    run_id, out = new_run_dir(ns.results, f"kernel-{label}")
    target = f"kernel:{image.path}"
    script = kernel.guest_script("linux", out, run_id, ["conformance", *argv], pytest_args,
                                 target, accel)
    say(f"[{label}] booting {image.path} ({accel}, {ns.cpus} vCPUs, {ns.memory})")
    echo = kernel.guest_echo if echo_console else (lambda line: None)
    vm = kernel.run_vm(tools, image, script, out, accel, ns.cpus, ns.memory, ns.vm_deadline, echo,
                       append=ns.append)
    results = kernel.finalize(out, image, vm, accel, ns.cpus, ns.memory, run_id, target,
                              ["conformance", *argv], note)
    boot = f"booted in {vm.boot_seconds}s" if vm.boot_seconds is not None else "did not boot"
    say(f"[{label}] {boot}; {summary_line(results, vm.wall_seconds).removeprefix('conformance: ')}"
        f"; results: {out}")
    return results, vm.wall_seconds


def print_table(rows: list[tuple[str, str, dict, float]]) -> None:
    head = f"{'target':<44} {'accel':<5} " + " ".join(f"{o:>7}" for o in OUTCOMES) + "    wall"
    say("\n" + head)
    for name, accel, results, wall in rows:
        c = model.counts(results)
        say(f"{name:<44} {accel:<5} " + " ".join(f"{c[o]:>7}" for o in OUTCOMES)
            + f" {wall:>6.1f}s")


def finish_matrix(rows: list[tuple[str, str, dict, float]]) -> int:
    """The combined table, the totals line, and the run's exit status."""
    print_table(rows)
    total = {o: sum(model.counts(r)[o] for _, _, r, _ in rows) for o in OUTCOMES}
    say(f"conformance: {total['passed']} passed, {total['failed']} failed, "
        f"{total['skipped']} skipped, {total['xfailed']} xfailed, {total['xpassed']} xpassed, "
        f"{total['error']} errors across {len(rows)} targets")
    return max(verdict(r) for _, _, r, _ in rows)


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    os_name = ns.os or running_os()
    if ns.vagrant:
        return run_with_vagrant(ns, os_name, pytest_args, argv)
    if not ns.kernel:
        results, wall = run_host(ns, os_name, pytest_args, argv)
        say(summary_line(results, wall))
        return verdict(results)
    if os_name != "linux":
        raise UsageError("conformance run: --kernel boots Linux images; use --os linux")
    images = [None if k == "host" else kernel.inspect_image(k) for k in ns.kernel]
    vm_images = [i for i in images if i is not None]
    tools = kernel.find_tools() if vm_images else None
    accel, note = ns.accel, f"--accel {ns.accel}"
    if vm_images and ns.accel == "auto":
        accel, note = kernel.probe_kvm(tools, vm_images[0])
        say(f"conformance: using {accel.upper()}: {note}")
    rows: list[tuple[str, str, dict, float]] = []
    if None in images:
        results, wall = run_host(ns, os_name, pytest_args, argv)
        rows.append((f"host {results['kernel']['release']}", "none", results, wall))
    jobs = ns.jobs or default_jobs(ns.cpus, ns.memory, len(vm_images))
    echo = len(vm_images) == 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_kernel, ns, img, tools, accel, note, pytest_args, argv, echo)
                   for img in vm_images]
        for img, fut in zip(vm_images, futures):
            results, wall = fut.result()
            rows.append((f"kernel {img.release or img.path.name}", accel, results, wall))
    return finish_matrix(rows)


def run_with_vagrant(ns, os_name: str, pytest_args: list[str], argv: list[str]) -> int:
    """--vagrant MACHINE...: check every machine first (one line each on what is missing and how
    to start it, exit 2), then run them one after the other; one combined table."""
    if any(k != "host" for k in ns.kernel):
        raise UsageError("conformance run: --vagrant combines with --kernel host only; "
                         "run kernel images in a separate run")
    v = vagrant.find_vagrant()
    ready, missing = [], []
    for machine in dict.fromkeys(ns.vagrant):
        try:
            ready.append((machine, *vagrant.prepare(v, machine)))
        except vagrant.Unavailable as exc:
            missing.append(str(exc))
    if missing:
        raise UsageError("conformance: " + "\nconformance: ".join(missing))
    rows: list[tuple[str, str, dict, float]] = []
    if ns.kernel:
        results, wall = run_host(ns, os_name, pytest_args, argv)
        rows.append((f"host {results['kernel']['release']}", "none", results, wall))
    for machine, provider, guest in ready:
        run_id, out = new_run_dir(ns.results, f"vagrant-{machine}")
        say(f"[{machine}] {guest.os} {guest.release} ({provider}, {guest.accel}): running the suite")
        start = time.monotonic()
        results = vagrant.run_machine(v, guest, provider, out, run_id, ["conformance", *argv],
                                      pytest_args, ns.vm_deadline, say)
        wall = time.monotonic() - start
        say(f"[{machine}] {summary_line(results, wall).removeprefix('conformance: ')}"
            f"; results: {out}")
        rows.append((f"vagrant {machine} {results['kernel']['release']}", guest.accel,
                     results, wall))
    return finish_matrix(rows)
