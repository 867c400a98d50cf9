"""The FreeBSD SO_SPLICE binding, pinned on any OS: struct splice's layout (LP64), the option
numbers, the off_t the count comes back in, the optval splice_sockets() hands to setsockopt; and
the SO_SPLICE suite collecting off FreeBSD with every test skipped for the OS and no errors.

Layout source: freebsd/freebsd-src sys/sys/socket.h (struct splice { int sp_fd; off_t sp_max;
struct timeval sp_idle; }), sys/sys/_timeval.h; research notes freebsd-abi.md ('=i4xqqq').
"""
import ctypes
import platform
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.abi import so_splice, transcript
from conformance.abi.freebsd import SOL_SOCKET

SUITE = Path(so_splice.__file__).resolve().parent.parent / "freebsd"


def test_struct_splice_is_32_bytes_with_lp64_offsets():
    s = so_splice.Splice
    assert ctypes.sizeof(s) == so_splice.SPLICE_SIZE == 32
    assert (s.sp_fd.offset, s.sp_max.offset, s.sp_idle.offset) == (0, 8, 16)
    timeval = so_splice.Timeval
    assert (s.sp_idle.offset + timeval.tv_sec.offset, s.sp_idle.offset + timeval.tv_usec.offset) \
        == (16, 24)
    assert ctypes.alignment(s) == 8


def test_option_numbers():
    assert (so_splice.SO_SPLICE, SOL_SOCKET) == (0x1023, 0xFFFF)


def test_the_count_is_an_8_byte_off_t():
    assert so_splice.OFF_T_SIZE == 8


@pytest.mark.parametrize("fd, max_bytes, idle, timeval", [
    (5, 129, (1, 500_000), (1, 500_000)),
    (7, 0, None, (0, 0)),
    (-1, 0, None, (0, 0)),
    (3, 2**63 - 1, 0.25, (0, 250_000)),
    (3, -3, (-1, 500_000), (-1, 500_000)),
    (3, 0, (0, 1_000_000), (0, 1_000_000)),
], ids=["max129-idle1.5", "no-limits", "unsplice", "max-off_t-idle0.25", "negatives",
        "usec-1e6"])
def test_splice_sockets_packs_struct_splice(fd, max_bytes, idle, timeval):
    """The optval passed to setsockopt(SOL_SOCKET=0xffff, SO_SPLICE=0x1023) is the struct."""
    calls = []

    class FakeSocket:
        def fileno(self):
            return 9

        def setsockopt(self, *args):
            calls.append(args)

    recording = transcript.begin()
    try:
        so_splice.splice_sockets(FakeSocket(), fd, max_bytes, idle)
    finally:
        transcript.end()
    assert calls == [(0xFFFF, 0x1023, struct.pack("=i4xqqq", fd, max_bytes, *timeval))]
    assert recording.entries[0].call == "setsockopt"
    assert recording.entries[0].args["sp_fd"] == fd


def test_unsplice_and_raw_option_encodings():
    calls = []

    class FakeSocket:
        def fileno(self):
            return 9

        def setsockopt(self, *args):
            calls.append(args)

    so_splice.unsplice(FakeSocket(), -2)
    so_splice.set_splice_option(FakeSocket(), struct.pack("i", 4))
    so_splice.set_splice_option(FakeSocket(), so_splice.pack_splice(4), 31)
    so_splice.set_splice_option(FakeSocket(), None, 0)
    assert calls == [
        (0xFFFF, 0x1023, struct.pack("=i4xqqq", -2, 0, 0, 0)),
        (0xFFFF, 0x1023, struct.pack("i", 4)),
        (0xFFFF, 0x1023, struct.pack("=i4xqqq", 4, 0, 0, 0)[:31]),
        (0xFFFF, 0x1023, None, 0),
    ]


def test_capsicum_rights_words():
    """CAPRIGHT(0, bit) lives in word 0 with index bit 57 (sys/sys/capsicum.h)."""
    assert so_splice.CAP_RECV == (1 << 57) | 0x1
    assert so_splice.CAP_SEND == (1 << 57) | 0x2
    assert so_splice.CAP_SETSOCKOPT == (1 << 57) | 0x2000000000
    assert so_splice._word(so_splice.CAP_GETSOCKOPT) == 0
    assert so_splice._word((1 << 58) | 0x1) == 1
    assert ctypes.sizeof(so_splice.CapRights) == 16


@pytest.mark.skipif(platform.system() == "FreeBSD",
                    reason="checks the skip off FreeBSD; on FreeBSD the suite really runs")
def test_suite_collects_and_skips_everywhere_but_freebsd(tmp_path):
    """The SO_SPLICE files of the FreeBSD suite: no errors, nothing run, every skip for the OS."""
    files = sorted(str(f) for f in SUITE.glob("test_so_splice_*.py"))
    assert files, f"no test_so_splice_*.py in {SUITE}"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", "-q",
         "-rs", *files],
        capture_output=True, text=True, cwd=tmp_path, check=False)
    out = proc.stdout + proc.stderr
    summary = out.strip().splitlines()[-1]
    assert proc.returncode == 0, out[-2000:]
    assert "skipped" in summary and not any(
        word in summary for word in ("passed", "failed", "error")), summary
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skips and all(f"requires OS freebsd (running {platform.system().lower()})" in line
                         for line in skips), skips


def test_enotcapable_is_93_whatever_the_python_names():
    """sys/sys/errno.h ENOTCAPABLE 93; CPython names it on FreeBSD only from 3.11.1, so the
    errors table resolves it through errno_value(), never errno.ENOTCAPABLE (issue 14 point 5)."""
    from conformance.abi import freebsd
    assert freebsd.ENOTCAPABLE == freebsd.ERRNO["ENOTCAPABLE"] == 93
    assert freebsd.errno_value("ENOTCAPABLE") == 93
    assert freebsd.errno_value("EBADF") == 9


def test_every_errno_name_in_the_errors_table_resolves(monkeypatch):
    """Every row's errno name resolves even on a Python without errno.ENOTCAPABLE (3.11.0)."""
    import errno

    from conformance.abi import freebsd
    from conformance.freebsd import test_so_splice_errors as table
    monkeypatch.delattr(errno, "ENOTCAPABLE", raising=False)
    names = {c.errno for c in table.FAULTS + table.ORDER + table.ENCODINGS}
    assert "ENOTCAPABLE" in names
    assert {n: freebsd.errno_value(n) for n in names}["ENOTCAPABLE"] == 93
