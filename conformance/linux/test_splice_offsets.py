"""splice(2) DESCRIPTION and RETURN VALUE: where the non-pipe side reads or writes, the offsets
afterwards, and end of input.

- off_in / off_out given: data is read from (written at) *off, *off advances by the return
  value, the descriptor's file offset stays (the man page's EXAMPLES: "Hello, world" spliced at
  off_out 10 leaves off_out at 22);
- offset NULL: the descriptor's file offset is used and advances;
- 0 means end of input: a file read at or past its end, an empty pipe without writers;
  a request past the end of a file returns what is there.
"""
import os

import pytest

from conformance.abi.splice import Spliced, splice
from conformance.fixtures.files import SMALL, pattern, tell

pytestmark = pytest.mark.requires(os="linux")

SIZE = SMALL


@pytest.mark.clause("LNX-SP-OFF-SEMANTICS")
def test_off_in_is_read_from_and_advanced(pattern_file, make_pipe):
    """file -> pipe, off_in 3, len 4: returns 4, off_in 7, file offset 0, pipe holds bytes 3..6."""
    r, w = make_pipe()
    assert splice(pattern_file, 3, w, None, 4) == Spliced(4, 7, None)
    assert tell(pattern_file) == 0, "with off_in given, the file offset must not move"
    assert os.read(r, 16) == pattern(4, start=3)


@pytest.mark.clause("LNX-SP-OFF-SEMANTICS")
def test_off_out_is_written_at_and_advanced(empty_file, make_pipe):
    """The man page example: "Hello, world" spliced at off_out 10 leaves off_out at 22."""
    r, w = make_pipe()
    os.write(w, b"Hello, world")
    assert splice(r, None, empty_file, 10, 12) == Spliced(12, None, 22)
    assert tell(empty_file) == 0, "with off_out given, the file offset must not move"
    assert os.pread(empty_file, 64, 0) == b"\0" * 10 + b"Hello, world"


@pytest.mark.clause("LNX-SP-OFFNULL-FPOS")
def test_null_off_in_uses_and_advances_file_offset(pattern_file, make_pipe):
    """file -> pipe with off_in NULL: reads at the file offset (10), which advances by 5."""
    r, w = make_pipe()
    os.lseek(pattern_file, 10, os.SEEK_SET)
    assert splice(pattern_file, None, w, None, 5) == Spliced(5, None, None)
    assert tell(pattern_file) == 15
    assert os.read(r, 16) == pattern(5, start=10)


@pytest.mark.clause("LNX-SP-OFFNULL-FPOS")
def test_null_off_out_uses_and_advances_file_offset(empty_file, make_pipe):
    """pipe -> file with off_out NULL: writes at the file offset (5), which advances by 4."""
    r, w = make_pipe()
    os.write(empty_file, b"\xff" * 5)
    os.write(w, b"data")
    assert splice(r, None, empty_file, None, 4).count == 4
    assert tell(empty_file) == 9
    assert os.pread(empty_file, 64, 0) == b"\xff" * 5 + b"data"


@pytest.mark.clause("LNX-SP-EOF", "LNX-SP-OFF-SEMANTICS")
def test_request_past_end_of_file_returns_what_is_there(pattern_file, make_pipe):
    """off_in SIZE - 10, len 100: returns 10 and off_in ends at SIZE."""
    r, w = make_pipe()
    assert splice(pattern_file, SIZE - 10, w, None, 100) == Spliced(10, SIZE, None)
    assert os.read(r, 200) == pattern(10, start=SIZE - 10)


@pytest.mark.clause("LNX-SP-EOF")
@pytest.mark.parametrize("start", [SIZE, SIZE + 100], ids=["at-eof", "past-eof"])
def test_file_at_or_past_end_gives_zero(pattern_file, make_pipe, start):
    """Reading a file at or past its end returns 0, by offset pointer or by file offset."""
    _, w = make_pipe()
    assert splice(pattern_file, start, w, None, 5) == Spliced(0, start, None)
    os.lseek(pattern_file, start, os.SEEK_SET)
    assert splice(pattern_file, None, w, None, 5).count == 0
    assert tell(pattern_file) == start


@pytest.mark.clause("LNX-SP-EOF")
@pytest.mark.parametrize("out_kind", ["file", "pipe"])
def test_empty_pipe_without_writers_gives_zero(empty_file, make_pipe, out_kind):
    """An empty input pipe whose write end is closed: 0 (end of input), without waiting."""
    r, w = make_pipe()
    os.close(w)
    out = empty_file if out_kind == "file" else make_pipe()[1]
    assert splice(r, None, out, None, 5).count == 0
