"""Every value a user hands the command line, checked where it enters.

Command-line options use these as argparse `type=` functions: a bad value becomes one line,
"conformance run: argument --memory: 'lots' is not a size; expected ...", and exit 2 (the CLI's
Parser.error). Environment knobs (CONFORMANCE_*) and the pytest options the plugin owns (after
`--`) are checked by check_environment() and check_pytest_args() before anything starts, with
the same shape of message: the knob or option, the value, what is accepted.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import stat
from pathlib import Path

# --- sizes, counts, durations ------------------------------------------------------------------

_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"(?P<num>\d+(\.\d+)?)\s*(?P<unit>[KMGT])?(I?B)?", re.IGNORECASE)
MIN_VM_MEMORY = 256 * 2**20     # below this the guest's Python and pytest do not fit
MAX_VM_MEMORY = 2**40
MAX_CPUS = 255                  # QEMU's x86 limit without x2APIC and an IOMMU
MAX_JOBS = 64
MAX_DEADLINE = 7 * 24 * 3600.0  # a week: anything longer is a typo for a smaller unit
MAX_APPEND = 1024               # x86 keeps 2048 bytes of command line; virtme-ng needs the rest
MACHINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def shown(value) -> str:
    """A user's value for a one-line message: as typed when printable, else quoted and escaped
    (a newline or carriage return in a path must not start a second line)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def _bad(value: str, accepted: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{value!r} is not {accepted}")


def size_bytes(text: str) -> int:
    """'2G', '512M', '1.5g', '2GiB' -> bytes; a bare number is MiB (QEMU's -m convention)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    unit = (m.group("unit") or "M").upper()
    return int(float(m.group("num")) * _UNITS[unit])


def memory(text: str) -> str:
    """--memory: a size from 256M to 1T, returned as QEMU writes it ('2G', '1536M')."""
    accepted = "a memory size from 256M to 1T, like 2G, 1536M or 2048 (MiB)"
    try:
        n = size_bytes(text)
    except ValueError:
        raise _bad(text, accepted) from None
    if not MIN_VM_MEMORY <= n <= MAX_VM_MEMORY:
        raise _bad(text, accepted)
    mib = n // 2**20
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def _integer(text: str, low: int, high: int, what: str) -> int:
    accepted = f"{what}: a whole number from {low} to {high}"
    try:
        n = int(text.strip(), 10)
    except ValueError:
        raise _bad(text, accepted) from None
    if not low <= n <= high:
        raise _bad(text, accepted)
    return n


def cpus(text: str) -> int:
    return _integer(text, 1, MAX_CPUS, "a vCPU count")


def jobs(text: str) -> int:
    return _integer(text, 1, MAX_JOBS, "a number of VMs at once")


def syscall_nr(text: str) -> int:
    """--sendfile2-nr as a pytest option type (fixtures/zerocopy.py): a syscall number."""
    return _integer(text, 1, 4095, "a syscall number")


def seconds(text: str) -> float:
    """--vm-deadline: seconds, more than 0 and at most a week."""
    accepted = f"a duration in seconds, more than 0 and at most {MAX_DEADLINE:.0f}"
    try:
        n = float(text.strip())
    except ValueError:
        raise _bad(text, accepted) from None
    if not (math.isfinite(n) and 0 < n <= MAX_DEADLINE):
        raise _bad(text, accepted)
    return n


# --- strings and paths ---------------------------------------------------------------------------

def kernel_append(text: str) -> str:
    """--append: kernel command-line words, printable, balanced quotes, at most 1024 bytes."""
    accepted = f"a kernel command line (printable, balanced quotes, at most {MAX_APPEND} bytes)"
    if len(text.encode(errors="surrogateescape")) > MAX_APPEND or not text.isprintable():
        raise _bad(text, accepted)
    try:
        shlex.split(text)
    except ValueError:
        raise _bad(text, accepted) from None
    return text.strip()


def path_text(text: str) -> str:
    """A path as typed: not empty, no NUL or control characters."""
    if not text or not text.isprintable():
        raise _bad(text, "a path (not empty, printable)")
    return text


def kernel_image(text: str) -> str:
    """--kernel: 'host' or a bootable kernel image (bzImage/vmlinuz, arm64 Image)."""
    if text == "host":
        return text
    from conformance.targets.kernel import TargetError, inspect_image
    path_text(text)
    try:
        inspect_image(text)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc}; give a bzImage/vmlinuz file or 'host'") from None
    return text


def machine(text: str) -> str:
    """--vagrant: a machine name as a Vagrantfile defines it (letters, digits, . _ -)."""
    if not MACHINE.fullmatch(text):
        raise _bad(text, "a Vagrant machine name (letters, digits, '.', '_', '-'; "
                         "e.g. freebsd, freebsd14, linux)")
    return text


def results_dir(text: str) -> str | None:
    """Why DIR cannot hold results (None when it can): its nearest existing ancestor must be a
    directory we can write into. Nothing is created here."""
    p = Path(text).absolute()
    for parent in (p, *p.parents):
        try:
            mode = parent.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # made by the run, under the nearest ancestor that exists
        except (OSError, ValueError) as exc:  # too long, a loop of links, a NUL
            return f"{shown(parent)}: {getattr(exc, 'strerror', None) or exc}"
        if not stat.S_ISDIR(mode):
            return f"{shown(parent)} is not a directory"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{shown(parent)} is not writable"
        return None
    return None


# --- environment knobs ---------------------------------------------------------------------------

def _slow_factor(text: str) -> str | None:
    try:
        n = float(text)
    except ValueError:
        n = math.nan
    return None if math.isfinite(n) and 1 <= n <= 100 else "a number from 1 to 100 (e.g. 4 under TCG)"


def _syscall_nr(text: str) -> str | None:
    ok = text.strip().isdigit() and 0 < int(text) < 4096
    return None if ok else "a positive syscall number (1 to 4095)"


def _origin(text: str) -> str | None:
    return None if re.fullmatch(r"[a-z0-9_]+", text) else "a KCIDB origin ([a-z0-9_]+)"


def _directory(text: str) -> str | None:
    return None if os.path.isabs(text) and os.path.isdir(text) else "an existing directory (absolute path)"


def _known_failures(text: str) -> str | None:
    missing = [p for p in text.split(os.pathsep) if p and not os.path.isfile(p)]
    if missing:
        return f"':'-separated known-failures files that exist ({shown(missing[0])} does not)"
    return None


# name -> check(value) -> None, or what is accepted. CONFORMANCE_ROOTLESS is internal (set by
# the rootless target for its child); the Vagrantfile checks its own knobs (vagrant/Vagrantfile).
KNOBS = {
    "CONFORMANCE_SLOW_FACTOR": _slow_factor,
    "CONFORMANCE_SENDFILE2_NR": _syscall_nr,
    "CONFORMANCE_KCIDB_ORIGIN": _origin,
    "CONFORMANCE_NETNS_DIR": _directory,
    "CONFORMANCE_KNOWN_FAILURES": _known_failures,
}


def environment_problem(environ=None) -> str | None:
    """The first bad CONFORMANCE_* knob as one line, or None. An empty value means unset."""
    environ = os.environ if environ is None else environ
    for name, check in KNOBS.items():
        value = environ.get(name)
        if value:
            accepted = check(value)
            if accepted:
                return f"environment {name}={value!r}: expected {accepted}"
    return None


# --- pytest options the plugin owns (after --) ---------------------------------------------------

# Options `conformance run` sets itself: given after -- they would fight its own.
RUN_OWNS = ("--conformance-results", "--conformance-run-id", "--conformance-target",
            "--conformance-accel", "--conformance-command", "--conformance-clause-map")
PLUGIN_VALUES = {"--sendfile2-nr": _syscall_nr}


def pytest_args_problem(args: list[str]) -> str | None:
    """The first bad plugin-owned option after -- as one line, or None."""
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in RUN_OWNS:
            return f"{name} after -- is set by `conformance run` itself; use its own options"
        if name in PLUGIN_VALUES:
            if not eq:
                if i + 1 >= len(args):
                    return f"{name} needs a value: {PLUGIN_VALUES[name]('')}"
                value = args[i + 1]
            accepted = PLUGIN_VALUES[name](value)
            if accepted:
                return f"{name} {value!r}: expected {accepted}"
    return None
