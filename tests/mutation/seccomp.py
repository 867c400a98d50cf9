"""A seccomp filter built with libseccomp (libseccomp.so.2, through ctypes), for the mutation runs.

Debian's python3-seccomp is built for the system python3 and this venv's interpreter is not that
one; libseccomp2 itself is on every Debian and Ubuntu system (systemd and apt depend on it), so
the few calls needed are declared here: seccomp_init, seccomp_rule_add_array, seccomp_attr_set,
seccomp_load. This is harness code (tests/), not a suite binding.

A rule is (syscall name, action, argument conditions); a condition is (arg index, mask, value)
and matches when (arg & mask) == value (SCMP_CMP_MASKED_EQ, so a 32-bit int argument is compared
on its low 32 bits only, whatever the upper half of the register holds).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import NamedTuple

SCMP_ACT_ALLOW = 0x7FFF0000          # include/seccomp.h (libseccomp)
SCMP_CMP_MASKED_EQ = 7               # enum scmp_compare
SCMP_FLTATR_CTL_NNP = 3              # enum scmp_filter_attr
INT_MASK = 0xFFFFFFFF


def act_errno(err: int) -> int:
    """SCMP_ACT_ERRNO(err): the syscall is not run and fails with err."""
    return 0x00050000 | (err & 0xFFFF)


def act_trace(tag: int) -> int:
    """SCMP_ACT_TRACE(tag): a ptrace tracer is stopped (PTRACE_EVENT_SECCOMP, message tag)."""
    return 0x7FF00000 | (tag & 0xFFFF)


class Cond(NamedTuple):
    arg: int
    mask: int
    value: int


class Rule(NamedTuple):
    syscall: str
    action: int
    conds: tuple[Cond, ...] = ()


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype, lib.seccomp_init.argtypes = ctypes.c_void_p, [ctypes.c_uint32]
    lib.seccomp_release.restype, lib.seccomp_release.argtypes = None, [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_attr_set.restype = ctypes.c_int
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.restype, lib.seccomp_load.argtypes = ctypes.c_int, [ctypes.c_void_p]
    return lib


def _ok(ret: int, what: str) -> None:
    if ret < 0:  # libseccomp returns -errno
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")


def load(rules: list[Rule]) -> None:
    """Install a filter on the calling thread: every rule's action where it matches, everything
    else allowed. Inherited across fork and execve. As root the no_new_privs bit is left clear
    (CAP_SYS_ADMIN suffices), so setuid programs the suite runs behave as usual."""
    lib = _lib()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        if os.geteuid() == 0:
            _ok(lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set(NNP, 0)")
        for rule in rules:
            nr = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if nr < 0:
                raise OSError(f"libseccomp does not know the syscall {rule.syscall!r}")
            conds = (_ArgCmp * max(len(rule.conds), 1))(
                *(_ArgCmp(c.arg, SCMP_CMP_MASKED_EQ, c.mask, c.value) for c in rule.conds))
            _ok(lib.seccomp_rule_add_array(ctx, rule.action, nr, len(rule.conds), conds),
                f"seccomp_rule_add_array({rule})")
        _ok(lib.seccomp_load(ctx), "seccomp_load")
    finally:
        lib.seccomp_release(ctx)
