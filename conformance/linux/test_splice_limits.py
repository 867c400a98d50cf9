"""splice(2) size limits: the pipe's free space and RLIMIT_FSIZE.

- a file -> pipe splice moves at most the pipe's free space (fs/splice.c do_splice_read() clamps
  len to the free slots, one page each), so a request larger than the pipe returns a short count
  that is not 0; checked for pipes of one page, the default 64 KiB and 1 MiB;
- a pipe -> file splice at or past RLIMIT_FSIZE fails with EFBIG, raises SIGXFSZ and leaves the
  data in the pipe; one that starts below the limit is cut short at it (fs/splice.c
  iter_file_splice_write(), mm/filemap.c generic_write_check_limits()). Peer: gVisor
  FromPipeMaxFileSize.
The MAX_RW_COUNT clamp of do_splice_read() is unreachable behind the pipe clamp (catalog:
LNX-SP-MAXRW).
"""
import errno
import fcntl
import os
import signal

import pytest

from conformance.abi.memory import PAGE_SIZE
from conformance.abi.splice import splice
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.pipes import capacity

pytestmark = pytest.mark.requires(os="linux")

BIG_FILE = 2 * 2**20
FSIZE_LIMIT = 1 << 20


@pytest.fixture
def big_file(make_file) -> int:
    return make_file(pattern(BIG_FILE), os.O_RDONLY)


@pytest.mark.clause("LNX-SP-PARTIAL-PIPECAP")
@pytest.mark.parametrize("pipe_size", [PAGE_SIZE, 65536, 2**20], ids=lambda n: f"pipe={n}")
@pytest.mark.parametrize("start", [0, 100], ids=lambda n: f"off_in={n}")
def test_file_to_pipe_moves_at_most_the_pipe_capacity(big_file, make_pipe, pipe_size, start):
    """A request of the whole file into an empty pipe returns 0 < count <= the pipe's size, and
    off_in advances by exactly that count."""
    _, w = make_pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, pipe_size)
    size = capacity(w)
    result = splice(big_file, start, w, None, BIG_FILE)
    assert 0 < result.count <= size, (
        f"moved {result.count} bytes into an empty pipe of {size} bytes")
    assert result.off_in == start + result.count


@pytest.mark.clause("LNX-SP-EFBIG")
def test_write_at_rlimit_fsize_gives_efbig_and_sigxfsz(make_file, make_pipe, fsize_limit,
                                                       blocked_signals):
    """pipe -> file at off_out == RLIMIT_FSIZE: EFBIG, SIGXFSZ, the pipe keeps its 10 bytes."""
    dst = make_file(b"")
    r, w = make_pipe()
    os.write(w, pattern(10))
    fsize_limit(FSIZE_LIMIT)
    expect_errno(lambda: splice(r, None, dst, FSIZE_LIMIT, 10), errno.EFBIG,
                 "splice writing at RLIMIT_FSIZE")
    assert blocked_signals.take(signal.SIGXFSZ), "SIGXFSZ was not raised"
    assert os.read(r, 64) == pattern(10), "the refused bytes must stay in the pipe"


@pytest.mark.clause("LNX-SP-EFBIG", "LNX-SP-OFFNULL-FPOS")
def test_write_crossing_rlimit_fsize_is_cut_at_the_limit(make_file, make_pipe, fsize_limit,
                                                         blocked_signals):
    """pipe -> file 4 bytes below RLIMIT_FSIZE, len 10: 4 bytes written, 6 stay in the pipe.
    (SIGXFSZ may be raised too, see the catalog notes; blocked_signals keeps it harmless.)"""
    dst = make_file(b"")
    os.lseek(dst, FSIZE_LIMIT - 4, os.SEEK_SET)
    r, w = make_pipe()
    os.write(w, pattern(10))
    fsize_limit(FSIZE_LIMIT)
    assert splice(r, None, dst, None, 10).count == 4
    assert os.lseek(dst, 0, os.SEEK_CUR) == FSIZE_LIMIT
    assert os.read(r, 64) == pattern(6, start=4)
