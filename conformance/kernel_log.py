"""Kernel health: the structured kernel log (/dev/kmsg records) and the taint mask, parsed into
incidents (a warning, BUG, oops, KASAN report, refcount_t saturation, lockdep report, RCU stall,
soft lockup, general protection fault, NULL pointer dereference, a user-space segfault line),
each one with its first line and call trace.

A /dev/kmsg record is "LEVEL,SEQ,USEC,FLAGS[,...];MESSAGE" followed by " KEY=VALUE" dictionary
lines (Documentation/ABI/testing/dev-kmsg); a console line "[   12.345678] MESSAGE" is read as a
record too, so a console log can be parsed when no kmsg dump came back. Nothing here scrapes free
text: an incident is a run of records that starts with a trigger line and ends with the kernel's
own end marker, the next trigger, or a pause of a few seconds in the log.

`Watcher` keeps a non-blocking /dev/kmsg descriptor positioned at the end when it opens and
returns the records that arrived since the last read (the plugin calls it around each test).
`python -m conformance.kernel_log --dump` writes every record still in the kernel's buffer in
kmsg form (the kernel target runs it in the guest when the suite ends).
"""
from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import dataclass, field

KMSG = "/dev/kmsg"
TAINTED = "/proc/sys/kernel/tainted"
# kernel/panic.c taint_flags: bit -> letter (meaning). Only the bits that say the kernel got into
# trouble make an incident; a module load (O, E) or a test kernel (N) does not.
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"
TROUBLE_TAINTS = {4: "M (machine check)", 5: "B (bad page)", 7: "D (oops/die)",
                  9: "W (warning)", 14: "L (soft lockup)"}
# An incident ends when the log pauses this long (USEC units of the records).
PAUSE_USEC = 3_000_000
MAX_RECORDS = 200      # per incident
MAX_EXCERPT_LINES = 40
MAX_FRAMES = 24

CUT_HERE = "------------[ cut here ]------------"
# (kind, pattern) in order: the first that matches a record's text names the incident.
TRIGGERS: list[tuple[str, re.Pattern]] = [(k, re.compile(p)) for k, p in [
    ("KASAN", r"^BUG: KASAN: "),
    ("NULL pointer dereference", r"^BUG: kernel NULL pointer dereference"),
    ("soft lockup", r"^watchdog: BUG: soft lockup"),
    ("hard lockup", r"^watchdog: .*hard LOCKUP"),
    ("BUG", r"^BUG: |^kernel BUG at "),
    ("general protection fault", r"^(Oops: )?general protection fault"),
    ("Oops", r"^Oops: |^Internal error: Oops"),
    ("refcount_t", r"^refcount_t: "),
    ("lockdep", (r"^WARNING: (possible (circular|recursive) locking|inconsistent lock state|"
                 r"suspicious RCU usage|possible irq lock inversion|bad unlock balance|"
                 r"held lock freed|lock held when returning)")),
    ("WARNING", r"^WARNING: CPU: \d+ PID: \d+ at "),
    ("RCU stall", r"^rcu: INFO: \S+ (self-)?detected stalls?|^INFO: rcu_\S+ (self-)?detected stall"),
    ("hung task", r"^INFO: task .* blocked for more than \d+ seconds"),
    ("UBSAN", r"^UBSAN: "),
    ("panic", r"^Kernel panic - not syncing"),
    ("segfault", r"^\S+\[\d+\]: segfault at "),
]]
END_MARKERS = re.compile(r"^---\[ end (trace|Kernel panic)")
# Lines of a report the excerpt leaves out: registers, code bytes, module lists, hardware.
NOISE = re.compile(r"^(R(?!IP)[A-Z0-9]{2}: |FS: |CS: |CR2: |DR[0-7]: |PKRU: |Code: |Modules linked in|"
                   r"Hardware name: |\s*(R\d{1,2}|RBP|RDX|RSI|RAX)[: ]|Lockdep|Kernel Offset|"
                   r"={10,})")
