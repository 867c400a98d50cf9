"""MSG_ZEROCOPY / SO_ZEROCOPY constants and error-queue reads (Linux).

Python's socket module lacks these names; values are from the headers named beside each.
"""
from __future__ import annotations

import socket

from conformance.abi import transcript

SO_ZEROCOPY = 60            # include/uapi/asm-generic/socket.h (x86, arm64; 0x4035 parisc, 0x3e sparc)
MSG_ZEROCOPY = 0x4000000    # include/linux/socket.h
MSG_ERRQUEUE = 0x2000       # include/linux/socket.h
SO_EE_ORIGIN_ZEROCOPY = 5   # include/uapi/linux/errqueue.h


def enable_zerocopy(sock: socket.socket) -> None:
    """setsockopt(SOL_SOCKET, SO_ZEROCOPY, 1)."""
    transcript.record("setsockopt", {"fd": sock.fileno(), "opt": "SO_ZEROCOPY", "val": 1},
                      lambda: sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1))


def read_error_queue(sock: socket.socket, bufsize: int = 64) -> tuple[bytes, list, int]:
    """One non-blocking recvmsg(MSG_ERRQUEUE); raises BlockingIOError when the queue is empty."""
    return transcript.record(
        "recvmsg", {"fd": sock.fileno(), "flags": "MSG_ERRQUEUE|MSG_DONTWAIT"},
        lambda: sock.recvmsg(bufsize, 1024, MSG_ERRQUEUE | socket.MSG_DONTWAIT)[:3])
