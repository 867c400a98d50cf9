"""FreeBSD sendfile(2) ABI, pinned on any OS: every struct size and offset and every constant
the FreeBSD sendfile suite uses, against the values in freebsd/freebsd-src headers (LP64: amd64
and arm64). A typo in conformance/abi/freebsd_sendfile.py fails here, on Linux CI, long before a
FreeBSD run. Also: the binding's marshalling checked against a fake libc function, and the suite
collecting on this OS with every test skipped for the OS reason.

Header values, quoted from freebsd/freebsd-src:
  sys/sys/socket.h    struct sf_hdtr { struct iovec *headers; int hdr_cnt;
                                       struct iovec *trailers; int trl_cnt; };
                      SF_NODISKIO 0x1, SF_MNOWAIT 0x2, SF_SYNC 0x4, SF_USER_READAHEAD 0x8,
                      SF_NOCACHE 0x10, SF_FLAGS(rh, flags) (((rh) << 16) | (flags)),
                      SF_READAHEAD(flags) ((flags) >> 16)
  sys/sys/_iovec.h    struct iovec { void *iov_base; size_t iov_len; };
  sys/sys/uio.h       UIO_MAXIOV 1024
  sys/sys/mman.h      SHM_ANON ((char *)1)
  sys/sys/capsicum.h  CAPRIGHT(idx, bit) ((1ULL << (57 + (idx))) | (bit)); CAP_READ 0x1,
                      CAP_WRITE 0x2, CAP_SEEK_TELL 0x4, CAP_SEEK (CAP_SEEK_TELL | 0x8),
                      CAP_PREAD (CAP_SEEK | CAP_READ), CAP_FSTAT 0x80000,
                      CAP_GETSOCKOPT 0x400000000, CAP_RECV CAP_READ, CAP_SEND CAP_WRITE
  sys/sys/caprights.h CAP_RIGHTS_VERSION 0; struct cap_rights { uint64_t cr_rights[2]; }
  sys/sys/errno.h     see FREEBSD_ERRNO below
"""
import ctypes
import errno
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.abi import freebsd, transcript
from conformance.abi import freebsd_sendfile as sf
from conformance.checks import expect_errno

ON_FREEBSD = platform.system() == "FreeBSD"
SUITE = Path(sf.__file__).resolve().parent.parent / "freebsd"

# sys/sys/errno.h: every errno the FreeBSD sendfile suite expects or its catalog names.
FREEBSD_ERRNO = {
    "EINTR": 4, "EIO": 5, "EBADF": 9, "EFAULT": 14, "EBUSY": 16, "EINVAL": 22, "EPIPE": 32,
    "EAGAIN": 35, "ENOTSOCK": 38, "EOPNOTSUPP": 45, "ECONNRESET": 54, "ENOBUFS": 55,
    "ENOTCONN": 57, "ENOTCAPABLE": 93, "EINTEGRITY": 97,
}


def layout(struct) -> list[tuple[str, int, int]]:
    return [(name, getattr(struct, name).offset, getattr(struct, name).size)
            for name, _ in struct._fields_]


def test_sf_hdtr_is_32_bytes_with_fields_at_0_8_16_24():
    assert ctypes.sizeof(sf.SfHdtr) == 32
    assert ctypes.alignment(sf.SfHdtr) == 8
    assert layout(sf.SfHdtr) == [("headers", 0, 8), ("hdr_cnt", 8, 4),
                                 ("trailers", 16, 8), ("trl_cnt", 24, 4)]


def test_iovec_is_16_bytes():
    assert ctypes.sizeof(freebsd.Iovec) == 16
    assert layout(freebsd.Iovec) == [("iov_base", 0, 8), ("iov_len", 8, 8)]


def test_iovec_arrays_are_contiguous_and_hold_the_chunks():
    arr = sf.iovecs([b"ab", b"", b"xyz"])
    assert ctypes.sizeof(arr.array) == 3 * 16 and arr.count == 3
    got = [ctypes.string_at(v.iov_base, v.iov_len) for v in arr.array]
    assert got == [b"ab", b"", b"xyz"]
    assert all(v.iov_base for v in arr.array), "a zero-length chunk still needs a base"


def test_hdtr_points_at_its_arrays_and_counts_them():
    h = sf.hdtr([b"H1", b"H22"], None)
    assert h.struct.headers == h._headers.address and h.struct.hdr_cnt == 2
    assert h.struct.trailers is None and h.struct.trl_cnt == 0
    raw = sf.Hdtr(headers=2**64 - 1, hdr_cnt=-1)
    assert (raw.struct.headers, raw.struct.hdr_cnt) == (2**64 - 1, -1)


