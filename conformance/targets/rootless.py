"""Rootless host runs: when `conformance run` is not root, re-run pytest inside an unprivileged
user + network + mount namespace (unshare -Urnm), where the suite is root over namespaces of
its own; when the kernel or the system does not allow that, say why, so that the network tests
skip naming it (the "netns" probe reads $CONFORMANCE_ROOTLESS).

Inside, `python -m conformance.targets.rootless inner -- ARGV` brings loopback up (a new network
namespace starts with lo down), points $CONFORMANCE_NETNS_DIR at a private directory (the
host's /var/run/netns is not writable by the mapped root) and pytest's temporary root at another
(/tmp/pytest-of-root would belong to the real root), runs ARGV and removes both. Whatever else
it made dies with the namespaces.

plan() decides; its inputs are parameters, so the decision is tested without root.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOTLESS_ENV = "CONFORMANCE_ROOTLESS"  # read by conformance/probes/netns.py
NETNS_DIR_ENV = "CONFORMANCE_NETNS_DIR"  # read by conformance/fixtures/netns.py
# Sysctls that forbid unprivileged user or network namespaces when 0 (the first is Debian's
# and Ubuntu's switch; the others are upstream limits).
SYSCTLS = ("kernel/unprivileged_userns_clone", "user/max_user_namespaces",
           "user/max_net_namespaces", "user/max_mnt_namespaces")
TRIAL_DEADLINE = 30.0


class Plan(NamedTuple):
    """How to run pytest: wrap is the argv prefix (None: run as is); reason says why a
    non-root run cannot use a user namespace (None when it can, or when running as root)."""
    wrap: list[str] | None
    reason: str | None

    def argv(self, pytest_argv: list[str]) -> list[str]:
        return [*self.wrap, *pytest_argv] if self.wrap else pytest_argv

    def env(self) -> dict[str, str]:
        """Environment for the child: the reason for the probes, or that it runs rootless."""
        value = "inside an unprivileged user namespace" if self.wrap else self.reason
        return {**os.environ, ROOTLESS_ENV: value} if value else dict(os.environ)


def read_sysctls(root: str = "/proc/sys") -> dict[str, str]:
    out = {}
    for name in SYSCTLS:
        try:
            out[name] = Path(root, name).read_text().strip()
        except OSError:
            pass  # absent: not a limit on this kernel
    return out


def wrapper(unshare: str, python: str) -> list[str]:
    return [unshare, "--user", "--map-root-user", "--net", "--mount", "--propagation", "private",
            "--", python, "-m", "conformance.targets.rootless", "inner", "--"]


def trial(wrap: list[str]) -> str | None:
    """Run the wrapper around `check` (make a namespace with a veth inside the user namespace):
    None when it works, else its last line of complaint."""
    try:
        done = subprocess.run([*wrap[:-2], "check"], check=False, capture_output=True,
                              text=True, timeout=TRIAL_DEADLINE)
    except subprocess.TimeoutExpired:
        return f"trial in a user namespace did not finish within {TRIAL_DEADLINE}s"
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"trial exited {done.returncode}"


def plan(euid: int | None = None, system: str | None = None, unshare: str | None = "which",
         sysctls: dict[str, str] | None = None,
         try_it: Callable[[list[str]], str | None] = trial) -> Plan:
    """Decide how to run pytest. Defaults read this machine; tests pass their own."""
    euid = os.geteuid() if euid is None else euid
    system = system or os.uname().sysname
    if euid == 0:
        return Plan(None, None)
    if system != "Linux":
        return Plan(None, f"not root (euid {euid}) and user namespaces are Linux-only")
    unshare = shutil.which("unshare") if unshare == "which" else unshare
    if not unshare:
        return Plan(None, f"not root (euid {euid}) and unshare(1) (util-linux) is not installed")
    sysctls = read_sysctls() if sysctls is None else sysctls
    for name in SYSCTLS:
        if sysctls.get(name) == "0":
            return Plan(None, f"not root (euid {euid}) and {name.replace('/', '.')} = 0 "
                              f"forbids unprivileged user namespaces")
    wrap = wrapper(unshare, sys.executable)
    failure = try_it(wrap)
    if failure:
        return Plan(None, f"not root (euid {euid}) and `unshare -Urnm` did not work: {failure}")
    return Plan(wrap, None)


def _loopback_up() -> None:
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        ipr.link("set", index=1, state="up")


def _drop_dir(path: str) -> None:
    """Remove a namespace directory that pyroute2 bind-mounted on itself."""
    subprocess.run(["umount", "--lazy", path], check=False, capture_output=True)  # may not be
    os.rmdir(path)


def _check() -> int:
    """Inside the wrapper: can the fixtures make a namespace and a veth here?"""
    from pyroute2 import IPRoute
    from pyroute2 import netns as pr_netns
    _loopback_up()
    netns_dir = tempfile.mkdtemp(prefix="conformance-netns-")
    path = os.path.join(netns_dir, "check")
    try:
        with IPRoute(netns=path, flags=os.O_CREAT | os.O_EXCL) as ipr:
            ipr.link("add", ifname="c0", kind="veth", peer="c1")
    except Exception as exc:  # noqa: BLE001 (pyroute2 re-raises what its child raised)
        print(f"cannot make a network namespace with a veth: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        if os.path.exists(path):
            pr_netns.remove(path)
        _drop_dir(netns_dir)
    return 0


def _keep_going(signum, frame) -> None:
    """A handler that does nothing (not SIG_IGN, which pytest would inherit across exec)."""


def _inner(argv: list[str]) -> int:
    _loopback_up()
    scratch = tempfile.mkdtemp(prefix="conformance-rootless-")
    netns_dir = os.path.join(scratch, "netns")
    os.mkdir(netns_dir)
    # The mapped root is uid 0 here, so pytest would pick /tmp/pytest-of-root, which belongs to
    # the real root (an unmapped user here) when it exists: give pytest its own.
    env = {**os.environ, NETNS_DIR_ENV: netns_dir, "PYTEST_DEBUG_TEMPROOT": scratch}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        # The run sends its group SIGINT to stop it: pytest (default handlers again after
        # exec) tears down and exits; we wait for it and remove the directories below.
        signal.signal(sig, _keep_going)
    try:
        return subprocess.run(argv, check=False, env=env).returncode
    finally:
        try:
            _drop_dir(netns_dir)
        except OSError as exc:
            print(f"conformance rootless: namespace directory {netns_dir} not empty after the "
                  f"run: {exc}", file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)


def main(args: list[str]) -> int:
    if args[:1] == ["check"]:
        return _check()
    if args[:2] == ["inner", "--"] and len(args) > 2:
        return _inner(args[2:])
    print("usage: python -m conformance.targets.rootless check | inner -- ARGV...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
