"""Run the suite of an OS against a target and write DIR/<run-id>/results.json and junit.xml.
The default target is the running kernel; --kernel IMAGE boots IMAGE under QEMU with
virtme-ng (repeat it for a matrix, one VM per kernel). Arguments after -- go to pytest."""
from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from conformance import catalog, validate
from conformance.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError
from conformance.results import OUTCOMES, known_failures, model
from conformance.results.recorder import write_outputs
from conformance.targets import (
    host,
    interrupt,
    kernel,
    kernel_results,
    vagrant,
    vm_process,
)

HELP = "run the suite against a target (default: this kernel; --kernel IMAGE under QEMU)"
PASSES_PYTEST_ARGS = True
_print_lock = threading.Lock()
# First line of every run of the FreeBSD suite (issue 14): no FreeBSD kernel had run it when its
# clauses were written, so a failure of a basis = "source" clause is a disagreement with a reading.
FREEBSD_NOTICE = ("conformance: FreeBSD verdicts on source-only clauses mean 'differs from our "
                  "reading' until confirmed on a FreeBSD kernel")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--os", choices=catalog.OSES, default=None,
                   help="which suite (default: the running OS)")
    p.add_argument("--results", metavar="DIR", default="results", type=validate.path_text,
                   help="results go to DIR/<run-id>/ (default: results)")
    p.add_argument("--kernel", metavar="IMAGE", action="append", default=[],
                   type=validate.kernel_image,
                   help="boot IMAGE (bzImage/vmlinuz) with virtme-ng and run the Linux suite "
                        "inside; repeat for a matrix; 'host' means the running kernel, no VM")
    p.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                   help="VM acceleration (auto: probe KVM with a short boot, else TCG)")
    p.add_argument("--cpus", type=validate.cpus, default=2, help="vCPUs per VM (default 2)")
    p.add_argument("--memory", type=validate.memory, default="2G", help="memory per VM (default 2G)")
    p.add_argument("--vm-deadline", type=validate.seconds, default=1800.0, metavar="SECONDS",
                   help="outer deadline per VM, boot included (default 1800)")
    p.add_argument("--append", metavar="ARGS", default="", type=validate.kernel_append,
                   help="extra kernel command line for the VMs")
    p.add_argument("--jobs", type=validate.jobs, default=0,
                   help="VMs at once (default: as many as CPUs and memory allow)")
    p.add_argument("--vagrant", metavar="MACHINE", action="append", default=[],
                   type=validate.machine,
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
    target = re.sub(r"[^A-Za-z0-9._+-]", "_", target)  # a release or machine name: no '/'
    run_id = (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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
    """1 on any failure, error or XPASS; 2 when no test ran at all (nothing collected, all
    deselected, a guest whose pytest stopped before the first test): a run that checked nothing
    is not a pass, whatever pytest's own status said."""
    c = model.counts(results)
    if c["failed"] or c["error"] or c["xpassed"]:
        return EXIT_FAIL
    if not results.get("tests"):
        target = results.get("run", {}).get("target", "host")
        print(f"conformance run: no test ran on {target} (nothing collected or everything "
              f"deselected): a run that checks nothing is not a pass", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def run_host(ns, os_name: str, pytest_args: list[str], argv: list[str]) -> tuple[dict, float]:
    run_id, out = new_run_dir(ns.results, "host")
    start = time.monotonic()
    code = host.run_pytest(os_name, out, run_id, ["conformance", *argv], pytest_args)
    wall = time.monotonic() - start
    if interrupt.requested():
        return interrupted_results(out, run_id, argv), wall
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
    mem = validate.size_bytes(memory)
    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    by_cpu = max(1, (os.cpu_count() or 1) // max(1, cpus))
    by_mem = max(1, int(avail * 0.8) // max(1, mem))
    return max(1, min(count, by_cpu, by_mem))


def run_kernel(ns, image: kernel.Image, tools: kernel.Tools, accel: str, note: str,
               pytest_args: list[str], argv: list[str], echo_console: bool) -> tuple[dict, float]:
    label = image.release or image.path.name
    if interrupt.requested():  # queued behind other VMs when the signal came: never started
        return None, 0.0
    run_id, out = new_run_dir(ns.results, f"kernel-{label}")
    target = f"kernel:{image.path}"
    script = kernel.guest_script("linux", out, run_id, ["conformance", *argv], pytest_args,
                                 target, accel)
    say(f"[{label}] booting {image.path} ({accel}, {ns.cpus} vCPUs, {ns.memory})")
    echo = vm_process.guest_echo if echo_console else (lambda line: None)
    vm = kernel.run_vm(tools, image, script, out, accel, ns.cpus, ns.memory, ns.vm_deadline, echo,
                       append=ns.append)
    results = kernel_results.finalize(out, image, vm, accel, ns.cpus, ns.memory, run_id, target,
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


def check_inputs(ns: argparse.Namespace, os_name: str, pytest_args: list[str]) -> None:
    """What the options' types cannot check alone, before anything starts: environment knobs,
    the plugin's options after --, the results directory, the catalogs, the known failures."""
    problem = (validate.environment_problem() or validate.pytest_args_problem(pytest_args))
    if problem:
        raise UsageError(f"conformance run: {problem}")
    why = validate.results_dir(ns.results)
    if why:
        raise UsageError(f"conformance run: results directory {ns.results!r} (--results) is "
                         f"not writable: {why}")
    try:
        catalog.load(os_name)
        known_failures.load()
    except (catalog.CatalogError, known_failures.KnownFailuresError) as exc:
        raise UsageError(f"conformance run: {exc}") from None


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    """Check the inputs, then run with SIGTERM/SIGINT/SIGHUP handled (targets/interrupt.py):
    what the run started is stopped, the results so far are written with the interruption
    marked, and the exit status is 128 + the signal's number."""
    check_inputs(ns, ns.os or running_os(), pytest_args)
    with interrupt.handling():
        code = run(ns, pytest_args, argv)
        if interrupt.requested():
            print(f"conformance run: {interrupt.note()}; stopped the VMs and processes it "
                  f"started; results so far are under {ns.results}/", file=sys.stderr)
            return interrupt.exit_status()
        return code


def interrupted_results(out: Path, run_id: str, argv: list[str]) -> dict:
    """The host run's results after an interrupt: what pytest wrote (or its journal), plus an
    ERROR entry naming the signal, written to out."""
    from conformance.results import SCHEMA, journal, provenance
    try:
        results = model.load(out)
    except model.ResultsError:
        results = {"schema": SCHEMA,
                   "run": {"id": run_id, "start": datetime.now(UTC).isoformat(),
                           "duration": 0.0, "suite": provenance.suite(), "target": "host",
                           "command": " ".join(["conformance", *argv])},
                   "kernel": provenance.kernel(), "environment": provenance.environment("none", 0),
                   "tests": journal.read(out / journal.JOURNAL)}
    results["run"]["interrupted"] = interrupt.name()
    results["tests"].append({
        "nodeid": "host::run", "clauses": [], "basis": {}, "outcome": "error", "duration": 0.0,
        "reason": None, "transcript": [],
        "message": f"{interrupt.note()}: {len(results['tests'])} tests had finished and are kept; "
                   "the test that was running and those after it did not finish"})
    write_outputs(out, results)
    return results


def run(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    os_name = ns.os or running_os()
    if os_name == "freebsd":
        say(FREEBSD_NOTICE)
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
    if interrupt.requested():  # during the KVM probe: nothing else has started
        return EXIT_FAIL
    rows: list[tuple[str, str, dict, float]] = []
    if None in images:
        results, wall = run_host(ns, os_name, pytest_args, argv)
        rows.append((f"host {results['kernel']['release']}", "none", results, wall))
    jobs = ns.jobs or default_jobs(ns.cpus, ns.memory, len(vm_images))
    echo = len(vm_images) == 1
    warm = host.warming(os_name, host.bytecode_cache(), bool(vm_images))  # while the VMs boot
    with warm, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_kernel, ns, img, tools, accel, note, pytest_args, argv, echo)
                   for img in vm_images]
        for img, fut in zip(vm_images, futures):
            results, wall = fut.result()
            if results is not None:
                rows.append((f"kernel {img.release or img.path.name}", accel, results, wall))
    return finish_matrix(rows) if rows else EXIT_FAIL


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
        if interrupt.requested():
            return EXIT_FAIL
    if missing:
        raise UsageError("conformance: " + "\nconformance: ".join(missing))
    if os_name != "freebsd" and any(guest.os == "freebsd" for _, _, guest in ready):
        say(FREEBSD_NOTICE)
    rows: list[tuple[str, str, dict, float]] = []
    if ns.kernel:
        results, wall = run_host(ns, os_name, pytest_args, argv)
        rows.append((f"host {results['kernel']['release']}", "none", results, wall))
    for machine, provider, guest in ready:
        if interrupt.requested():
            break
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
