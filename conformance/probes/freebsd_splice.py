"""Probes for the FreeBSD SO_SPLICE suite.

SO_SPLICE: an unsplice (sp_fd -1) of a fresh TCP socket. A kernel with splicing answers ENOTCONN
(uipc_socket.c so_unsplice: the socket is not spliced); one without it falls through sosetopt's
default case to ENOPROTOOPT (getsockopt.2 HISTORY: first in FreeBSD 15.0, also merged to
stable/14). The release is read only to tell absent (before 15.0) from broken.
"""
from __future__ import annotations

import errno
import platform
import shutil
import socket
import subprocess
import tempfile

from conformance.probes import Broken, older_than, probe


def _errname(code: int | None) -> str:
    return errno.errorcode.get(code or 0, str(code))


def _not_freebsd() -> str | None:
    """These probes ask FreeBSD-only questions; elsewhere they answer with the OS."""
    system = platform.system()
    return None if system == "FreeBSD" else f"FreeBSD-only probe (running {system})"


# The test that fails when SO_SPLICE is refused on a release that has it built in.
SO_SPLICE_TEST = "test_so_splice_available.py::test_unsplice_of_a_fresh_socket_is_enotconn"


@probe("SO_SPLICE")
def so_splice():
    """Present, absent (a release before 15.0 answers ENOPROTOOPT) or broken (ENOPROTOOPT from
    15.0 on, where SO_SPLICE is always built in: test_so_splice_available.py fails for it).
    Any other errno raises: an ERROR of the tests that need SO_SPLICE, never a skip."""
    if reason := _not_freebsd():
        return reason
    from conformance.abi.so_splice import unsplice
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            unsplice(s)
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                return None
            if exc.errno != errno.ENOPROTOOPT:
                raise
            refused = "setsockopt(SOL_SOCKET, SO_SPLICE) failed with ENOPROTOOPT"
            if why := older_than("15.0", "SO_SPLICE"):
                return f"{refused}: {why}"
            return Broken(f"{refused} on FreeBSD {platform.release()}, where it is built in",
                          SO_SPLICE_TEST)
    raise AssertionError("unsplice of a fresh socket succeeded")  # the dedicated test fails too


@probe("IPPROTO_SCTP")
def ipproto_sctp() -> str | None:
    """An SCTP one-to-one (SOCK_STREAM) socket can be created (sctp.ko loaded or built in)."""
    if reason := _not_freebsd():
        return reason
    proto = getattr(socket, "IPPROTO_SCTP", 132)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto).close()
    except OSError as exc:
        return (f"socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) failed with {_errname(exc.errno)} "
                f"(load sctp.ko)")
    return None


@probe("KTRACE")
def ktrace() -> str | None:
    """ktrace(1) and kdump(1) are installed and the kernel has `options KTRACE`."""
    if reason := _not_freebsd():
        return reason
    for tool in ("ktrace", "kdump"):
        if shutil.which(tool) is None:
            return f"{tool}(1) not found in PATH"
    with tempfile.NamedTemporaryFile() as out:
        proc = subprocess.run(["ktrace", "-t", "c", "-f", out.name, "true"], check=False,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        return f"ktrace -t c true failed: {(proc.stderr or proc.stdout).strip()[:120]}"
    return None


@probe("PROCSTAT")
def procstat() -> str | None:
    """procstat(1) lists this process's threads with their wait channels."""
    if reason := _not_freebsd():
        return reason
    if shutil.which("procstat") is None:
        return "procstat(1) not found in PATH"
    return None


@probe("VIMAGE")
def vimage() -> str | None:
    """The kernel supports VNET jails (options VIMAGE: sysctl kern.features.vimage = 1)."""
    if reason := _not_freebsd():
        return reason
    proc = subprocess.run(["sysctl", "-n", "kern.features.vimage"], check=False,
                          capture_output=True, text=True)
    if proc.returncode != 0 or proc.stdout.strip() != "1":
        return "kernel without VNET jails (sysctl kern.features.vimage is not 1: options VIMAGE)"
    return None
