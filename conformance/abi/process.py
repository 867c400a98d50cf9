"""Process housekeeping the harness needs from the kernel (prctl)."""
from __future__ import annotations

import ctypes

from conformance.abi.libc import check, function

PR_SET_CHILD_SUBREAPER = 36  # include/uapi/linux/prctl.h

_prctl = function("prctl", ctypes.c_int, [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                          ctypes.c_ulong, ctypes.c_ulong])


def set_child_subreaper() -> None:
    """Orphaned descendants (a VM whose launcher died first) become our children, so we can
    reap them instead of leaving zombies to an init that may not reap."""
    check(_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
