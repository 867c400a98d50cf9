"""Probes for Linux socket features."""
from __future__ import annotations

import errno
import socket

from conformance.probes import probe


@probe("SO_ZEROCOPY")
def so_zerocopy() -> str | None:
    from conformance.abi.zerocopy import SO_ZEROCOPY
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        except OSError as exc:
            return (f"setsockopt(SO_ZEROCOPY) on TCP failed with "
                    f"{errno.errorcode.get(exc.errno, exc.errno)}")
    return None
