"""Probes for the FreeBSD sendfile(2) suite. Off FreeBSD each answers with the OS it found."""
from __future__ import annotations

import errno
import os
import platform
import socket

from conformance.probes import probe


def _not_freebsd() -> str | None:
    system = platform.system()
    return None if system == "FreeBSD" else f"FreeBSD only (running {system})"


@probe("FREEBSD_SCTP")
def freebsd_sctp() -> str | None:
    """An SCTP one-to-one (SOCK_STREAM) socket can be created (sctp(4) is loaded)."""
    if reason := _not_freebsd():
        return reason
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError as exc:
        return (f"socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) failed with "
                f"{errno.errorcode.get(exc.errno, exc.errno)} (kldload sctp)")
    return None


@probe("CAPSICUM")
def capsicum() -> str | None:
    """cap_rights_limit(2) works (the kernel has options CAPABILITIES)."""
    if reason := _not_freebsd():
        return reason
    from conformance.abi.freebsd_sendfile import CAP_READ, cap_rights_limit
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        cap_rights_limit(fd, CAP_READ)
    except OSError as exc:
        return f"cap_rights_limit failed with {errno.errorcode.get(exc.errno, exc.errno)}"
    finally:
        os.close(fd)
    return None
