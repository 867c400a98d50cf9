"""The VM's processes seen from the host: the console pump (what the guest prints, and the
first fatal kernel line), and stopping the process group we started, by PID."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

# A kernel that prints one of these is not coming back: QEMU normally exits (panic=-1 with
# -no-reboot), but an early-boot panic halts in a loop, so the VM is stopped after a grace period.
CONSOLE_FATAL = re.compile(r"Kernel panic - not syncing|PANIC: early exception")

KERNEL_LINE = re.compile(r"^\[\s*\d+\.\d+\] ")


def guest_echo(line: str) -> None:
    """Show what the suite prints in the guest; kernel messages stay in console.log."""
    if not KERNEL_LINE.match(line):
        print(line, flush=True)


def pump(stream, console, echo, fatal: list | None = None) -> None:
    """Copy stream to console line by line and echo(line) each; with a fatal list, note the
    first fatal kernel line (CONSOLE_FATAL) and when it came."""
    for line in iter(stream.readline, b""):
        console.write(line)
        console.flush()
        text = line.decode(errors="replace").rstrip("\n")
        if fatal is not None and not fatal and (m := CONSOLE_FATAL.search(text)):
            fatal.append((time.monotonic(), m.group(0)))
        echo(text)
    stream.close()


STOP_DEADLINE = 10.0


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is pgid (the session we started for the VM)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def reap(pid: int, deadline: float) -> None:
    """Wait (pidfd + poll, bounded) for pid to exit, and reap it if it became our child."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(deadline * 1000)
    finally:
        os.close(fd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(proc: subprocess.Popen) -> None:
    """End a process group we started (a VM: vng, virtme-run, QEMU, virtiofsd; or vagrant and
    its ssh child), by the PIDs in that group; reap what was orphaned to us (we are a child
    subreaper)."""
    members = [p for p in group_members(proc.pid) if p != proc.pid]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None and not any(os.path.exists(f"/proc/{p}") for p in members):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            continue
        for pid in members:
            reap(pid, STOP_DEADLINE)