@pytest.mark.parametrize("name, value", [
    ("SF_NODISKIO", 0x01), ("SF_MNOWAIT", 0x02), ("SF_SYNC", 0x04),
    ("SF_USER_READAHEAD", 0x08), ("SF_NOCACHE", 0x10), ("SF_READAHEAD_SHIFT", 16),
    ("UIO_MAXIOV", 1024), ("SSIZE_MAX", 2**63 - 1), ("SIZE_MAX", 2**64 - 1), ("SHM_ANON", 1),
])
def test_constants_match_the_headers(name, value):
    assert getattr(sf, name) == value


def test_sf_flags_packs_readahead_above_the_flag_bits():
    assert sf.SF_FLAGS(0, 0) == 0
    assert sf.SF_FLAGS(16, sf.SF_NOCACHE) == 0x0010_0010  # sendfile(2)'s own example
    assert sf.SF_FLAGS(10, sf.SF_NODISKIO) == (10 << 16) | 1
    assert sf.SF_FLAGS(0xFFFF, 0xFFFF) == 0xFFFF_FFFF
    for rh, fl in [(0, 0x10), (10, 0x9), (0x7FFF, 0xFFFF)]:
        packed = sf.SF_FLAGS(rh, fl)
        assert (packed >> 16, packed & 0xFFFF) == (rh, fl)  # the kernel's SF_READAHEAD


@pytest.mark.parametrize("rh, fl", [(0x10000, 0), (0, 0x10000), (-1, 0), (0, -1)])
def test_sf_flags_refuses_values_spilling_into_the_other_half(rh, fl):
    with pytest.raises(ValueError):
        sf.SF_FLAGS(rh, fl)


def test_flags_reach_the_kernel_as_a_signed_c_int():
    assert sf._c_int(0x7FFF_FFFF) == 2**31 - 1
    assert sf._c_int(0x8000_0000) == -2**31
    assert sf._c_int(0xFFFF_FFFF) == -1
    with pytest.raises(ValueError):
        sf._c_int(2**32)


@pytest.mark.parametrize("name, value", [
    ("CAP_READ", 0x0200000000000001), ("CAP_WRITE", 0x0200000000000002),
    ("CAP_SEEK_TELL", 0x0200000000000004), ("CAP_SEEK", 0x020000000000000C),
    ("CAP_PREAD", 0x020000000000000D), ("CAP_FSTAT", 0x0200000000080000),
    ("CAP_GETSOCKOPT", 0x0200000400000000), ("CAP_RECV", 0x0200000000000001),
    ("CAP_SEND", 0x0200000000000002), ("CAP_RIGHTS_VERSION", 0),
])
def test_capsicum_rights_match_the_header(name, value):
    assert getattr(sf, name) == value


def test_cap_rights_t_is_two_words_marked_per_index():
    assert ctypes.sizeof(sf.CapRights) == 16
    assert list(sf.cap_rights().cr_rights) == [1 << 57, 1 << 58]  # CAP_NONE
    assert list(sf.cap_rights(sf.CAP_PREAD, sf.CAP_FSTAT).cr_rights) == [
        0x020000000008000D, 1 << 58]


def test_errno_numbers_match_sys_errno_h():
    assert sf.ENOTCAPABLE == (errno.ENOTCAPABLE if hasattr(errno, "ENOTCAPABLE") else 93)
    if ON_FREEBSD:
        for name, value in FREEBSD_ERRNO.items():
            assert getattr(errno, name) == value, name
    for name, value in FREEBSD_ERRNO.items():  # the shared table agrees where it has the name
        assert freebsd.ERRNO.get(name, value) == value, f"abi/freebsd.py ERRNO[{name}]"


# --- the binding's marshalling, against a fake libc sendfile ----------------------------------

class FakeSendfile:
    """Stands in for libc's sendfile: records what it was given, writes *sbytes, sets errno."""

    def __init__(self, ret: int, err: int = 0, write_sbytes: int | None = None) -> None:
        self.ret, self.err, self.write_sbytes = ret, err, write_sbytes
        self.seen: dict = {}

    def __call__(self, fd, s, offset, nbytes, hdtr_ptr, sbytes_ptr, flags):
        self.seen = {"fd": fd, "s": s, "offset": offset, "nbytes": nbytes, "flags": flags,
                     "sbytes_ptr": sbytes_ptr, "hdtr_ptr": hdtr_ptr}
        if hdtr_ptr not in (None, 2**64 - 1):
            h = ctypes.cast(hdtr_ptr, ctypes.POINTER(sf.SfHdtr)).contents
            heads = ctypes.cast(h.headers, ctypes.POINTER(freebsd.Iovec))
            self.seen["headers"] = [ctypes.string_at(heads[i].iov_base, heads[i].iov_len)
                                    for i in range(h.hdr_cnt)]
            self.seen["trl_cnt"] = h.trl_cnt
        if self.write_sbytes is not None and sbytes_ptr:
            ctypes.cast(sbytes_ptr, ctypes.POINTER(ctypes.c_int64))[0] = self.write_sbytes
        ctypes.set_errno(self.err)
        return self.ret


