"""sendfile(2) DESCRIPTION and RETURN VALUE: where data is read from and written to, and the
file offsets afterwards.

- offset NULL: read from in_fd's file offset, which advances by the bytes read;
- offset given: read from *offset, which is set to the byte after the last one read; in_fd's
  file offset is untouched;
- a seekable out_fd's offset advances by the bytes written (data lands at out's offset);
- count 0 and reads at or past EOF return 0; a count beyond EOF returns what is there;
- in_fd == out_fd with an explicit offset is allowed (no overlap check).
"""
import os

import pytest

from conformance.abi.sendfile import sendfile
from conformance.fixtures.files import SMALL, pattern, tell

pytestmark = pytest.mark.requires(os="linux")

SIZE = SMALL


@pytest.mark.clause("LNX-SF-OFFNULL-FPOS", "LNX-SF-OUT-REGULAR")
def test_null_offset_reads_from_and_advances_in_fd_offset(pattern_file, empty_file):
    """With offset NULL, data comes from in_fd's offset, which advances by the return value."""
    os.lseek(pattern_file, 10, os.SEEK_SET)
    assert sendfile(empty_file, pattern_file, None, 10).sent == 10
    assert tell(pattern_file) == 20, "in_fd offset must advance by the bytes read"
    assert os.pread(empty_file, SIZE, 0) == pattern(10, start=10)


@pytest.mark.clause("LNX-SF-OFF-NOFPOS")
def test_offset_pointer_is_updated_and_in_fd_offset_untouched(pattern_file, empty_file):
    """With an offset, reading starts there, *offset moves past the data, in_fd's offset stays."""
    os.lseek(pattern_file, 10, os.SEEK_SET)
    result = sendfile(empty_file, pattern_file, 2, 5)
    assert result.sent == 5
    assert result.offset == 7, "*offset must point after the last byte read"
    assert tell(pattern_file) == 10, "in_fd's own offset must not move when an offset is given"
    assert os.pread(empty_file, SIZE, 0) == pattern(5, start=2)


@pytest.mark.clause("LNX-SF-OUT-FPOS")
def test_data_lands_at_out_fd_offset_which_advances(pattern_file, empty_file):
    """A seekable out_fd is written at its own offset, and that offset advances."""
    os.write(empty_file, b"\xff" * 5)
    assert sendfile(empty_file, pattern_file, None, 5).sent == 5
    assert tell(empty_file) == 10
    assert os.pread(empty_file, SIZE, 0) == b"\xff" * 5 + pattern(5)


@pytest.mark.clause("LNX-SF-COUNT-ZERO")
@pytest.mark.parametrize("offset", [None, 3], ids=["off=NULL", "off=3"])
def test_count_zero_returns_zero_and_moves_nothing(pattern_file, empty_file, offset):
    """count 0 succeeds, returns 0, and leaves every offset where it was."""
    result = sendfile(empty_file, pattern_file, offset, 0)
    assert result == (0, offset)
    assert (tell(pattern_file), tell(empty_file)) == (0, 0)


@pytest.mark.clause("LNX-SF-EOF-ZERO")
@pytest.mark.parametrize("start", [SIZE, SIZE + 100], ids=["at-eof", "past-eof"])
def test_read_at_or_past_eof_returns_zero(pattern_file, empty_file, start):
    """Reading at or past EOF is not an error: the call returns 0."""
    os.lseek(pattern_file, start, os.SEEK_SET)
    assert sendfile(empty_file, pattern_file, None, 5).sent == 0
    assert sendfile(empty_file, pattern_file, start, 5) == (0, start)
    assert tell(empty_file) == 0


@pytest.mark.clause("LNX-SF-RET-COUNT")
def test_count_beyond_eof_returns_bytes_available(pattern_file, empty_file):
    """A count larger than the data returns the bytes actually written (a short count)."""
    assert sendfile(empty_file, pattern_file, None, 1000).sent == SIZE
    assert os.pread(empty_file, 2 * SIZE, 0) == pattern(SIZE)


@pytest.mark.clause("LNX-SF-SELF")
def test_in_fd_may_equal_out_fd(make_file):
    """One regular file as both ends, with an explicit offset: its head is appended to it."""
    fd = make_file(pattern(SIZE))
    os.lseek(fd, SIZE, os.SEEK_SET)
    assert sendfile(fd, fd, 0, SIZE) == (SIZE, SIZE)
    assert os.pread(fd, 3 * SIZE, 0) == pattern(SIZE) * 2
