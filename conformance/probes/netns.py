"""Probes for the network fixtures: each builds what the fixtures will build, in a scratch
namespace removed before it returns, and names what is missing when that fails.

- "netns": a named network namespace can be made (root or CAP_SYS_ADMIN, CONFIG_NET_NS, a
  writable namespace directory). When not root, the reason repeats why `conformance run` could
  not re-run the suite in a user namespace ($CONFORMANCE_ROOTLESS, set by the host target).
- "veth", "dummy": the link type exists (CONFIG_VETH, CONFIG_DUMMY).
- "scapy-capture": scapy imports and an AF_PACKET socket opens in a namespace (CONFIG_PACKET,
  CAP_NET_RAW).
"""
from __future__ import annotations

import errno
import os
import platform
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.probes import probe

ROOTLESS_ENV = "CONFORMANCE_ROOTLESS"


def _errname(exc: BaseException) -> str:
    code = getattr(exc, "errno", None) or getattr(exc, "code", None)
    return errno.errorcode.get(code, str(exc)) if isinstance(code, int) else str(exc)


@contextmanager
def scratch_netns() -> Iterator:
    """A throwaway Netns with its own Ledger; raises if its cleanup leaves anything held."""
    from conformance.fixtures.netns import Cleanup, Ledger, Names, Netns
    ledger = Ledger(Names(secrets.token_hex(3), "probe"))
    cleanup = Cleanup(ledger, "probe")
    try:
        yield Netns(cleanup, "p")
    finally:
        cleanup.close()
    if ledger.held:
        raise RuntimeError(f"probe left {sorted(ledger.held)}")


def _netns_reason() -> str | None:
    if platform.system() != "Linux":
        return f"network namespaces are Linux-only (running {platform.system()})"
    if not os.path.exists("/proc/self/ns/net"):
        return "kernel without network namespaces (no /proc/self/ns/net; CONFIG_NET_NS)"
    try:
        import pyroute2  # noqa: F401
    except ImportError as exc:
        return f"pyroute2 is not installed ({exc})"
    try:
        with scratch_netns():
            return None
    except Exception as exc:  # noqa: BLE001 (pyroute2 re-raises what its child raised)
        code = getattr(exc, "errno", None)
        if code in (errno.EPERM, errno.EACCES):
            why = (f"{_errname(exc)}: needs root or CAP_SYS_ADMIN (euid {os.geteuid()}), and a "
                   f"writable namespace directory")
            rootless = os.environ.get(ROOTLESS_ENV)
            return f"cannot create a network namespace ({why})" + (
                f"; rootless re-run: {rootless}" if rootless else "")
        if code == errno.EINVAL:
            return "unshare(CLONE_NEWNET) fails with EINVAL: kernel without CONFIG_NET_NS"
        return f"cannot create a network namespace: {type(exc).__name__}: {exc}"


@probe("netns")
def netns_probe() -> str | None:
    return _netns_reason()


def _link_kind_reason(kind: str, config: str) -> str | None:
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"
    spec = {"peer": "p1"} if kind == "veth" else {}
    with scratch_netns() as ns:
        try:
            ns.ipr.link("add", ifname="p0", kind=kind, **spec)
        except Exception as exc:  # noqa: BLE001 (NetlinkError is not an OSError)
            return (f"cannot add a {kind} link ({_errname(exc)}): kernel without {config} "
                    f"or its module")
        ns.ipr.link("del", index=ns.ipr.link_lookup(ifname="p0")[0])
    return None


@probe("veth")
def veth_probe() -> str | None:
    return _link_kind_reason("veth", "CONFIG_VETH")


@probe("dummy")
def dummy_probe() -> str | None:
    return _link_kind_reason("dummy", "CONFIG_DUMMY")


@probe("scapy-capture")
def scapy_capture_probe() -> str | None:
    try:
        import scapy.layers.inet
        import scapy.sendrecv  # noqa: F401
    except ImportError as exc:
        return f"scapy is not installed ({exc})"
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"
    with scratch_netns() as ns:
        try:
            ns.call(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        except OSError as exc:
            if exc.errno == errno.EPERM:
                return "cannot open an AF_PACKET socket (EPERM): needs CAP_NET_RAW"
            return f"cannot open an AF_PACKET socket ({_errname(exc)}): kernel without CONFIG_PACKET"
    return None
