"""The kernel lies of the mutation self-test: what each one does, how it is injected, which suite
files it is tried against, and what the suite must answer.

kind "regression": at least one test must fail (not by the harness's per-test timeout);
must_fail names tests (function names, any parameters) that must all fail, and then every other
test whose verdict changed must be skipped with a reason naming one of them.
kind "absent": a feature the kernel's config can remove; the tests that change must be skipped
with a reason naming skip_names (the config option), and nothing may fail.
kind "allowed": behaviour the contract permits although kernels rarely show it; no test may
fail (a failure is a false alarm of the suite).
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.abi.errqueue import (
    RECVERR_NAMES,
    SO_EE_CODE_ZEROCOPY_COPIED,
    SO_EE_ORIGIN_ZEROCOPY,
    SOCK_EE,
    ExtendedErr,
)

from .seccomp import INT_MASK, Cond, Rule, act_errno, act_trace
from .tracer import Rewrite, Skip, int32

SOL_SOCKET = 1              # include/uapi/asm-generic/socket.h
SO_ZEROCOPY = 60
SPLICE_F_NONBLOCK = 0x02    # include/uapi/linux/splice.h
MSG_ERRQUEUE = 0x2000       # include/linux/socket.h
AF_VSOCK = 40              # include/linux/socket.h


# --- binding-level lies: one stream per socket over the error-queue reads -----------------------

class Msg:
    """One error-queue read as the suite receives it: its control messages, and how to rebuild
    the caller's return value (recvmsg tuple or ErrRead) from edited ones."""

    def __init__(self, anc: list, rebuild: Callable[[list], object]) -> None:
        self.anc, self._rebuild = anc, rebuild

    def zc(self) -> ExtendedErr | None:
        for level, kind, data in self.anc:
            if (level, kind) in RECVERR_NAMES and len(data) >= SOCK_EE.size:
                ee = ExtendedErr.unpack(data)
                if ee.origin == SO_EE_ORIGIN_ZEROCOPY:
                    return ee
        return None

    def edited(self, **fields: int) -> Msg:
        """The same read with the zerocopy sock_extended_err's fields replaced."""
        anc = []
        for level, kind, data in self.anc:
            if (level, kind) in RECVERR_NAMES and len(data) >= SOCK_EE.size:
                ee = ExtendedErr.unpack(data)
                if ee.origin == SO_EE_ORIGIN_ZEROCOPY:
                    data = SOCK_EE.pack(*ee._replace(**fields)) + bytes(data[SOCK_EE.size:])
            anc.append((level, kind, data))
        return Msg(anc, self._rebuild)

    def result(self) -> object:
        return self._rebuild(self.anc)


Pull = Callable[[], Msg]   # the next real read; raises BlockingIOError when the queue is empty


class Stream:
    """What one socket's error queue returns under a lie; the default tells the truth."""

    def next(self, pull: Pull) -> Msg:
        return pull()


class Missing(Stream):
    """The first completion of each socket is never notified."""
    dropped = False

    def next(self, pull: Pull) -> Msg:
        m = pull()
        if not self.dropped and m.zc():
            self.dropped = True
            m = pull()
        return m


class Never(Stream):
    """No zerocopy completion is ever notified (other error-queue messages pass)."""

    def next(self, pull: Pull) -> Msg:
        while (m := pull()).zc():
            pass
        return m


class Duplicated(Stream):
    """Every notification is queued twice."""

    def __init__(self) -> None:
        self.again: list[Msg] = []

    def next(self, pull: Pull) -> Msg:
        if self.again:
            return self.again.pop()
        m = pull()
        if m.zc():
            self.again.append(m)
        return m


class FirstPair(Stream):
    """Lies about the first two notifications of a socket: takes the first zerocopy one and,
    when it is queued, the one after it (None otherwise), and hands both to pair(); whatever
    pair() leaves in self.after is delivered next."""
    done = False

    def __init__(self) -> None:
        self.after: list[Msg] = []

    def next(self, pull: Pull) -> Msg:
        if self.after:
            return self.after.pop()
        m = pull()
        if self.done or not m.zc():
            return m
        self.done = True
        try:
            second = pull()
        except BlockingIOError:
            second = None
        return self.pair(m, second)

    def pair(self, first: Msg, second: Msg | None) -> Msg:
        raise NotImplementedError


class MergedOverreach(FirstPair):
    """The first two notifications of a socket are merged into one range whose upper bound is
    one past the second's (an off-by-one merge); with one completion queued, that one
    overreaches alone. The ids claimed are then either notified twice or never sent."""

    def pair(self, first: Msg, second: Msg | None) -> Msg:
        hi = first.zc().data
        if second is not None:
            if (ee2 := second.zc()) and ee2.info == (hi + 1) & 0xFFFFFFFF:
                hi = ee2.data
            else:
                self.after.append(second)
        return first.edited(data=(hi + 1) & 0xFFFFFFFF)