FRAME = re.compile(r"^\s*(\? )?([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
# The task a report was logged in: "CPU: 1 UID: 0 PID: 87 Comm: python" (6.12; older kernels
# leave out UID) or the WARNING line's "CPU: 1 PID: 87 at".
TASK = re.compile(r"^(?:WARNING: )?CPU: \d+ (?:UID: \d+ )?PID: (\d+)(?: Comm: (\S+))?")
CALL_TRACE = re.compile(r"^\s*(Call Trace:|Call trace:|stack backtrace:)")
CONSOLE = re.compile(r"^\[\s*(\d+)\.(\d+)\] (.*)$")


@dataclass(frozen=True)
class Record:
    level: int
    seq: int
    usec: int
    text: str


def parse_record(line: str) -> Record | None:
    """One kmsg record ("6,1234,5678,-;text") or console line ("[  5.678] text"); None for
    anything else (a dictionary line, pytest output on the console)."""
    line = line.rstrip("\n")
    head, sep, text = line.partition(";")
    if sep and not line.startswith(" "):
        fields = head.split(",")
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            return Record(int(fields[0]) & 7, int(fields[1]), int(fields[2]), _unescape(text))
    m = CONSOLE.match(line)
    if m:
        usec = int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6])
        return Record(4, -1, usec, m.group(3))
    return None


def _unescape(text: str) -> str:
    """kmsg escapes non-printable bytes as \\xNN."""
    if "\\x" not in text:
        return text
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def parse_records(text: str) -> list[Record]:
    return [r for r in map(parse_record, text.splitlines()) if r is not None]


def trigger(text: str) -> str | None:
    for kind, pattern in TRIGGERS:
        if pattern.search(text):
            return kind
    return None


@dataclass
class Incident:
    kind: str
    records: list[Record] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The most telling first line: the trigger, with a WARNING's location when a
        refcount_t or lockdep line came first."""
        texts = [r.text.strip() for r in self.records if r.text.strip() != CUT_HERE]
        first = texts[0] if texts else ""
        where = next((t for t in texts if t.startswith("WARNING: CPU:")), None)
        if where and where != first and self.kind in ("refcount_t", "UBSAN"):
            return f"{first} ({where.split(' at ', 1)[-1]})"
        return first

    @property
    def frames(self) -> list[str]:
        """The call trace's function names, innermost first, unreliable ('?') frames left out."""
        out, inside = [], False
        for r in self.records:
            if CALL_TRACE.match(r.text):
                inside = True
                continue
            m = FRAME.match(r.text)
            if inside and m and not m.group(1):
                out.append(m.group(2))
        return out[:MAX_FRAMES]

    @property
    def task(self) -> tuple[int | None, str | None]:
        """(pid, comm) of the task the report was logged in, where the report says."""
        pid, comm = None, None
        for r in self.records:
            m = TASK.match(r.text.strip())
            if m:
                pid, comm = int(m.group(1)), comm or m.group(2)
                if comm:
                    break
        return pid, comm

    @property
    def excerpt(self) -> str:
        lines = [r.text.rstrip() for r in self.records
                 if r.text.strip() != CUT_HERE and not NOISE.match(r.text)]
        if len(lines) > MAX_EXCERPT_LINES:
            lines = lines[:MAX_EXCERPT_LINES - 1] + [f"... ({len(lines)} lines in all)"]
        return "\n".join(lines)

    def to_json(self) -> dict:
        pid, comm = self.task
        out = {"kind": self.kind, "title": self.title, "frames": self.frames,
               "excerpt": self.excerpt, "seq": self.records[0].seq,
               "usec": self.records[0].usec}
        if pid is not None:
            out.update(pid=pid, comm=comm)
        return out


# A trigger of the second kind inside an incident of the first kind is the same report: the
# WARNING line after refcount_t text, the "Oops:" line after a BUG or a fault.
CONTINUES = {"WARNING": ("refcount_t", "UBSAN"),
             "Oops": ("NULL pointer dereference", "BUG", "KASAN", "general protection fault")}


def _continues(current: Incident, kind: str | None) -> bool:
    if current.kind not in CONTINUES.get(kind or "", ()):
        return False
    return not any(trigger(r.text.strip()) == kind for r in current.records)


