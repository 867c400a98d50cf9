"""sendfile(2) size limits: the per-call clamp, the filesystem's maximum file size, and
RLIMIT_FSIZE.

- one call moves at most MAX_RW_COUNT = INT_MAX & PAGE_MASK bytes (sendfile(2) NOTES:
  0x7ffff000 with 4 KiB pages), on 32- and 64-bit alike;
- a start position at or past the filesystems' maximum file size (the smaller of in's and
  out's s_maxbytes) fails with EOVERFLOW; a range that only ends past it is truncated there
  (sendfile(2) ERRORS; fs/read_write.c do_sendfile());
- writing a regular out_fd at or past RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ; a write
  that starts below the limit is cut short at it (mm/filemap.c generic_write_check_limits()).
"""
import errno
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.abi.memory import PAGE_SIZE
from conformance.abi.sendfile import max_rw_count, sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import max_file_size, pattern

pytestmark = pytest.mark.requires(os="linux")

THREE_GIB = 3 * 2**30
FSIZE_LIMIT = 1 << 20


@pytest.mark.clause("LNX-SF-MAXRW")
@pytest.mark.slow("moves 2 GiB: 30 s under TCG where tmpfs splice-read zero-fills (6.1)")
def test_one_call_moves_at_most_max_rw_count(fd_closer, fd_factory):
    """A 3 GiB request from a sparse file to /dev/null returns INT_MAX & PAGE_MASK bytes.
    The file is a memfd (tmpfs): do_sendfile() clamps the count before it reads, whatever the
    file, and tmpfs reads its holes from the zero page where a disk filesystem first fills 2 GiB
    of page cache (3 s of CPU on ext4 here, far longer under TCG)."""
    src = fd_closer.add(os.memfd_create("max-rw-count"))
    os.ftruncate(src, THREE_GIB)
    assert sendfile(fd_factory("devnull"), src, 0, THREE_GIB) == (
        max_rw_count(PAGE_SIZE), max_rw_count(PAGE_SIZE))


@pytest.fixture
def fs_limit(tmp_path) -> int:
    """The maximum file size of the test directory's filesystem; skip where it is 2^63-1."""
    limit = max_file_size(tmp_path)
    if limit >= 2**63 - 1:
        pytest.skip(f"filesystem of {tmp_path} has no file size limit below 2^63-1 (tmpfs?): "
                    "EOVERFLOW cannot be reached")
    return limit


@pytest.mark.clause("LNX-SF-EOVERFLOW-MAXBYTES")
def test_start_at_filesystem_limit_gives_eoverflow(make_file, fs_limit):
    """offset == s_maxbytes: EOVERFLOW, nothing written."""
    src, dst = make_file(b"", os.O_RDWR), make_file(b"")
    os.ftruncate(src, fs_limit)
    expect_errno(lambda: sendfile(dst, src, fs_limit, 1), errno.EOVERFLOW,
                 f"sendfile at offset {fs_limit:#x} (the filesystem's maximum file size)")
    assert os.fstat(dst).st_size == 0


@pytest.fixture
def source_past_limit(fs_limit) -> Iterator[int]:
    """A sparse file of fs_limit + 100 bytes, read-only, on a filesystem that holds files that
    big (tmpfs /dev/shm): the range past fs_limit has data, so only the kernel's clamp to the
    smaller s_maxbytes can stop a read there."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or max_file_size(shm) <= fs_limit + 100:
        pytest.skip(f"no filesystem here holds a file past {fs_limit:#x} bytes (/dev/shm "
                    "missing or limited): the clamp cannot be told from end of file")
    fd, path = tempfile.mkstemp(dir=shm)
    try:
        os.ftruncate(fd, fs_limit + 100)
        os.close(fd)
        fd = os.open(path, os.O_RDONLY)
        yield fd
    finally:
        os.close(fd)
        os.unlink(path)


@pytest.mark.clause("LNX-SF-EOVERFLOW-MAXBYTES")
def test_range_ending_past_filesystem_limit_is_truncated(make_file, fs_limit, source_past_limit):
    """in_fd on tmpfs with data past out_fd's s_maxbytes, offset = limit - 10, count 100: the
    call is cut at the smaller s_maxbytes: 10 bytes move, *offset ends at the limit."""
    dst = make_file(b"")
    assert sendfile(dst, source_past_limit, fs_limit - 10, 100) == (10, fs_limit)
    assert os.fstat(dst).st_size == 10


@pytest.mark.clause("LNX-SF-EFBIG")
def test_write_at_rlimit_fsize_gives_efbig_and_sigxfsz(make_file, fsize_limit, blocked_signals):
    """out_fd positioned at RLIMIT_FSIZE: EFBIG and SIGXFSZ."""
    src, dst = make_file(pattern(64), os.O_RDONLY), make_file(b"")
    os.lseek(dst, FSIZE_LIMIT, os.SEEK_SET)
    fsize_limit(FSIZE_LIMIT)
    expect_errno(lambda: sendfile(dst, src, None, 10), errno.EFBIG,
                 "sendfile writing at RLIMIT_FSIZE")
    assert blocked_signals.take(signal.SIGXFSZ), "SIGXFSZ was not raised"


@pytest.mark.clause("LNX-SF-EFBIG")
def test_write_crossing_rlimit_fsize_is_cut_at_the_limit(make_file, fsize_limit):
    """out_fd 4 bytes below RLIMIT_FSIZE, count 10: 4 bytes are written."""
    src, dst = make_file(pattern(64), os.O_RDONLY), make_file(b"")
    os.lseek(dst, FSIZE_LIMIT - 4, os.SEEK_SET)
    fsize_limit(FSIZE_LIMIT)
    assert sendfile(dst, src, None, 10).sent == 4