class OutOfOrder(FirstPair):
    """The first notification of a socket is delivered after the second (when two are queued)."""

    def pair(self, first: Msg, second: Msg | None) -> Msg:
        if second is None:
            return first
        self.after.append(first)
        return second


class Code(Stream):
    """Every zerocopy notification carries the wrong SO_EE_CODE_ZEROCOPY_COPIED bit."""

    def __init__(self, copied: bool) -> None:
        self.copied = copied

    def next(self, pull: Pull) -> Msg:
        m = pull()
        ee = m.zc()
        if ee is None:
            return m
        code = (ee.code | SO_EE_CODE_ZEROCOPY_COPIED if self.copied
                else ee.code & ~SO_EE_CODE_ZEROCOPY_COPIED)
        return m.edited(code=code)


# --- kernel-level lies: decisions taken by the tracer at a seccomp stop -------------------------

def _fd_open(tid: int, fd: int) -> bool:
    return fd >= 0 and os.path.lexists(f"/proc/{tid}/fd/{fd}")


def ebadf_as_einval(tid: int, tag: int, args: tuple[int, ...]) -> Rewrite | None:
    """sendfile(out_fd, in_fd, ...) with in_fd not open: EBADF becomes EINVAL."""
    if _fd_open(tid, int32(args[1])):
        return None
    return Rewrite(lambda r: -errno.EINVAL if r == -errno.EBADF else r)


def swap_espipe_einval(tid: int, tag: int, args: tuple[int, ...]) -> Rewrite:
    swap = {-errno.ESPIPE: -errno.EINVAL, -errno.EINVAL: -errno.ESPIPE}
    return Rewrite(lambda r: swap.get(r, r))


