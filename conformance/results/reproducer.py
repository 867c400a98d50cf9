"""The standalone reproducer of a failure report: a Python script (standard library only)
generated from a test's syscall transcript, that replays the calls on any kernel and exits 1
when the failure reproduces, 0 when it does not (see reproducer())."""
from __future__ import annotations

import json
import re

from conformance.results import compare as cmp

REPRO_CALLS = ("sendfile", "splice")
MAX_REPRO_CALLS = 50
# the fd kinds of the suite's fd factories (fixtures/files.py fd_factory, splice make_fd)
FD_KINDS = ("file-rdonly", "file-wronly", "file-rdwr", "file-append", "file-rdonly-append",
            "closed", "negative", "pipe-read", "pipe-write", "dir", "devnull", "unix-stream",
            "eventfd", "devfull-write")
_ROLES = {"sendfile": (("in_fd", "in"), ("out_fd", "out")),
          "splice": (("fd_in", "in"), ("fd_out", "out"))}

_PRELUDE = '''\
import ctypes
import ctypes.util
import errno
import json
import mmap
import os
import socket
import sys
import tempfile

PATTERN = bytes(range(251))  # the suite's file contents (period 251: shifted slices differ)
LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
LIBC.sendfile64.restype = ctypes.c_ssize_t
LIBC.sendfile64.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
LIBC.splice.restype = ctypes.c_ssize_t
LIBC.splice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                        ctypes.c_size_t, ctypes.c_uint]
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int64]
LIBC.munmap.restype = ctypes.c_int
LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
KEEP = []  # objects that must stay alive (sockets, offsets)


def pattern(size):
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def make_fd(kind, tmp):
    """An fd of the kind the test used (the suite's fd_factory kinds)."""
    files = {"file-rdonly": os.O_RDONLY, "file-wronly": os.O_WRONLY, "file-rdwr": os.O_RDWR,
             "file-append": os.O_WRONLY | os.O_APPEND,
             "file-rdonly-append": os.O_RDONLY | os.O_APPEND}
    if kind in files:  # 64 pattern bytes
        fd, path = tempfile.mkstemp(dir=tmp)
        os.write(fd, pattern(64))
        os.close(fd)
        return os.open(path, files[kind])
    if kind in ("closed", "negative"):
        if kind == "negative":
            return -1
        fd = os.open(os.devnull, os.O_RDONLY)
        os.close(fd)
        return fd
    if kind in ("pipe-read", "pipe-write"):
        r, w = os.pipe()
        if kind == "pipe-write":
            return w
        os.write(w, pattern(64))
        KEEP.append(w)
        return r
    if kind == "unix-stream":
        reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        writer.sendall(pattern(64))
        KEEP.extend([reader, writer])
        return reader.fileno()
    if kind == "dir":
        return os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    if kind == "devnull":
        return os.open(os.devnull, os.O_WRONLY)
    if kind == "devfull-write":
        return os.open("/dev/full", os.O_WRONLY)
    if kind == "eventfd":
        return os.eventfd(0)
    raise SystemExit(f"reproducer: unknown fd kind {kind!r}")


def bad_pointer(readonly):
    """The address of a read-only page, or of a page that was mapped and then unmapped."""
    addr = LIBC.mmap(None, mmap.PAGESIZE, mmap.PROT_READ if readonly else 0,
                     mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    if not readonly:
        LIBC.munmap(addr, mmap.PAGESIZE)
    return addr


def offset_arg(value):
    """NULL, a pointer to a loff_t holding value, or a raw bad address (value is a str)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return bad_pointer(value == "readonly"), None
    off = ctypes.c_int64(value)
    KEEP.append(off)
    return ctypes.addressof(off), off


def check(ret):
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def sendfile(out_fd, in_fd, offset, count):
    ptr, off = offset_arg(offset)
    sent = check(LIBC.sendfile64(out_fd, in_fd, ptr, count & (2**64 - 1)))
    if offset is None or isinstance(offset, str):
        return sent
    return [sent, off.value]


def splice(fd_in, off_in, fd_out, off_out, length, flags):
    pin, oin = offset_arg(off_in)
    pout, oout = offset_arg(off_out)
    n = check(LIBC.splice(fd_in, pin, fd_out, pout, length & (2**64 - 1), flags & (2**32 - 1)))
    return [n, oin.value if oin is not None else None, oout.value if oout is not None else None]


def outcome(fn):
    try:
        return "= " + json.dumps(fn())
    except OSError as exc:
        return "-1 " + errno.errorcode.get(exc.errno, str(exc.errno))


def main(steps):
    """Run the steps; exit 1 when the failure reproduces, 0 when it does not."""
    deviates, same_as_recorded = False, True
    for text, fn, recorded, expected in steps:
        now = outcome(fn)
        same_as_recorded &= now == recorded
        line = f"{text} {now}   (recorded: {recorded}"
        if expected is not None:
            deviates |= now not in expected
            line += f"; the clause expects: {' or '.join(expected)}"
        print(line + ")")
    checked = any(step[3] is not None for step in steps)
    failing = deviates if checked else same_as_recorded
    print("REPRODUCED: " + FAILURE if failing else "NOT REPRODUCED: " + CONFORMS)
    return 1 if failing else 0

'''