def incidents(records: list[Record]) -> list[Incident]:
    """Group records into incidents (see the module docstring)."""
    found: list[Incident] = []
    current: Incident | None = None
    pending_cut: Record | None = None
    for rec in records:
        text = rec.text.strip()
        kind = trigger(text)
        if current is not None:
            gap = rec.usec - current.records[-1].usec > PAUSE_USEC
            # A WARNING line right after refcount_t/lockdep/UBSAN text is the same report.
            same = _continues(current, kind)
            if gap or (kind and not same and kind != "segfault") or text == CUT_HERE \
                    or len(current.records) >= MAX_RECORDS:
                current = None
            else:
                current.records.append(rec)
                if END_MARKERS.match(text):
                    current = None
                continue
        if text == CUT_HERE:
            pending_cut = rec
            continue
        if kind:
            current = Incident(kind, [pending_cut, rec] if pending_cut else [rec])
            found.append(current)
            if kind == "segfault":
                current = None
        pending_cut = None
    return found


def summary(incident: dict) -> str:
    """One line: kind, title and the innermost frames ('a <- b <- c')."""
    frames = " <- ".join(incident.get("frames", [])[:5])
    kind, title = incident["kind"], incident["title"]
    head = title if title.lower().startswith(kind.lower()) else f"{kind}: {title}"
    return head + (f" [{frames}]" if frames else "")


def format_entries(entries: list[dict]) -> str:
    """The kernel log part of a report: each incident's excerpt."""
    return "\n\n".join(e.get("excerpt") or summary(e) for e in entries)


def read_taint(path: str = TAINTED) -> int | None:
    try:
        with open(path) as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return None


def taint_letters(mask: int) -> str:
    return "".join(c for bit, c in enumerate(TAINT_LETTERS) if mask & (1 << bit))


def taint_entry(before: int | None, after: int | None) -> dict | None:
    """An incident for trouble taint bits that appeared between two readings, or None."""
    if before is None or after is None:
        return None
    new = [name for bit, name in TROUBLE_TAINTS.items() if after & ~before & (1 << bit)]
    if not new:
        return None
    return {"kind": "taint", "title": f"the kernel became tainted: {', '.join(new)} "
            f"(now {taint_letters(after) or '-'}, {after})", "frames": [], "excerpt": "",
            "seq": None, "usec": None}


class Watcher:
    """New /dev/kmsg records since the last read, and taint changes. `reason` says why it
    cannot watch (e.g. no CAP_SYSLOG with kernel.dmesg_restrict=1), else None."""

    def __init__(self, path: str = KMSG, tainted: str = TAINTED) -> None:
        self.tainted = tainted
        self.reason: str | None = None
        self.lost = 0
        self.fd: int | None = None
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self._to_end()
        except OSError as exc:
            self.close()
            self.reason = f"cannot read {path}: {exc.strerror}"
        self.taint = read_taint(tainted)

    def _to_end(self) -> None:
        try:
            os.lseek(self.fd, 0, os.SEEK_END)  # /dev/kmsg: the next record to be logged
        except OSError as exc:
            if exc.errno != errno.ESPIPE:  # a fifo standing in for /dev/kmsg (self-tests)
                raise

    def records(self) -> list[Record]:
        out: list[Record] = []
        while self.fd is not None:
            try:
                raw = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records overwritten before we read them
                self.lost += 1
                continue
            if not raw:
                break
            # /dev/kmsg gives one record per read; a file or fifo standing in for it, several.
            out.extend(parse_records(raw.decode(errors="replace")))
        return out

    def collect(self) -> list[dict]:
        """The incidents (and a trouble-taint change) since the previous call."""
        found = [i.to_json() for i in incidents(self.records())]
        now = read_taint(self.tainted)
        entry = taint_entry(self.taint, now)
        if entry and not any(f["kind"] != "segfault" for f in found):
            found.append(entry)  # a trouble taint no parsed report explains
        self.taint = now if now is not None else self.taint
        return found

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def dump(out=sys.stdout, path: str = KMSG) -> int:
    """Write every record in the kernel's buffer, kmsg form; 0, or 1 when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        while True:
            try:
                raw = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue
            if not raw:
                break
            out.write(raw.decode(errors="replace").split("\n", 1)[0] + "\n")
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--dump"]:
        sys.exit(dump())
    for inc in incidents(parse_records(sys.stdin.read())):
        print(summary(inc.to_json()))