def claim_half(tid: int, tag: int, args: tuple[int, ...]) -> Rewrite:
    """The data moves, the count returned is half of it."""
    return Rewrite(lambda r: r // 2 if r >= 2 else r)


class EverySecond:
    """Every second call (all threads and processes counted together) returns value unrun."""

    def __init__(self, value: int) -> None:
        self.value, self.calls = value, 0

    def __call__(self, tid: int, tag: int, args: tuple[int, ...]) -> Skip | None:
        self.calls += 1
        return Skip(self.value) if self.calls % 2 == 0 else None


def refuse_on_tcp(tid: int, tag: int, args: tuple[int, ...]) -> Skip | None:
    """setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, ...) on a TCP socket fails with ENOPROTOOPT."""
    try:
        proto = os.getxattr(f"/proc/{tid}/fd/{int32(args[0])}", "system.sockprotoname")
    except OSError:
        return None
    return Skip(-errno.ENOPROTOOPT) if proto.rstrip(b"\0") in (b"TCP", b"TCPv6") else None


@dataclass(frozen=True)
class Lie:
    name: str
    says: str
    mechanism: str                      # seccomp | ptrace | binding
    files: tuple[str, ...]              # globs under conformance/linux/
    kind: str = "regression"            # regression | absent | allowed
    must_fail: tuple[str, ...] = ()
    skip_names: str = ""
    rules: tuple[Rule, ...] = ()
    config: tuple[tuple[str, str | None], ...] = ()   # the kernel config the lie publishes
    on_entry: Callable | None = field(default=None, compare=False)
    stream: Callable[[], Stream] | None = field(default=None, compare=False)


TRACE = act_trace(1)
SPLICE_DATA = ("test_splice_conservation.py", "test_splice_pipes.py", "test_splice_sockets.py",
               "test_splice_wire.py", "test_splice_offsets.py", "test_splice_limits.py")
CONTRACT = ("test_msg_zerocopy_properties.py", "test_msg_zerocopy_counter.py",
            "test_msg_zerocopy_coalescing.py", "test_msg_zerocopy_format.py")
CODES = ("test_msg_zerocopy_copied.py", "test_msg_zerocopy_egress.py")
VSOCK_FILES = ("test_msg_zerocopy_vsock.py", "test_msg_zerocopy_setup.py")
VSOCK_REFUSED = Rule("socket", act_errno(errno.EAFNOSUPPORT), (Cond(0, INT_MASK, AF_VSOCK),))
VSOCK_OPTIONS = ("CONFIG_VSOCKETS", "CONFIG_VSOCKETS_DIAG", "CONFIG_VSOCKETS_LOOPBACK",
                 "CONFIG_VIRTIO_VSOCKETS", "CONFIG_VIRTIO_VSOCKETS_COMMON", "CONFIG_VHOST_VSOCK",
                 "CONFIG_VMWARE_VMCI_VSOCKETS", "CONFIG_HYPERV_VSOCKETS")

LIES: dict[str, Lie] = {lie.name: lie for lie in (
    Lie("sendfile-ebadf-as-einval", "sendfile() with a closed in_fd fails with EINVAL, not EBADF",
        "ptrace", ("test_sendfile_ebadf.py",),
        rules=(Rule("sendfile", TRACE),), on_entry=ebadf_as_einval),
    Lie("splice-espipe-einval-swap", "splice() answers EINVAL where it owes ESPIPE and back",
        "ptrace", ("test_splice_einval.py", "test_splice_offsets.py",
                   "test_splice_special_files.py", "test_splice_ebadf.py"),
        rules=(Rule("splice", TRACE),), on_entry=swap_espipe_einval),
    Lie("splice-zero-every-second", "every second splice() returns 0 and moves nothing",
        "ptrace", SPLICE_DATA, rules=(Rule("splice", TRACE),),
        on_entry=EverySecond(0)),
    Lie("sendfile-claims-half", "sendfile() moves the data but returns half the count",
        "ptrace", ("test_sendfile_*.py",), rules=(Rule("sendfile", TRACE),),
        on_entry=claim_half),
    Lie("splice-nonblock-eagain", "splice(SPLICE_F_NONBLOCK) always fails with EAGAIN",
        "seccomp", ("test_splice_eagain.py", "test_splice_nonblock_socket.py",
                    "test_splice_flags.py", "test_splice_conservation.py",
                    "test_sendfile_blocking.py"),
        rules=(Rule("splice", act_errno(errno.EAGAIN),
                    (Cond(5, SPLICE_F_NONBLOCK, SPLICE_F_NONBLOCK),)),)),
    Lie("so-zerocopy-refused-on-tcp",
        "setsockopt(SO_ZEROCOPY) on TCP fails with ENOPROTOOPT (a regression: 4.14 has it)",
        "ptrace", ("test_msg_zerocopy_*.py",),
        must_fail=("test_so_zerocopy_is_accepted",),
        rules=(Rule("setsockopt", TRACE, (Cond(1, INT_MASK, SOL_SOCKET),
                                          Cond(2, INT_MASK, SO_ZEROCOPY))),),
        on_entry=refuse_on_tcp),
    Lie("vsock-absent", "a kernel built without CONFIG_VSOCKETS: socket(AF_VSOCK) fails with "
        "EAFNOSUPPORT and the published config says so", "seccomp", VSOCK_FILES,
        kind="absent", skip_names="CONFIG_VSOCKETS is not set",
        rules=(VSOCK_REFUSED,), config=tuple((o, None) for o in VSOCK_OPTIONS)),
    Lie("vsock-refused-built-in", "socket(AF_VSOCK) fails with EAFNOSUPPORT although the "
        "config says CONFIG_VSOCKETS=y (broken, not absent)", "seccomp", VSOCK_FILES,
        rules=(VSOCK_REFUSED,), config=(("CONFIG_VSOCKETS", "y"),)),
    Lie("errqueue-always-empty", "recvmsg/recvmmsg(MSG_ERRQUEUE) always fail with EAGAIN",
        "seccomp", ("test_msg_zerocopy_errqueue.py", "test_msg_zerocopy_properties.py"),
        rules=(Rule("recvmsg", act_errno(errno.EAGAIN),
                    (Cond(2, MSG_ERRQUEUE, MSG_ERRQUEUE),)),
               Rule("recvmmsg", act_errno(errno.EAGAIN),
                    (Cond(3, MSG_ERRQUEUE, MSG_ERRQUEUE),)))),
    Lie("zc-missing", "the first zerocopy completion of each socket is never notified",
        "binding", CONTRACT, stream=Missing),
    Lie("zc-never-notified", "no zerocopy completion is ever notified",
        "binding", CONTRACT, stream=Never),
    Lie("zc-duplicated", "every zerocopy notification is queued twice",
        "binding", CONTRACT, stream=Duplicated),
    Lie("zc-merged-overreach", "the first two notifications merge into a range one id too long",
        "binding", CONTRACT, stream=MergedOverreach),
    Lie("zc-out-of-order", "the first two queued notifications of a socket come swapped "
        "(allowed: LNX-MZC-ORDER-NOTGUARANTEED)", "binding", CONTRACT, kind="allowed",
        stream=OutOfOrder),
    Lie("zc-copied-cleared", "ee_code SO_EE_CODE_ZEROCOPY_COPIED is reported as 0",
        "binding", CODES, stream=lambda: Code(copied=False)),
    Lie("zc-copied-set", "ee_code 0 is reported as SO_EE_CODE_ZEROCOPY_COPIED",
        "binding", CODES, stream=lambda: Code(copied=True)),
)}

# A lie no suite can survive (every sendfile fails with EIO): the harness's own check that
# an injected fault reaches the tests and is counted. Not part of the default set.
CANARY = Lie("canary-sendfile-eio", "every sendfile() fails with EIO", "seccomp",
             ("test_sendfile_wire.py",), rules=(Rule("sendfile", act_errno(errno.EIO)),))
LIES[CANARY.name] = CANARY
DEFAULT = [name for name in LIES if name != CANARY.name]
