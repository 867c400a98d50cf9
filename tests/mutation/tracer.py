"""Run a command under one kernel lie: a seccomp filter, and a ptrace tracer where the lie needs
to see or change a syscall's result (x86_64).

    python -m tests.mutation exec LIE -- COMMAND ARGS...

The child installs the lie's seccomp filter and execs COMMAND; every process and thread it
starts inherits the filter and is traced. Rules with SCMP_ACT_ERRNO fail their syscall in the
kernel without any stop. Rules with SCMP_ACT_TRACE stop the caller (PTRACE_EVENT_SECCOMP) at
the few syscalls the lie is about, and nowhere else, so the tracer costs little; there the lie's
on_entry(tid, args) decides: leave the call alone, skip it and return a value (Skip), or let it
run and rewrite its result at syscall exit (Rewrite). strace's -e inject= can do the Skip part
but cannot make a change depend on what the kernel really returned (an errno swap, a count
claimed short) or on the socket's protocol, hence this small tracer.

A lie may also rewrite the kernel's published config (Lie.config): the child then unshares its
mount namespace (private propagation, nothing leaks to the host) and bind-mounts an edited copy
over /proc/config.gz, or /boot/config-<release>, so an absent feature comes with the evidence a
kernel built without it would publish.

Exit status: the command's (128 + signal when killed). If the tracer itself is killed, the
traced processes die with it (PTRACE_O_EXITKILL).
"""
from __future__ import annotations

import ctypes
import os
import platform
import signal
import sys
import traceback
from typing import NamedTuple

from . import seccomp

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_SECCOMP = 7
WALL = 0x40000000
OPTIONS = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)
U64 = (1 << 64) - 1


class Regs(ctypes.Structure):
    """struct user_regs_struct (arch/x86/include/asm/user_64.h)."""
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds",
        "es", "fs", "gs")]

    def args(self) -> tuple[int, ...]:
        return (self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9)


class Skip(NamedTuple):
    """Do not run the syscall; it returns value (a negative value is -errno)."""
    value: int


class Rewrite(NamedTuple):
    """Run the syscall, then replace its result r (negative: -errno) by fn(r)."""
    fn: object


def signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def int32(v: int) -> int:
    """An int argument as the callee sees it (the low half of the register)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(request: int, pid: int, addr: int = 0, data: object = 0) -> int:
    ret = _ptrace(request, pid, addr, data)
    if ret == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, f"ptrace({request:#x}, {pid}): {os.strerror(err)}")
    return ret


def _resume(request: int, tid: int, sig: int = 0) -> None:
    try:
        ptrace(request, tid, 0, sig)
    except ProcessLookupError:
        pass  # killed meanwhile (SIGKILL needs no tracer); its exit is reported by waitpid


CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
_mount = _libc.mount
_mount.restype = ctypes.c_int
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                   ctypes.c_void_p]
_unshare = _libc.unshare
_unshare.restype, _unshare.argtypes = ctypes.c_int, [ctypes.c_int]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def edited_config(text: str, config: dict[str, str | None]) -> str:
    """A kernel .config with each option of config set to its value (None: not set)."""
    lines, done = [], set()
    for line in text.splitlines():
        key = line[2:].split(" ")[0] if line.startswith("# CONFIG_") else line.split("=")[0]
        if key in config:
            value, _ = config[key], done.add(key)
            line = f"{key}={value}" if value is not None else f"# {key} is not set"
        lines.append(line)
    lines += [f"{k}={v}" if v is not None else f"# {k} is not set"
              for k, v in config.items() if k not in done]
    return "\n".join(lines) + "\n"


def publish_config(config: dict[str, str | None]) -> str:
    """In a new private mount namespace, bind-mount an edited copy of the running kernel's
    config over the one the kernel publishes; returns the path covered."""
    import gzip
    import tempfile
    for path in ("/proc/config.gz", f"/boot/config-{platform.release()}"):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        gz = path.endswith(".gz")
        text = edited_config((gzip.decompress(data) if gz else data).decode(errors="replace"),
                             config)
        fd, copy = tempfile.mkstemp(prefix="mutation-config-")
        with os.fdopen(fd, "wb") as f:
            f.write(gzip.compress(text.encode()) if gz else text.encode())
        _check(_unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount(/, MS_PRIVATE)")
        _check(_mount(copy.encode(), path.encode(), None, MS_BIND, None), f"bind {path}")
        os.unlink(copy)  # the mount keeps it
        return path
    raise OSError("no kernel config readable to rewrite (/proc/config.gz, /boot/config-*)")


def trace(argv: list[str], rules: list[seccomp.Rule], on_entry,
          config: dict[str, str | None] | None = None) -> int:
    """Run argv under the filter (and with config published, when given); on_entry(tid, tag,
    args) -> None | Skip | Rewrite at each SCMP_ACT_TRACE stop. Returns argv's exit status."""
    if platform.machine() != "x86_64":
        raise OSError(f"the mutation tracer knows x86_64 registers only, not {platform.machine()}")
    pid = os.fork()
    if pid == 0:
        try:
            ptrace(PTRACE_TRACEME, 0)
            os.kill(os.getpid(), signal.SIGSTOP)
            if config:
                publish_config(config)
            seccomp.load(rules)
            os.execvp(argv[0], argv)
        except OSError:
            traceback.print_exc()
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, WALL)
    if not os.WIFSTOPPED(status):
        return os.waitstatus_to_exitcode(status)
    ptrace(PTRACE_SETOPTIONS, pid, 0, OPTIONS)
    _resume(PTRACE_CONT, pid)
    seen: set[int] = {pid}           # tracees whose first stop (the attach SIGSTOP) was consumed
    pending: dict[int, object] = {}  # tid -> Skip | Rewrite to apply at its syscall-exit stop
    msg = ctypes.c_ulong()
    while True:
        try:
            tid, status = os.waitpid(-1, WALL)
        except ChildProcessError:
            return 0
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            seen.discard(tid)
            pending.pop(tid, None)
            if tid == pid:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
                    128 + os.WTERMSIG(status)
            continue
        sig, event = os.WSTOPSIG(status), status >> 16
        if tid not in seen:
            seen.add(tid)
            if sig == signal.SIGSTOP:  # a new thread's or child's attach stop
                _resume(PTRACE_CONT, tid)
                continue
        try:
            if sig == signal.SIGTRAP and event == PTRACE_EVENT_SECCOMP:
                ptrace(PTRACE_GETEVENTMSG, tid, 0, ctypes.byref(msg))
                regs = Regs()
                ptrace(PTRACE_GETREGS, tid, 0, ctypes.byref(regs))
                action = on_entry(tid, msg.value, regs.args())
                if action is None:
                    _resume(PTRACE_CONT, tid)
                    continue
                if isinstance(action, Skip):
                    regs.orig_rax = U64  # syscall -1: the kernel runs nothing
                    ptrace(PTRACE_SETREGS, tid, 0, ctypes.byref(regs))
                pending[tid] = action
                _resume(PTRACE_SYSCALL, tid)
            elif sig == signal.SIGTRAP | 0x80:  # syscall-exit stop
                action = pending.pop(tid, None)
                if action is not None:
                    regs = Regs()
                    ptrace(PTRACE_GETREGS, tid, 0, ctypes.byref(regs))
                    value = action.value if isinstance(action, Skip) else action.fn(signed(regs.rax))
                    regs.rax = value & U64
                    ptrace(PTRACE_SETREGS, tid, 0, ctypes.byref(regs))
                _resume(PTRACE_CONT, tid)
            elif sig == signal.SIGTRAP and event:  # fork, clone, exec, ... events
                _resume(PTRACE_CONT, tid)
            else:  # a signal for the tracee: deliver it
                _resume(PTRACE_CONT, tid, sig)
        except ProcessLookupError:
            pending.pop(tid, None)


def main(argv: list[str]) -> int:
    """python -m tests.mutation exec LIE -- COMMAND ARGS..."""
    from .lies import LIES
    if len(argv) < 3 or argv[1] != "--" or argv[0] not in LIES:
        print("usage: python -m tests.mutation exec LIE -- COMMAND ARGS...\nlies: "
              + ", ".join(n for n, lie in LIES.items() if lie.rules), file=sys.stderr)
        return 2
    lie = LIES[argv[0]]
    return trace(argv[2:], list(lie.rules), lie.on_entry or (lambda tid, tag, a: None),
                 dict(lie.config))
