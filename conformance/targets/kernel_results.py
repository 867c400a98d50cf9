"""A kernel run's results: what the guest wrote merged with what the host saw (a failed boot,
a hang, a panic, new trouble taints, the kernel's incidents) into results.json."""
from __future__ import annotations

import platform
from datetime import UTC
from pathlib import Path

from conformance.kernel_log import TROUBLE_TAINTS
from conformance.results import journal
from conformance.results.recorder import write_outputs
from conformance.targets import kernel_config
from conformance.targets.kernel import KMSG_DUMP, Image, VMRun

CONSOLE_TAIL_LINES = 60
ROOT_MOUNT_FAILED = "mounting /dev/root on /newroot/ failed"


def console_tail(path: Path, lines: int = CONSOLE_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no console log)"
    return "\n".join(text.splitlines()[-lines:])


def new_taints(out: Path) -> list[str]:
    """Trouble taint bits set during the run (taint.after minus taint.before)."""
    try:
        before = int((out / "taint.before").read_text().strip() or 0)
        after = int((out / "taint.after").read_text().strip() or 0)
    except (OSError, ValueError):
        return []
    return [name for bit, name in TROUBLE_TAINTS.items() if after & ~before & (1 << bit)]


def kernel_incidents(out: Path, console: Path | None) -> tuple[list[dict], str]:
    """The guest kernel's incidents (conformance.kernel_log) and where they were read: the
    kmsg dump the guest wrote at the end, else the kernel records of the console log (a guest
    that died wrote no dump)."""
    from conformance import kernel_log
    for path, what in ((out / KMSG_DUMP, "the guest's /dev/kmsg"), (console, "the console log")):
        try:
            text = path.read_text(errors="replace") if path else ""
        except OSError:
            continue
        if text.strip():
            return [i.to_json() for i in kernel_log.incidents(kernel_log.parse_records(text))], what
    return [], "no kernel log came back"


def health_message(taints: list[str], found: list[dict], source: str, tests: list[dict]) -> str:
    """The ::health entry: the taint, then each incident quoted (first line and call trace)
    with the test during which it was logged."""
    from conformance import kernel_log
    during = {}
    for t in tests:
        for inc in t.get("kernel_log") or []:
            during.setdefault((inc.get("seq"), inc.get("title")), t["nodeid"])
    lines = [f"the kernel was tainted during the run: {', '.join(taints)}" if taints else
             "the kernel logged trouble during the run",
             f"{len(found)} incident(s) in {source}:" if found else f"no incident in {source}"]
    for inc in found:
        test = during.get((inc.get("seq"), inc.get("title")))
        lines += ["", kernel_log.summary(inc)
                  + (f" (during {test})" if test else " (between tests or in an unrecorded test)"),
                  inc.get("excerpt") or ""]
    return "\n".join(lines).rstrip()


def image_config_hash(image: Image) -> str | None:
    """sha256 of the image's config: config-RELEASE beside it or in /boot, or the build tree's
    .config when the image is arch/*/boot/bzImage."""
    import hashlib
    candidates = []
    if image.release:
        candidates += [image.path.parent / f"config-{image.release}",
                       Path("/boot") / f"config-{image.release}"]
    if len(image.path.parents) >= 4 and image.path.parent.name == "boot":
        candidates.append(image.path.parents[3] / ".config")
    for c in candidates:
        try:
            return "sha256:" + hashlib.sha256(c.read_bytes()).hexdigest()
        except OSError:
            continue
    return None


def error_entry(nodeid: str, message: str) -> dict:
    return {"nodeid": nodeid, "clauses": [], "basis": {}, "outcome": "error", "duration": 0.0,
            "reason": None, "message": message, "transcript": []}


def finalize(out: Path, image: Image, vm: VMRun, accel: str, cpus: int, memory: str,
             run_id: str, target: str, command: list[str], accel_note: str) -> dict:
    """Merge what the guest wrote with what the host saw into out/results.json; a failed boot,
    a hang, a panic or new trouble taints become ERROR entries carrying the console tail."""
    from datetime import datetime

    from conformance.results import SCHEMA, model, provenance

    name = f"kernel/{image.release or image.path.name}"
    try:
        results = model.load(out)
        complete = True
    except model.ResultsError:
        complete = False
        results = {
            "schema": SCHEMA,
            "run": {"id": run_id, "start": datetime.now(UTC).isoformat(),
                    "duration": vm.wall_seconds, "suite": provenance.suite(), "target": target,
                    "command": " ".join(command)},
            "kernel": {"os": "linux", "release": image.release, "version": image.banner,
                       "machine": platform.machine(), "config_hash": image_config_hash(image),
                       "cmdline": None},
            "environment": provenance.environment(accel, 0),
            "tests": journal.read(out / journal.JOURNAL),
        }
    tail = console_tail(vm.console) if vm.console else ""
    found, source = kernel_incidents(out, vm.console)
    found = [i for i in found if i["kind"] != "segfault"]  # a user process's fault, not the kernel's
    if not complete:
        if vm.timed_out or vm.notes:
            why = vm.notes[0]
        elif vm.boot_seconds is None:
            why = f"the kernel did not reach the suite (virtme-ng exit {vm.exit_code})"
            if ROOT_MOUNT_FAILED in tail:
                why += (f"; the guest could not mount the host root ({image.root_note or 'root'}"
                        f"): a boot needs 9p ({', '.join(kernel_config.NINEP)}) or virtio-fs "
                        f"({', '.join(kernel_config.VIRTIOFS)}) with a virtiofsd")
        else:
            why = (f"the suite did not finish (virtme-ng exit {vm.exit_code}); "
                   f"{len(results['tests'])} tests had finished and are kept")
        if found:
            from conformance.kernel_log import summary
            why += "; the kernel logged: " + "; ".join(summary(i) for i in found)
        results["tests"].append(error_entry(f"{name}::run", f"{why}\n--- console tail ---\n{tail}"))
    taints = new_taints(out)
    if taints or found:
        entry = error_entry(f"{name}::health", health_message(taints, found, source,
                                                               results["tests"]))
        entry["kernel_log"] = found
        results["tests"].append(entry)
    results["environment"]["accel"] = accel
    results["vm"] = {"image": str(image.path), "accel": accel, "accel_note": accel_note,
                     "cpus": cpus, "memory": memory, "boot_seconds": vm.boot_seconds,
                     "wall_seconds": vm.wall_seconds, "exit_code": vm.exit_code,
                     "timed_out": vm.timed_out, "console": "console.log",
                     "root_fs": image.root_fs, "root_note": image.root_note}
    write_outputs(out, results)
    return results
