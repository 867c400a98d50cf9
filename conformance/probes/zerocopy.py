"""Probes for the MSG_ZEROCOPY suite and the sendfile2 / SPLICE_F_ZC RFC suite.

Present, absent or broken (conformance/probes/__init__.py). SO_ZEROCOPY on TCP (4.14), UDP (5.0)
and connectible AF_VSOCK (6.7) cannot be configured out once their family exists: on a kernel
that old or newer a refusal is a regression, answered Broken with the test that fails for it;
only an older release is evidence of absence. Families and drivers that a config option removes
are absent only on EAFNOSUPPORT / ENOENT with the config or module lists saying so.

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
import subprocess

from conformance import kconfig
from conformance.deadlines import CHILD_PROCESS, VSOCK_PROBE
from conformance.probes import Broken, older_than, probe

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
# The tests that fail when SO_ZEROCOPY is refused where it must be accepted.
SETUP_OK_TEST = "test_msg_zerocopy_available.py::test_so_zerocopy_is_accepted["
VSOCK_SETOPT_TEST = "test_msg_zerocopy_vsock.py::test_option_is_taken_before_a_transport_is_bound"


def _errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else str(exc)


def _zerocopy_refused(family: int, kind: int) -> str | None:
    """None when setsockopt(SO_ZEROCOPY, 1) is accepted on a new socket of this kind, else the
    errno name. Making the socket must work (the caller checked the family exists)."""
    from conformance.abi.zerocopy import SO_ZEROCOPY
    with socket.socket(family, kind) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        except OSError as exc:
            return _errname(exc)
    return None


def _built_in_zerocopy(family: int, kind: int, what: str, since: str, test: str):
    if why := older_than(since, f"SO_ZEROCOPY on {what}"):
        return why
    if refused := _zerocopy_refused(family, kind):
        return Broken(f"setsockopt(SO_ZEROCOPY, 1) on {what} failed with {refused}, although "
                      f"it is built in from {since}", test)
    return None


@probe("SO_ZEROCOPY")
def tcp_zerocopy():
    return _built_in_zerocopy(socket.AF_INET, socket.SOCK_STREAM, "TCP", "4.14", SETUP_OK_TEST)


@probe("UDP_ZEROCOPY")
def udp_zerocopy():
    # commit b5947e5d1e71 (udp: msg_zerocopy)
    return _built_in_zerocopy(socket.AF_INET, socket.SOCK_DGRAM, "UDP", "5.0", SETUP_OK_TEST)


def _vsock_family_absent() -> str | None:
    """Evidence that AF_VSOCK does not exist here, or None when a vsock socket opens."""
    if not hasattr(socket, "AF_VSOCK"):
        return "this Python has no socket.AF_VSOCK"
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    except OSError as exc:
        evidence = kconfig.absent_evidence("CONFIG_VSOCKETS", "vsock")
        if exc.errno != errno.EAFNOSUPPORT or evidence is None:
            raise  # refused although nothing says the kernel lacks it: an ERROR, not a skip
        return f"socket(AF_VSOCK) fails with EAFNOSUPPORT: {evidence}"
    return None


@probe("VSOCK")
def vsock() -> str | None:
    return _vsock_family_absent()


@probe("VSOCK_ZEROCOPY")
def vsock_zerocopy():
    if why := _vsock_family_absent():
        return why
    # The series 'vsock/virtio: continue MSG_ZEROCOPY support' (6.7).
    return _built_in_zerocopy(socket.AF_VSOCK, socket.SOCK_STREAM, "AF_VSOCK", "6.7",
                              VSOCK_SETOPT_TEST)


def _vsock_local_connect() -> str | None:
    """None when a stream connects to VMADDR_CID_LOCAL and reaches its listener, else what
    happened instead."""
    with (socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as listener,
          socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as client):
        listener.bind((socket.VMADDR_CID_ANY, VMADDR_PORT_ANY))
        listener.listen(1)
        client.setblocking(False)
        try:
            client.connect((VMADDR_CID_LOCAL, listener.getsockname()[1]))
        except BlockingIOError:
            if not select.select([], [client], [], VSOCK_PROBE)[1]:
                return f"no answer within {VSOCK_PROBE} s"
            if code := client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return errno.errorcode.get(code, str(code))
        except OSError as exc:
            return _errname(exc)
        if not select.select([listener], [], [], VSOCK_PROBE)[0]:
            return "a connection that never reached the local listener"
        listener.accept()[0].close()
    return None


@probe("VSOCK_LOOPBACK")
def vsock_loopback() -> str | None:
    if why := _vsock_family_absent():
        return why
    if evidence := kconfig.absent_evidence("CONFIG_VSOCKETS_LOOPBACK", "vsock_loopback"):
        return f"no vsock loopback transport: {evidence}"
    if why := _vsock_local_connect():
        raise RuntimeError(f"connecting to VMADDR_CID_LOCAL gave {why}, although nothing says "
                           f"the kernel lacks CONFIG_VSOCKETS_LOOPBACK (the vsock_loopback "
                           f"module may have failed to load)")
    return None


@probe("MEMLOCK_CHILD")
def memlock_child() -> str | None:
    """A child can both keep CAP_IPC_LOCK (root in the initial user namespace, where capable()
    looks) and drop it by becoming uid 65534."""
    if os.geteuid() != 0:
        return f"needs root to start children as uid 65534 (euid {os.geteuid()})"
    with open("/proc/self/uid_map") as f:
        mapping = f.read().split()
    if mapping[:3] != ["0", "0", "4294967295"]:
        return ("running in a user namespace (uid_map " + " ".join(mapping[:3]) + "): "
                "CAP_IPC_LOCK and uid 65534 of the initial namespace are out of reach")
    return None


@probe("RDS")
def rds() -> str | None:
    try:
        socket.socket(AF_RDS, socket.SOCK_SEQPACKET).close()
    except OSError as exc:
        if exc.errno != errno.EAFNOSUPPORT:
            raise
        state = kconfig.option("CONFIG_RDS")
        config = f"; {state.describe('CONFIG_RDS')}" if state else ""
        return (f"socket(PF_RDS) fails with EAFNOSUPPORT: family not supported (CONFIG_RDS "
                f"unset, or its module not loaded: distributions blacklist rds){config}")
    return None


def _open_tun() -> None:
    os.close(os.open("/dev/net/tun", os.O_RDWR))


@probe("TUN")
def tun() -> str | None:
    """/dev/net/tun opens. A kernel with CONFIG_TUN=m whose module is not loaded has no node
    (devtmpfs makes it when the misc device registers): as root the probe loads the module, as
    `ip tuntap` users would, and a node still missing then is an ERROR, not a skip."""
    try:
        _open_tun()
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return f"cannot open /dev/net/tun ({_errname(exc)}): needs CAP_NET_ADMIN"
        if exc.errno not in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise
        if evidence := kconfig.absent_evidence("CONFIG_TUN", "tun"):
            return f"cannot open /dev/net/tun ({_errname(exc)}): {evidence}"
        if os.geteuid() != 0:
            return (f"cannot open /dev/net/tun ({_errname(exc)}) and only root may load the tun "
                    f"module (euid {os.geteuid()})")
        subprocess.run(["modprobe", "tun"], check=True, timeout=CHILD_PROCESS,
                       capture_output=True)
        _open_tun()
    return None


@probe("OPTMEM_PER_NETNS")
def optmem_per_netns() -> str | None:
    from conformance.probes.netns import _netns_reason, scratch_netns
    if reason := _netns_reason():
        return f"needs a network namespace: {reason}"
    if why := older_than("6.8", "a per-namespace net.core.optmem_max (commit f5769faeec36)"):
        return why
    with scratch_netns() as ns:
        ns.call(lambda: os.close(os.open(OPTMEM_MAX, os.O_WRONLY)))  # raises: an ERROR
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


SPLICE_F_ZC_ENV = "CONFORMANCE_SPLICE_F_ZC"
SPLICE_F_ZC_OPTION = "--splice-f-zc"
# Set by conformance.fixtures.rfc_kernel from --splice-f-zc (a kernel carrying only the RFC's
# splice half); --sendfile2-nr declares the whole series.
declared_splice_f_zc = False


def rfc_declared() -> str | None:
    """How the user declared that the kernel carries the RFC, or None."""
    if sendfile2_nr() is not None:
        return f"{SENDFILE2_OPTION}={sendfile2_nr()}"
    if declared_splice_f_zc:
        return SPLICE_F_ZC_OPTION
    if os.environ.get(SPLICE_F_ZC_ENV, "").strip() in ("1", "yes", "true"):
        return f"{SPLICE_F_ZC_ENV}=1"
    return None


@probe("UPSTREAM_SPLICE_FLAGS")
def upstream_splice_flags() -> str | None:
    """splice(2)'s flag set is upstream's (SPLICE_F_ALL = 0xf) unless the user declared a
    kernel carrying the RFC, where SPLICE_F_ZC (0x10) is accepted by design: rows expecting
    EINVAL for 0x10 do not apply there. Only the user's declaration counts: a kernel that
    accepts 0x10 unasked still fails those rows."""
    how = rfc_declared()
    if how:
        return (f"the user declared ({how}) a kernel carrying {RFC_SERIES}: splice(2) accepts "
                f"SPLICE_F_ZC (0x10) there by design (LNX-RFC-SPLICE-F-ZC)")
    return None
