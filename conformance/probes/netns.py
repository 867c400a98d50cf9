"""Probes for the network fixtures: each builds what the fixtures will build, in a scratch
namespace removed before it returns, and names what is missing when that fails.

- "netns": a named network namespace can be made (root or CAP_SYS_ADMIN, CONFIG_NET_NS, a
  writable namespace directory). When not root, the reason repeats why `conformance run` could
  not re-run the suite in a user namespace ($CONFORMANCE_ROOTLESS, set by the host target).
- "veth", "dummy": the link type exists (CONFIG_VETH, CONFIG_DUMMY);
- "sink-device": a dummy or, failing that, an ifb link (CONFIG_IFB) can be made;
- "scapy-capture": scapy imports and an AF_PACKET socket opens in a namespace (CONFIG_PACKET,
  CAP_NET_RAW).
Absent only with evidence (the config or the module lists); any other failure is an ERROR.
"""
from __future__ import annotations

import errno
import functools
import os
import platform
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from conformance import kconfig
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


CAP_SYS_ADMIN = 21   # include/uapi/linux/capability.h


def _has_cap_sys_admin() -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def _netlink_error():
    from pyroute2.netlink.exceptions import NetlinkError
    return NetlinkError


def _netns_reason() -> str | None:
    """Evidence that no network namespace can be made here, or None when one can. A refusal
    with CAP_SYS_ADMIN held, or any other failure, raises: an ERROR, never a skip."""
    if platform.system() != "Linux":
        return f"network namespaces are Linux-only (running {platform.system()})"
    if not os.path.exists("/proc/self/ns/net"):
        return "kernel without network namespaces (no /proc/self/ns/net; CONFIG_NET_NS)"
    try:
        import pyroute2  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"pyroute2, a dependency of the suite, does not import: {exc}") from exc
    try:
        with scratch_netns():
            return None
    except (OSError, _netlink_error()) as exc:  # pyroute2 re-raises what its child raised
        code = getattr(exc, "errno", None) or getattr(exc, "code", None)
        if code in (errno.EPERM, errno.EACCES) and not _has_cap_sys_admin():
            why = f"{_errname(exc)}: needs root or CAP_SYS_ADMIN (euid {os.geteuid()})"
            rootless = os.environ.get(ROOTLESS_ENV)
            return f"cannot create a network namespace ({why})" + (
                f"; rootless re-run: {rootless}" if rootless else "")
        if code == errno.EINVAL and (evidence := kconfig.absent_evidence("CONFIG_NET_NS")):
            return f"unshare(CLONE_NEWNET) fails with EINVAL: {evidence}"
        raise


@probe("netns")
def netns_probe() -> str | None:
    return _netns_reason()


def _link_kind_reason(kind: str, config: str, module: str) -> str | None:
    """Evidence that links of this kind cannot exist here: rtnetlink answers EOPNOTSUPP for an
    unknown kind (after trying to load its module), and the config or the module lists agree.
    Any other failure raises."""
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"
    spec = {"peer": "p1"} if kind == "veth" else {}
    with scratch_netns() as ns:
        try:
            ns.ipr.link("add", ifname="p0", kind=kind, **spec)
        except _netlink_error() as exc:
            evidence = kconfig.absent_evidence(config, module)
            if exc.code != errno.EOPNOTSUPP or evidence is None:
                raise
            return f"cannot add a {kind} link ({_errname(exc)}): {evidence}"
        ns.ipr.link("del", index=ns.ipr.link_lookup(ifname="p0")[0])
    return None


@probe("veth")
def veth_probe() -> str | None:
    return _link_kind_reason("veth", "CONFIG_VETH", "veth")


@probe("dummy")
def dummy_probe() -> str | None:
    return _link_kind_reason("dummy", "CONFIG_DUMMY", "dummy")


@functools.cache
def _sink() -> tuple[str | None, tuple[str, ...]]:
    """The first link kind that frees what it transmits (dummy, else ifb), and why each kind
    tried before it is absent."""
    absent: list[str] = []
    for kind, config in (("dummy", "CONFIG_DUMMY"), ("ifb", "CONFIG_IFB")):
        if (why := _link_kind_reason(kind, config, kind)) is None:
            return kind, tuple(absent)
        absent.append(why)
    return None, tuple(absent)


def sink_kind() -> str | None:
    """The link kind the sink_link fixture uses: "dummy", else "ifb", else None."""
    return _sink()[0]


@probe("sink-device")
def sink_device_probe() -> str | None:
    """A device that frees what it transmits (dummy or ifb) for zerocopy egress tests."""
    kind, absent = _sink()
    return None if kind else "no device that frees what it transmits: " + "; ".join(absent)


@probe("scapy-capture")
def scapy_capture_probe() -> str | None:
    try:
        import scapy.layers.inet
        import scapy.sendrecv  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"scapy, a dependency of the suite, does not import: {exc}") from exc
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"
    with scratch_netns() as ns:
        try:
            ns.call(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        except OSError as exc:
            if exc.errno == errno.EPERM:
                return "cannot open an AF_PACKET socket (EPERM): needs CAP_NET_RAW"
            evidence = kconfig.absent_evidence("CONFIG_PACKET", "af_packet")
            if exc.errno != errno.EAFNOSUPPORT or evidence is None:
                raise
            return f"cannot open an AF_PACKET socket (EAFNOSUPPORT): {evidence}"
    return None
