"""Bug reports from results: one markdown file per failure (or per regression against a
baseline), ready to paste into a bug tracker or a mail to the maintainers.

Each report has a title, the kernel(s) and config hash, the clause (statement, source, basis),
expected vs observed, the syscall transcript, the exact rerun command (target, test id,
hypothesis seed when known) and, where the calls allow, a standalone Python reproducer
generated from the transcript (standard library only; see reproducer()).
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from conformance.results import compare as cmp
from conformance.results.known_failures import PROPERTY, XPASS_PREFIX

BASIS = {  # what the basis is, and what a kernel verdict against it means
    "documented": ("documented (man page or kernel documentation)",
                   "the kernel disagrees with its documentation"),
    "source": ("our reading of the kernel source only",
               "the kernel differs from that reading: check the reading before calling it a "
               "kernel bug"),
    "tests": ("asserted by the OS's own test suite", "the kernel fails its own suite's check"),
    "peer": ("asserted only by a peer suite (another implementation's tests)",
             "the kernel differs from what that suite expects"),
}
MESSAGE_TAIL = 40
_ERRNO_MSG = re.compile(r"^(?P<what>.*): expected (?P<exp>[A-Z0-9]+(?: or [A-Z0-9]+)*), "
                        r"(?:got (?P<got>[A-Z0-9]+|no errno)(?: \((?P<str>[^)]*)\))?"
                        r"|but the call succeeded and returned (?P<ret>.*))$")


@dataclass
class Item:
    """One thing to report: a test of RESULTS, and how it behaved in the baseline."""
    test: dict
    kind: str  # "failure", "error", "regression", "xpass"
    base: dict | None = None


def select(results: dict, baseline: dict | None) -> list[Item]:
    """Regressions against the baseline (and new tests that fail), or else every failed,
    errored or xpassed test."""
    tests = {t["nodeid"]: t for t in results["tests"]}
    if baseline is not None:
        diff = cmp.compare(baseline, results)
        base = {t["nodeid"]: t for t in baseline["tests"]}
        items = []
        for d in diff["differences"]:
            t = tests.get(d["nodeid"])
            if d["kind"] == "regression":
                kind = "xpass" if cmp.is_xpass_strict(t) else "regression"
                items.append(Item(t, kind, base.get(d["nodeid"])))
            elif d["kind"] == "new test" and t["outcome"] in cmp.BAD:
                items.append(Item(t, "xpass" if cmp.is_xpass_strict(t) else
                                  t["outcome"].replace("failed", "failure")))
        return items
    out = []
    for t in results["tests"]:
        if cmp.is_xpass_strict(t) or t["outcome"] == "xpassed":
            out.append(Item(t, "xpass"))
        elif t["outcome"] in ("failed", "error"):
            out.append(Item(t, t["outcome"].replace("failed", "failure")))
    return out


def hypothesis_seed(results: dict, test: dict) -> str | None:
    for text in (test.get("message") or "", results["run"].get("command") or ""):
        m = re.search(r"--hypothesis-seed[= ](\S+)", text) or re.search(r"@seed\((\d+)\)", text)
        if m:
            return m.group(1)
    return None


def expected_observed(test: dict) -> tuple[str, str]:
    if cmp.is_xpass_strict(test) or test["outcome"] == "xpassed":
        why = (test.get("message") or "").splitlines()[0].removeprefix(XPASS_PREFIX).strip() \
            if test["outcome"] == "failed" else test.get("reason") or ""
        why = why.removeprefix("known failure ")
        return (f"a failure, as the known-failures entry says: {why}",
                ("the test passed: the kernel does what the clause says, so the entry is stale "
                "(the kernel was fixed, or the entry's kernel range is too wide)"))
    if test["outcome"] == "error":
        return ("the test's setup (fixtures) completes",
                f"harness error, not a kernel verdict: {cmp.summary(test)}")
    seconds = cmp.timeout_seconds(test)
    if seconds is not None:
        return ("the test completes within its deadline", (f"it was still running after "
                f"{seconds:g} s (pytest-timeout); the transcript shows the last calls"))
    lines = cmp.assertion_lines(test.get("message"))
    for line in lines:
        m = _ERRNO_MSG.match(line.removeprefix("AssertionError: "))
        if m:
            got = (f"{m['got']} ({m['str']})" if m["got"] and m["str"] else m["got"]) \
                or f"success, returning {m['ret']}"
            return f"{m['what']} fails with {m['exp']}", f"{m['what']}: {got}"
    first = lines[0] if lines else cmp.summary(test)
    return ("what the clause states (the assertion below)", first)


def clause_section(test: dict, clauses: dict, verdict: bool) -> list[str]:
    """The clauses a test cites; with verdict, what a kernel failure against each basis means."""
    out = []
    for cid in test.get("clauses") or []:
        c = clauses.get(cid)
        if c is None:
            out.append(f"- **{cid}**: not in this checkout's catalog (renamed or removed since "
                       "the run)")
            continue
        since = f"; since {c.since}" if c.since else ""
        out += [f"- **{cid}** ({c.feature}; source: {c.source}{since})",
                f"  - statement: {' '.join(c.statement.split())}",
                f"  - basis: {BASIS.get(c.basis, (c.basis,))[0]}"]
        if verdict and c.basis in BASIS:
            out.append(f"  - so this failure means: {BASIS[c.basis][1]}")
        if c.notes:
            out.append(f"  - notes: {' '.join(c.notes.split())}")
    return out


def rerun(results: dict, test: dict) -> list[str]:
    run, env = results["run"], results.get("environment") or {}
    suite = run.get("suite") or {}
    nodeid = shlex.quote(test["nodeid"])
    seed = hypothesis_seed(results, test)
    seed_arg = f" --hypothesis-seed={seed}" if seed else ""
    target = run.get("target") or "host"
    os_name = results["kernel"].get("os") or "linux"
    commit = (suite.get("commit") or "unknown commit")[:12]
    who = "as root, " if env.get("privileged") else ""
    lines = [f"# {who}from a checkout of the suite at {commit} (pip install -e . in a venv)"]
    extra = (run.get("known_failures") or [])[1:]  # the first is the shipped file
    if extra:  # the run used more known-failures files: without them the verdict may differ
        lines.append(f"export CONFORMANCE_KNOWN_FAILURES={shlex.quote(':'.join(extra))}")
    if target.startswith("kernel:"):
        accel = env.get("accel") or "auto"
        vm = results.get("vm") or {}
        image = vm.get("image") or target.removeprefix("kernel:")
        lines.append(f"conformance run --os {os_name} --kernel {shlex.quote(image)} "
                     f"--accel {accel} -- {nodeid}{seed_arg}")
    else:
        lines += [f"conformance run --os {os_name} -- {nodeid}{seed_arg}",
                  "# only this test, straight through pytest, on the running kernel:",
                  f"python3 -m pytest -p no:cacheprovider --strict-markers {nodeid}{seed_arg}"]
    return lines


def title(item: Item, results: dict, clauses: dict) -> str:
    test = item.test
    cids = test.get("clauses") or []
    feature = clauses[cids[0]].feature if cids and cids[0] in clauses else "conformance"
    k = results["kernel"]
    what = {"regression": "regression", "xpass": "known failure no longer happens",
            "error": "harness error"}.get(item.kind, "failure")
    clause = cids[0] if cids else test["nodeid"].split("::")[-1]
    detail = cmp.summary(test) if item.kind != "xpass" else "the test passes"
    detail = detail.removeprefix("AssertionError: ")
    if len(detail) > 120:
        detail = detail[:117] + "..."
    return (f"[zerocopy-conformance] {feature} {clause}: {what}: {detail} "
            f"({k.get('os')} {k.get('release')})")


def _fence(lines: list[str], lang: str = "") -> list[str]:
    return [f"```{lang}", *lines, "```"]


def render(item: Item, results: dict, clauses: dict, baseline: dict | None = None,
           script: str | None = None, why_no_script: str | None = None) -> str:
    test, run, k = item.test, results["run"], results["kernel"]
    env, suite = results.get("environment") or {}, run.get("suite") or {}
    expected, observed = expected_observed(test)
    out = [f"# {title(item, results, clauses)}", ""]
    out += [f"- **Test:** `{test['nodeid']}`",
            f"- **Verdict:** {test['outcome']}" + (
                f" (was {item.base['outcome']} on {baseline['kernel'].get('release')})"
                if item.base and baseline else ""),
            (f"- **Kernel:** {k.get('os')} {k.get('release')} `{k.get('version')}` "
            f"{k.get('machine')}"),
            f"- **Kernel config:** {k.get('config_hash') or 'not readable on the target'}"]
    if baseline is not None:
        bk = baseline["kernel"]
        out.append(f"- **Baseline kernel:** {bk.get('os')} {bk.get('release')} "
                   f"`{bk.get('version')}`, config {bk.get('config_hash') or 'unknown'} "
                   f"(run {baseline['run'].get('id')})")
    out += [(f"- **Run:** {run.get('id')}, target {run.get('target')}, accel "
            f"{env.get('accel')}, {'root' if env.get('privileged') else 'unprivileged'}, "
            f"zerocopy-conformance {suite.get('version')} at "
            f"{(suite.get('commit') or 'unknown')[:12]}{' (dirty)' if suite.get('dirty') else ''}")]
    if k.get("cmdline"):
        out.append(f"- **Kernel command line:** `{k['cmdline']}`")
    entry = test.get(PROPERTY)
    if entry:
        out.append(f"- **Known-failures entry:** {entry['where']}: {entry['reason']} "
                   f"[{entry['link']}]")
    verdict = item.kind in ("failure", "regression")
    out += ["", "## Clause", "",
            *(clause_section(test, clauses, verdict) or ["(the test cites none)"])]
    out += ["", "## Expected vs observed", "", f"- **Expected:** {expected}",
            f"- **Observed:** {observed}", ""]
    message = (test.get("message") or "").splitlines()
    if message:
        tail = message[-MESSAGE_TAIL:]
        note = f" (last {len(tail)} of {len(message)} lines)" if len(tail) < len(message) else ""
        out += [f"Failure message{note}:", "", *_fence(tail), ""]
    calls = cmp.transcript_lines(test)
    out += ["## Syscall transcript", ""]
    out += _fence(calls) if calls else [("(no call was recorded: the test failed before its "
                                        "first call through the bindings)")]
    out += ["", "## Rerun", "", *_fence(rerun(results, test), "sh"), ""]
    seed = hypothesis_seed(results, test)
    if "Falsifying example" in "\n".join(message) or "Failing test case" in "\n".join(message):
        out += ["This is a property test (Hypothesis): the failing example is in the message "
                "above; " + (f"the seed was {seed}; " if seed else "no seed was recorded; ")
                + "on the same checkout Hypothesis replays it first from its example database "
                  "(.hypothesis/).", ""]
    out += ["## Standalone reproducer", ""]
    if script:
        out += [("Python 3, standard library only; run it as the same user as the run. Exit 1: "
                "the failure reproduces on this kernel; 0: it does not."), "",
                *_fence(script.rstrip("\n").splitlines(), "python")]
    else:
        out.append(f"None generated: {why_no_script}.")
    return "\n".join(out) + "\n"


def slug(text: str, n: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:n].rstrip("-.") or "test"


def write_all(results: dict, out_dir: Path, clauses: dict,
              baseline: dict | None = None) -> list[Path]:
    """Write one report (and its reproducer script, when there is one) per item; return paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, item in enumerate(select(results, baseline), 1):
        script, why = reproducer(item.test, results)
        name = f"{i:02d}-{slug(item.test['nodeid'].split('::', 1)[-1])}"
        path = out_dir / f"{name}.md"
        path.write_text(render(item, results, clauses, baseline, script, why))
        written.append(path)
        if script:
            repro = out_dir / f"{name}-repro.py"
            repro.write_text(script)
            repro.chmod(0o755)
    return written


# --- the standalone reproducer -------------------------------------------------------------

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
            m = _ERRNO_MSG.match(line.removeprefix("AssertionError: "))
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