@pytest.fixture
def fake(monkeypatch):
    def install(*args, **kwargs) -> FakeSendfile:
        f = FakeSendfile(*args, **kwargs)
        monkeypatch.setattr(sf, "_sendfile_fn", lambda: f)
        return f
    transcript.begin()
    yield install
    transcript.end()


def test_success_returns_ret_and_sbytes_and_passes_every_argument(fake):
    f = fake(0, write_sbytes=70)
    h = sf.hdtr([b"AB", b"C"], None)
    assert sf.sendfile(3, 4, 5, 6, h, flags=sf.SF_FLAGS(0x8000, sf.SF_NOCACHE)) == (0, 70)
    assert {k: f.seen[k] for k in ("fd", "s", "offset", "nbytes", "flags")} == {
        "fd": 3, "s": 4, "offset": 5, "nbytes": 6, "flags": -2**31 | 0x10}
    assert f.seen["headers"] == [b"AB", b"C"] and f.seen["trl_cnt"] == 0
    entry = transcript._current.entries[-1]
    assert entry.call == "sendfile" and entry.args["*sbytes"] == 70


def test_failure_after_partial_progress_raises_with_sbytes(fake):
    fake(-1, errno.EAGAIN, write_sbytes=123)
    exc = expect_errno(lambda: sf.sendfile(3, 4, 0, 0), errno.EAGAIN, "fake EAGAIN")
    assert isinstance(exc, sf.SendfileError) and exc.sbytes == 123
    assert transcript._current.entries[-1].errno == errno.EAGAIN


def test_sbytes_never_written_back_is_none(fake):
    fake(-1, errno.EINVAL)
    exc = expect_errno(lambda: sf.sendfile(3, 4, -1, 0), errno.EINVAL, "fake EINVAL")
    assert exc.sbytes is None


def test_null_and_raw_pointers_pass_through(fake):
    f = fake(0, write_sbytes=9)
    assert sf.sendfile(3, 4, 0, -1, sbytes=False) == (0, None)
    assert f.seen["sbytes_ptr"] is None and f.seen["hdtr_ptr"] is None
    assert f.seen["nbytes"] == 2**64 - 1, "nbytes is a size_t"
    f = fake(0)  # a raw sbytes address is only passed on, never written here
    assert sf.sendfile(3, 4, 0, 0, 2**64 - 1, sbytes=0x1000) == (0, None)
    assert (f.seen["hdtr_ptr"], f.seen["sbytes_ptr"]) == (2**64 - 1, 0x1000)


@pytest.mark.skipif(ON_FREEBSD, reason="checks the refusal off FreeBSD")
@pytest.mark.parametrize("call", [
    lambda: sf.sendfile(0, 1, 0, 0), lambda: sf.cap_rights_limit(0, sf.CAP_READ),
    lambda: sf.shm_open(None, 2), lambda: sf.shm_unlink("/x"),
], ids=["sendfile", "cap_rights_limit", "shm_open", "shm_unlink"])
def test_bindings_refuse_to_run_off_freebsd(call):
    """glibc has its own sendfile with Linux's signature: never reach it with these args."""
    with pytest.raises(sf.NotFreeBSD):
        call()


# --- the suite itself on this OS ------------------------------------------------------------

@pytest.mark.skipif(ON_FREEBSD, reason="on FreeBSD the suite runs instead of skipping")
def test_freebsd_suite_collects_and_skips_every_test_for_the_os(tmp_path):
    junit = tmp_path / "junit.xml"
    files = sorted(str(p) for p in SUITE.glob("test_sendfile_*.py"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", "-q",
         f"--junitxml={junit}", *files],
        check=False, capture_output=True, text=True, cwd=SUITE.parent.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    verdicts = {}  # node -> [(outcome tag, message)], properties and captured output left out
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdicts[f"{case.get('classname')}::{case.get('name')}"] = [
            (e.tag, e.get("message")) for e in case
            if e.tag not in ("properties", "system-out", "system-err")]
    assert len(files) >= 10 and len(verdicts) >= 80, (files, len(verdicts))
    wanted = [("skipped", f"requires OS freebsd (running {platform.system().lower()})")]
    odd = {node: v for node, v in verdicts.items() if v != wanted}
    assert not odd, odd
