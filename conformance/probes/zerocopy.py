"""Probes for the MSG_ZEROCOPY suite and the sendfile2 / SPLICE_F_ZC RFC suite.

- "SO_ZEROCOPY": SO_ZEROCOPY is accepted on a TCP socket (4.14);
- "UDP_ZEROCOPY": SO_ZEROCOPY is accepted on a UDP socket (5.0, commit b5947e5d1e71);
- "VSOCK": AF_VSOCK sockets exist (CONFIG_VSOCKETS);
- "VSOCK_ZEROCOPY": SO_ZEROCOPY is accepted on an AF_VSOCK socket (6.7);
- "VSOCK_LOOPBACK": an AF_VSOCK stream connects to VMADDR_CID_LOCAL (CONFIG_VSOCKETS_LOOPBACK);
- "MEMLOCK_CHILD": children can run as root of the initial user namespace (CAP_IPC_LOCK) and
  as uid 65534 (none), for the RLIMIT_MEMLOCK cases;
- "RDS": PF_RDS sockets exist (CONFIG_RDS);
- "TUN": /dev/net/tun opens (CONFIG_TUN);
- "OPTMEM_PER_NETNS": net.core.optmem_max is writable inside a network namespace (6.8, commit
  f5769faeec36), so a test can lower it without touching the host;
- "SPLICE_F_ZC": splice(2) accepts flag 0x10, i.e. the kernel carries the unmerged 2025 RFC
  "Add ZC notifications to splice and sendfile"; upstream kernels answer EINVAL;
- "SENDFILE2_NR": the user named the RFC's sendfile2 syscall number (--sendfile2-nr=N or
  CONFORMANCE_SENDFILE2_NR=N). Nothing is ever called by default: the RFC's 467 is
  open_tree_attr upstream.
"""
from __future__ import annotations

import errno
import os
import select
import socket

from conformance.deadlines import VSOCK_PROBE
from conformance.probes import probe

SENDFILE2_ENV = "CONFORMANCE_SENDFILE2_NR"
SENDFILE2_OPTION = "--sendfile2-nr"
# Set from the command line by conformance.fixtures.zerocopy (pytest_configure); wins over the
# environment variable.
named_sendfile2_nr: int | None = None
RFC_SERIES = ("the unmerged RFC series 'Add ZC notifications to splice and sendfile' (Joe Damato, "
              "March 2025, lore 20250319001521.53249-1-jdamato@fastly.com)")
AF_RDS = 21                   # include/linux/socket.h
VMADDR_CID_LOCAL = 1          # include/uapi/linux/vm_sockets.h
VMADDR_PORT_ANY = 0xFFFFFFFF
OPTMEM_MAX = "/proc/sys/net/core/optmem_max"


def _errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else str(exc)


def _zerocopy_refused(family: int, kind: int) -> str | None:
    """None when setsockopt(SO_ZEROCOPY, 1) is accepted on a new socket of this kind, else the
    errno name (or why no such socket could be made)."""
    from conformance.abi.zerocopy import SO_ZEROCOPY
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:
        return f"no such socket ({_errname(exc)})"
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        except OSError as exc:
            return _errname(exc)
    return None


@probe("SO_ZEROCOPY")
def tcp_zerocopy() -> str | None:
    if why := _zerocopy_refused(socket.AF_INET, socket.SOCK_STREAM):
        return f"setsockopt(SO_ZEROCOPY) on TCP failed with {why} (MSG_ZEROCOPY arrived in 4.14)"
    return None


@probe("UDP_ZEROCOPY")
def udp_zerocopy() -> str | None:
    if why := _zerocopy_refused(socket.AF_INET, socket.SOCK_DGRAM):
        return (f"setsockopt(SO_ZEROCOPY) on UDP failed with {why} "
                f"(UDP MSG_ZEROCOPY arrived in 5.0, commit b5947e5d1e71)")
    return None


@probe("VSOCK")
def vsock() -> str | None:
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    except (OSError, AttributeError) as exc:
        return f"no AF_VSOCK sockets ({exc}): kernel without CONFIG_VSOCKETS"
    return None


@probe("VSOCK_ZEROCOPY")
def vsock_zerocopy() -> str | None:
    if not hasattr(socket, "AF_VSOCK"):
        return "no AF_VSOCK in this Python"
    if why := _zerocopy_refused(socket.AF_VSOCK, socket.SOCK_STREAM):
        return (f"setsockopt(SO_ZEROCOPY) on AF_VSOCK failed with {why} (VSOCK MSG_ZEROCOPY "
                f"arrived in 6.7 with the series 'vsock/virtio: continue MSG_ZEROCOPY support')")
    return None


