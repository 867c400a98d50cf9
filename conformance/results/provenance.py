"""Where a run happened: kernel, environment, suite version."""
from __future__ import annotations

import gzip
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

import conformance

_REPO = Path(conformance.__file__).resolve().parent.parent


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return gzip.decompress(data) if path.endswith(".gz") else data


def kernel_config_hash(release: str) -> str | None:
    """sha256 of the kernel config (/proc/config.gz or /boot/config-RELEASE), when readable."""
    for path in ("/proc/config.gz", f"/boot/config-{release}"):
        data = _read(path)
        if data:
            return "sha256:" + hashlib.sha256(data).hexdigest()
    return None


def kernel() -> dict:
    u = platform.uname()
    cmdline = _read("/proc/cmdline")
    return {
        "os": u.system.lower(),
        "release": u.release,
        "version": u.version,
        "machine": u.machine,
        "config_hash": kernel_config_hash(u.release),
        "cmdline": cmdline.decode(errors="replace").strip() if cmdline else None,
    }


def suite() -> dict:
    """Suite version and, for a git checkout, its commit."""
    commit = dirty = None
    if (_REPO / ".git").exists():
        try:
            head = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--verify", "-q", "HEAD"],
                                  text=True, capture_output=True, timeout=10)
            commit = head.stdout.strip() if head.returncode == 0 else None
            status = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain"], text=True,
                                    capture_output=True, timeout=10).stdout
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
    }
