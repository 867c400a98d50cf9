"""Probes for the Linux splice(2) suite."""
from __future__ import annotations

import errno
import os

from conformance.probes import probe

DOMAINNAME = "/proc/sys/kernel/domainname"


@probe("SYSCTL_DOMAINNAME_WRITABLE")
def sysctl_domainname_writable() -> str | None:
    """Can this process open /proc/sys/kernel/domainname for writing? (Opening writes nothing.)"""
    try:
        fd = os.open(DOMAINNAME, os.O_WRONLY)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        return (f"cannot open {DOMAINNAME} for writing "
                f"({errno.errorcode[exc.errno]}: needs root, and /proc/sys mounted read-write)")
    os.close(fd)
    return None