def _kinds_from_id(nodeid: str) -> dict[str, str]:
    param = nodeid.partition("[")[2]
    return {role: m.group(1) for role in ("in", "out")
            if (m := re.search(rf"(?:^|[,\-\[]){role}=([a-z0-9-]+?)(?=[,@\]]|$)", param))}


def _recorded(entry: dict) -> str:
    if entry.get("errno") is not None:
        return "-1 " + (entry.get("errno_name") or str(entry["errno"]))
    return "= " + json.dumps(entry.get("result"))


def _fd(fd: int) -> str:
    return f"fd_{fd}" if fd >= 0 else "fd_negative"


def _offset_literal(value, nodeid: str) -> str:
    if isinstance(value, str):  # a raw pointer of the test process, e.g. "(loff_t *)0x7f..."
        return repr("readonly" if "readonly" in nodeid or "read_only" in nodeid else "unmapped")
    return repr(value)


def reproducer(test: dict, results: dict) -> tuple[str | None, str | None]:
    """(script, None) or (None, why not)."""
    calls = test.get("transcript") or []
    message = test.get("message") or ""
    if not calls:
        return None, "the transcript is empty"
    others = sorted({c.get("call") for c in calls} - set(REPRO_CALLS))
    if others:
        return None, (f"the transcript has calls the generator cannot replay standalone "
                      f"({', '.join(map(str, others))}); use the rerun command")
    if "Falsifying example" in message or "Failing test case" in message:
        return None, ("a property test: its files and offsets come from the falsifying example, "
                      "not from the transcript; use the rerun command")
    if len(calls) > MAX_REPRO_CALLS:
        return None, f"{len(calls)} calls is more than a standalone script should replay"
    kinds = _kinds_from_id(test["nodeid"])
    fds: dict[int, tuple[str, str]] = {}
    for c in calls:
        for arg, role in _ROLES[c["call"]]:
            fd = c["args"].get(arg)
            if not isinstance(fd, int):
                return None, f"{c['call']} argument {arg} is {fd!r}, not an fd number"
            kind = "negative" if fd < 0 else kinds.get(role)
            if kind is None:
                return None, (f"the transcript does not say what {arg} was, and the test id names "
                              "no in=/out= fd kinds; use the rerun command")
            if kind not in FD_KINDS:
                return None, f"the generator cannot make an fd of kind {kind!r}"
            fds.setdefault(fd, (kind, arg))
    # the clause's expectation: an errno for the last call, or the recorded (passing) results
    expect: list = [None] * len(calls)
    if cmp.is_xpass_strict(test) or test["outcome"] == "xpassed":
        expect = [[_recorded(c)] for c in calls]
    else:
        for line in cmp.assertion_lines(message):
            m = cmp.ERRNO_MSG.match(line.removeprefix("AssertionError: "))
            if m:
                expect[-1] = [f"-1 {name}" for name in m["exp"].split(" or ")]
                break
    k = results["kernel"]
    cids = " ".join(test.get("clauses") or []) or "none"
    head = [
        "#!/usr/bin/env python3",
        f'"""Reproducer for {test["nodeid"]}',
        "",
        f"Clauses: {cids}. Generated by `conformance report` from the syscall transcript of run",
        (f"{results['run'].get('id')} on {k.get('os')} {k.get('release')}; Python 3 standard "
        "library only."),
        "fd kinds: from the test id (fds of the suite's fd factory: files hold 64 pattern bytes).",
        "Prints each call with its result now, the result recorded in that run and what the",
        "clause expects; exit 1 when the failure reproduces on this kernel, 0 when it does not.",
        '"""']
    body = [_PRELUDE,
            f"FAILURE = {('the kernel disagrees with clause ' + cids)!r}",
            f"CONFORMS = {('this kernel does what clause ' + cids + ' says') !r}"
            if any(e is not None for e in expect) else
            f"CONFORMS = {'this kernel does not repeat the recorded results'!r}",
            "", "", "def steps(tmp):"]
    # closed fds last, so that no later open() takes their number
    for fd, (kind, arg) in sorted(fds.items(), key=lambda kv: kv[1][0] == "closed"):
        body.append(f"    {_fd(fd)} = make_fd({kind!r}, tmp)  # {arg}: fd {fd} in the recorded run")
    body.append("    return [")
    for c, exp in zip(calls, expect):
        a = c["args"]
        text = f"{c['call']}({', '.join(f'{key}={val!r}' for key, val in a.items())})"
        if c["call"] == "sendfile":
            fn = (f"sendfile({_fd(a['out_fd'])}, {_fd(a['in_fd'])}, "
                  f"{_offset_literal(a.get('offset'), test['nodeid'])}, {a.get('count')!r})")
        else:
            flags = a.get("flags", 0)
            flags = int(flags, 16) if isinstance(flags, str) else flags
            fn = (f"splice({_fd(a['fd_in'])}, {_offset_literal(a.get('off_in'), test['nodeid'])}, "
                  f"{_fd(a['fd_out'])}, {_offset_literal(a.get('off_out'), test['nodeid'])}, "
                  f"{a.get('len')!r}, {flags!r})")
        body += [f"        ({text!r},", f"         lambda: {fn},",
                 f"         {_recorded(c)!r}, {exp!r}),"]
    body += ["    ]", "", "", 'if __name__ == "__main__":',
             '    sys.exit(main(steps(tempfile.mkdtemp(prefix="conformance-repro-"))))']
    return "\n".join(head + body) + "\n", None
