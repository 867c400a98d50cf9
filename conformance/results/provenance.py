"""Where a run happened: kernel, environment, suite version."""
from __future__ import annotations

import gzip
import hashlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import conformance
from conformance import hypothesis_profiles
from conformance.kconfig import parse_config

_REPO = Path(conformance.__file__).resolve().parent.parent


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return gzip.decompress(data) if path.endswith(".gz") else data


CONFIG_OPTION = re.compile(r"\bCONFIG_[A-Z0-9_]+\b")  # an option named in text
# the suite's probes name the options whose absence they report: those are the ones worth keeping
PROBE_SOURCES = Path(conformance.__file__).resolve().parent / "probes"


def kernel_config(release: str) -> bytes | None:
    """The kernel config (/proc/config.gz or /boot/config-RELEASE), when readable."""
    for path in ("/proc/config.gz", f"/boot/config-{release}"):
        data = _read(path)
        if data:
            return data
    return None


def kernel_config_hash(release: str) -> str | None:
    """sha256 of the kernel config, when readable."""
    data = kernel_config(release)
    return "sha256:" + hashlib.sha256(data).hexdigest() if data else None


def probe_options() -> set[str]:
    """Every CONFIG_* option the suite's probes can cite in a skip reason."""
    return {m for f in PROBE_SOURCES.rglob("*.py")
            for m in CONFIG_OPTION.findall(f.read_text())}


def config_options(config: bytes | None, names: set[str]) -> dict[str, str | None] | None:
    """{option: value (y, m, a string) or None when not set} for the names; None without a
    readable config. compare explains a skip naming an option by these values."""
    if config is None:
        return None
    values = parse_config(config.decode(errors="replace"))
    return {n: values.get(n) for n in sorted(names)}


def kernel(cited: set[str] = frozenset()) -> dict:
    """The running kernel; config_options keeps the probes' options and the cited ones."""
    u = platform.uname()
    cmdline = _read("/proc/cmdline")
    config = kernel_config(u.release)
    return {
        "os": u.system.lower(),
        "release": u.release,
        "version": u.version,
        "machine": u.machine,
        "config_hash": "sha256:" + hashlib.sha256(config).hexdigest() if config else None,
        "config_options": config_options(config, probe_options() | set(cited)),
        "cmdline": cmdline.decode(errors="replace").strip() if cmdline else None,
    }


def suite() -> dict:
    """Suite version and, for a git checkout, its commit."""
    commit = dirty = None
    if (_REPO / ".git").exists():
        try:
            head = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--verify", "-q", "HEAD"],
                                  check=False, text=True, capture_output=True, timeout=10)
            commit = head.stdout.strip() if head.returncode == 0 else None
            status = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain"], check=False,
                                    text=True, capture_output=True, timeout=10).stdout
            dirty = bool(status.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {"version": conformance.__version__, "commit": commit, "dirty": dirty}


def environment(accel: str, workers: int) -> dict:
    # Inside the rootless user namespace euid is 0 but nothing outside it is ours.
    rootless = os.environ.get("CONFORMANCE_ROOTLESS")
    return {
        "accel": accel,
        "privileged": os.geteuid() == 0 and not rootless,
        "rootless": rootless or None,
        "python": platform.python_version(),
        "executable": sys.executable,
        "xdist_workers": workers,
        "hypothesis_profile": hypothesis_profiles.current(),
    }
