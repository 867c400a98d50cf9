"""The splice(2) binding: constants, argument passing, offsets written back, the transcript.

Runs without root on Linux (pipes and files only); skipped elsewhere, where libc has no splice.
"""
import errno
import os
import sys

import pytest

if sys.platform != "linux":
    pytest.skip("splice(2) is Linux-only", allow_module_level=True)

from conformance.abi import memory, transcript
from conformance.abi import splice as sp


@pytest.fixture
def recording():
    t = transcript.begin()
    yield t
    transcript.end()


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def file_fd(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"abcdefgh")
    yield fd
    os.close(fd)


def test_flag_values_match_the_uapi_header():
    assert (sp.SPLICE_F_MOVE, sp.SPLICE_F_NONBLOCK, sp.SPLICE_F_MORE, sp.SPLICE_F_GIFT) == (
        1, 2, 4, 8)
    assert sp.SPLICE_F_ALL == 0x0F == (
        sp.SPLICE_F_MOVE | sp.SPLICE_F_NONBLOCK | sp.SPLICE_F_MORE | sp.SPLICE_F_GIFT)


@pytest.mark.parametrize("name", ["SPLICE_F_MOVE", "SPLICE_F_NONBLOCK", "SPLICE_F_MORE"])
def test_flags_agree_with_python_os_module(name):
    if not hasattr(os, name):
        pytest.skip(f"os.{name} needs Python 3.10+")
    assert getattr(sp, name) == getattr(os, name)


def test_spliced_is_a_named_triple():
    result = sp.Spliced(3, None, 7)
    assert result == (3, None, 7)
    assert (result.count, result.off_in, result.off_out) == (3, None, 7)


def test_pipe_to_pipe_splice_works_without_privileges(pipe):
    r, w = pipe
    r2, w2 = os.pipe()
    try:
        os.write(w, b"hello")
        assert sp.splice(r, None, w2, None, 5) == sp.Spliced(5, None, None)
        assert os.read(r2, 16) == b"hello"
    finally:
        os.close(r2)
        os.close(w2)


def test_off_in_is_written_back_and_file_offset_kept(file_fd, pipe):
    r, w = pipe
    assert sp.splice(file_fd, 2, w, None, 3) == sp.Spliced(3, 5, None)
    assert os.read(r, 16) == b"cde"
    assert os.lseek(file_fd, 0, os.SEEK_CUR) == 8


def test_off_out_is_written_back(file_fd, pipe):
    r, w = pipe
    os.write(w, b"XY")
    assert sp.splice(r, None, file_fd, 1, 2) == sp.Spliced(2, None, 3)
    assert os.pread(file_fd, 16, 0) == b"aXYdefgh"


def test_zero_length_reaches_the_kernel_as_zero():
    assert sp.splice(-1, None, -1, None, 0) == sp.Spliced(0, None, None)


def test_negative_length_reaches_the_kernel_as_size_max(file_fd, pipe):
    """-1 is passed as SIZE_MAX: the kernel's sign check on the file side answers EINVAL."""
    r, w = pipe
    os.write(w, b"x")
    with pytest.raises(OSError) as info:
        sp.splice(r, None, file_fd, None, -1)
    assert info.value.errno == errno.EINVAL


def test_errors_carry_the_real_errno():
    with pytest.raises(OSError) as info:
        sp.splice(-1, None, -1, None, 1)
    assert info.value.errno == errno.EBADF


def test_flags_are_passed_as_unsigned_int():
    """-1 becomes 0xffffffff (every bit set), which the kernel refuses before looking at fds."""
    with pytest.raises(OSError) as info:
        sp.splice(-1, None, -1, None, 1, -1)
    assert info.value.errno == errno.EINVAL


def test_raw_pointer_variant_accepts_null_and_real_addresses(file_fd, pipe):
    r, w = pipe
    os.lseek(file_fd, 0, os.SEEK_SET)
    assert sp.splice_offsets_at(file_fd, None, w, None, 2) == 2
    assert os.read(r, 16) == b"ab"
    with memory.readonly_page() as page, pytest.raises(OSError) as info:
        sp.splice_offsets_at(file_fd, page, w, None, 1)
    assert info.value.errno == errno.EFAULT


def test_every_call_is_recorded(recording, pipe):
    r, w = pipe
    os.write(w, b"abc")
    r2, w2 = os.pipe()
    try:
        sp.splice(r, None, w2, None, 3, sp.SPLICE_F_MOVE)
        with pytest.raises(OSError):
            sp.splice(-1, None, -1, None, 1)
    finally:
        os.close(r2)
        os.close(w2)
    lines = recording.format().splitlines()
    assert lines[0] == (f"splice(fd_in={r}, off_in=None, fd_out={w2}, off_out=None, len=3, "
                        f"flags='0x1') = Spliced(count=3, off_in=None, off_out=None)")
    assert lines[1].endswith("= -1 EBADF (Bad file descriptor)")
