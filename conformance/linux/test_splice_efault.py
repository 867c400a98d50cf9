"""splice(2) EFAULT: offset pointers the kernel cannot use (not listed in splice(2) ERRORS).

fs/splice.c __do_splice() copies *off_in / *off_out in before the transfer and back out after it:
- an unmapped offset pointer: EFAULT before anything moves;
- a readable but read-only offset pointer (holding 0): the data moves, then the write-back fails,
  so the call reports EFAULT after its side effects, in both directions;
- an offset pointer for a pipe end is refused with ESPIPE before it is ever read.
"""
import errno
import os

import pytest

from conformance.abi.splice import splice_offsets_at
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="linux")


def pipe_holds(r: int) -> bytes:
    """What a non-blocking pipe read end holds right now (b"" when empty)."""
    try:
        return os.read(r, 65536)
    except BlockingIOError:
        return b""


@pytest.mark.clause("LNX-SP-EFAULT-BADPTR")
def test_unmapped_off_in_fails_before_data_moves(pattern_file, make_pipe, unmapped_address):
    """file -> pipe with an unmapped off_in: EFAULT, the pipe stays empty."""
    r, w = make_pipe(nonblock=True)
    expect_errno(lambda: splice_offsets_at(pattern_file, unmapped_address, w, None, 4),
                 errno.EFAULT, "splice with an unmapped off_in")
    assert pipe_holds(r) == b""


@pytest.mark.clause("LNX-SP-EFAULT-BADPTR")
def test_unmapped_off_out_fails_before_data_moves(empty_file, make_pipe, unmapped_address):
    """pipe -> file with an unmapped off_out: EFAULT, the file stays empty, the pipe keeps
    its data."""
    r, w = make_pipe(nonblock=True)
    os.write(w, b"data")
    expect_errno(lambda: splice_offsets_at(r, None, empty_file, unmapped_address, 4),
                 errno.EFAULT, "splice with an unmapped off_out")
    assert os.fstat(empty_file).st_size == 0
    assert pipe_holds(r) == b"data"


@pytest.mark.clause("LNX-SP-EFAULT-ROPTR-DATA-MOVED")
def test_readonly_off_in_fails_after_data_moved(pattern_file, make_pipe, readonly_page):
    """file -> pipe with a read-only off_in holding 0: EFAULT, yet 4 bytes reached the pipe."""
    r, w = make_pipe(nonblock=True)
    expect_errno(lambda: splice_offsets_at(pattern_file, readonly_page, w, None, 4),
                 errno.EFAULT, "splice with a read-only off_in")
    assert pipe_holds(r) == pattern(4), "the pipe shows whether data moved"
    assert os.lseek(pattern_file, 0, os.SEEK_CUR) == 0, "with off_in given, the file offset stays"


@pytest.mark.clause("LNX-SP-EFAULT-ROPTR-DATA-MOVED")
def test_readonly_off_out_fails_after_data_moved(empty_file, make_pipe, readonly_page):
    """pipe -> file with a read-only off_out holding 0: EFAULT, yet the file holds the 4 bytes."""
    r, w = make_pipe(nonblock=True)
    os.write(w, b"data")
    expect_errno(lambda: splice_offsets_at(r, None, empty_file, readonly_page, 4),
                 errno.EFAULT, "splice with a read-only off_out")
    assert os.pread(empty_file, 16, 0) == b"data", "the file shows whether data moved"
    assert pipe_holds(r) == b""


@pytest.mark.clause("LNX-SP-ESPIPE-PIPEOFF")
def test_offset_pointer_for_a_pipe_is_never_read(empty_file, make_pipe, unmapped_address):
    """An unmapped off_in for a pipe fd_in: ESPIPE, not EFAULT (the pointer is not read)."""
    r, w = make_pipe()
    os.write(w, b"data")
    expect_errno(lambda: splice_offsets_at(r, unmapped_address, empty_file, None, 4),
                 errno.ESPIPE, "splice with an unmapped off_in on a pipe")