@probe("VSOCK_LOOPBACK")
def vsock_loopback() -> str | None:
    try:
        listener = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    except (OSError, AttributeError) as exc:
        return f"no AF_VSOCK sockets ({exc}): kernel without CONFIG_VSOCKETS"
    with listener, socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as client:
        listener.bind((socket.VMADDR_CID_ANY, VMADDR_PORT_ANY))
        listener.listen(1)
        client.setblocking(False)
        why = "no answer"
        try:
            client.connect((VMADDR_CID_LOCAL, listener.getsockname()[1]))
            why = ""
        except BlockingIOError:
            if select.select([], [client], [], VSOCK_PROBE)[1]:
                code = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                why = errno.errorcode.get(code, str(code)) if code else ""
            else:
                why = f"no answer within {VSOCK_PROBE} s"
        except OSError as exc:
            why = _errname(exc)
        if not why:
            if select.select([listener], [], [], VSOCK_PROBE)[0]:
                listener.accept()[0].close()
                return None
            why = "a connection that never reached the local listener"
    return (f"no vsock loopback transport: connecting to VMADDR_CID_LOCAL gave {why} "
            f"(needs CONFIG_VSOCKETS_LOOPBACK / the vsock_loopback module)")


@probe("MEMLOCK_CHILD")
def memlock_child() -> str | None:
    """A child can both keep CAP_IPC_LOCK (root in the initial user namespace, where capable()
    looks) and drop it by becoming uid 65534."""
    if os.geteuid() != 0:
        return f"needs root to start children as uid 65534 (euid {os.geteuid()})"
    try:
        with open("/proc/self/uid_map") as f:
            mapping = f.read().split()
    except OSError as exc:
        return f"cannot read /proc/self/uid_map ({_errname(exc)})"
    if mapping[:3] != ["0", "0", "4294967295"]:
        return ("running in a user namespace (uid_map " + " ".join(mapping[:3]) + "): "
                "CAP_IPC_LOCK and uid 65534 of the initial namespace are out of reach")
    return None


@probe("RDS")
def rds() -> str | None:
    try:
        socket.socket(AF_RDS, socket.SOCK_SEQPACKET).close()
    except OSError as exc:
        return f"no PF_RDS sockets ({_errname(exc)}): kernel without CONFIG_RDS or its module"
    return None


@probe("TUN")
def tun() -> str | None:
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR))
    except OSError as exc:
        return (f"cannot open /dev/net/tun ({_errname(exc)}): no tun device (CONFIG_TUN "
                f"not built, the tun module not loaded, or no /dev/net/tun node)")
    return None


@probe("OPTMEM_PER_NETNS")
def optmem_per_netns() -> str | None:
    from conformance.probes.netns import _netns_reason, scratch_netns
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"

    def writable() -> str | None:
        try:
            os.close(os.open(OPTMEM_MAX, os.O_WRONLY))
        except OSError as exc:
            return _errname(exc)
        return None

    with scratch_netns() as ns:
        if why := ns.call(writable):
            return (f"{OPTMEM_MAX} is not writable inside a network namespace ({why}): "
                    f"net.core.optmem_max became per-namespace in 6.8 (commit f5769faeec36)")
    return None


@probe("SPLICE_F_ZC")
def splice_f_zc() -> str | None:
    from conformance.abi.splice import splice
    from conformance.abi.zerocopy import SPLICE_F_ZC
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.write(w, b"x")
        splice(r, None, null, None, 1, SPLICE_F_ZC)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return (f"splice(2) rejects SPLICE_F_ZC ({SPLICE_F_ZC:#x}) with EINVAL: this "
                    f"kernel does not carry {RFC_SERIES}")
        return f"splice(2) with SPLICE_F_ZC failed with {_errname(exc)}"
    finally:
        for fd in (r, w, null):
            os.close(fd)
    return None


def sendfile2_nr() -> int | None:
    """The sendfile2 syscall number the user named (option first, then environment), or None."""
    if named_sendfile2_nr is not None:
        return named_sendfile2_nr
    text = os.environ.get(SENDFILE2_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@probe("SENDFILE2_NR")
def sendfile2_named() -> str | None:
    text = os.environ.get(SENDFILE2_ENV, "").strip()
    if named_sendfile2_nr is None and text and not (text.isdigit() and int(text) > 0):
        return f"{SENDFILE2_ENV}={text!r} is not a positive syscall number"
    if sendfile2_nr() is None:
        return (f"no sendfile2 syscall number named: pass {SENDFILE2_OPTION}=N or set "
                f"{SENDFILE2_ENV}=N for a kernel carrying {RFC_SERIES}; none is assumed, since the "
                f"RFC's 467 is open_tree_attr upstream")
    return None
