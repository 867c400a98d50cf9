"""splice(2) between two pipes (allowed since 2.6.31, commit 7c77f0b3f920).

fs/splice.c splice_pipe_to_pipe(): whole buffers move from the input pipe to the output pipe; a
length that ends inside a buffer splits it and the rest stays at the head of the input pipe; the
call returns at most what the input pipe holds. A pipe-to-pipe splice runs no rw_verify_area(),
so a length with the sign bit set (SIZE_MAX) is accepted here and moves what is queued.
Page-cache buffers (a file spliced into the first pipe) move through unchanged.
Peers: LTP splice04, gVisor TwoPipes.
"""
import os

import pytest

from conformance.abi.splice import splice
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="linux")


@pytest.fixture
def two_pipes(make_pipe):
    """((in_r, in_w), (out_r, out_w)), the input's reads non-blocking to check emptiness."""
    src, dst = make_pipe(), make_pipe()
    os.set_blocking(src[0], False)
    return src, dst


def drain(r: int) -> bytes:
    """Everything a non-blocking read end holds right now."""
    chunks = []
    while True:
        try:
            chunk = os.read(r, 65536)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.mark.clause("LNX-SP-PIPE-PIPE")
def test_whole_buffers_move_in_order(two_pipes):
    """Three writes (5000 bytes) into the input pipe, len 5000: all move, in order."""
    (in_r, in_w), (out_r, out_w) = two_pipes
    data = pattern(5000)
    for piece in (data[:1000], data[1000:4096], data[4096:]):
        os.write(in_w, piece)
    assert splice(in_r, None, out_w, None, len(data)).count == len(data)
    assert os.read(out_r, 10000) == data
    assert drain(in_r) == b""


@pytest.mark.clause("LNX-SP-PIPE-PIPE")
def test_length_inside_a_buffer_splits_it(two_pipes):
    """200 bytes queued, len 50: the first 50 move, the other 150 stay, in order."""
    (in_r, in_w), (out_r, out_w) = two_pipes
    os.write(in_w, pattern(200))
    assert splice(in_r, None, out_w, None, 50).count == 50
    assert os.read(out_r, 1000) == pattern(50)
    assert drain(in_r) == pattern(150, start=50)


@pytest.mark.clause("LNX-SP-PIPE-PIPE")
def test_returns_at_most_what_the_input_holds(two_pipes):
    """300 bytes queued, len 10000: returns 300 (a short count, not a wait)."""
    (in_r, in_w), (out_r, out_w) = two_pipes
    os.write(in_w, pattern(300))
    assert splice(in_r, None, out_w, None, 10000).count == 300
    assert os.read(out_r, 1000) == pattern(300)


@pytest.mark.clause("LNX-SP-EINVAL-NEGLEN", "LNX-SP-PIPE-PIPE")
def test_size_max_length_is_accepted_between_pipes(two_pipes):
    """len SIZE_MAX (sign bit set) from pipe to pipe: no EINVAL, the 100 queued bytes move."""
    (in_r, in_w), (out_r, out_w) = two_pipes
    os.write(in_w, pattern(100))
    assert splice(in_r, None, out_w, None, -1).count == 100
    assert os.read(out_r, 1000) == pattern(100)


@pytest.mark.clause("LNX-SP-PIPE-PIPE", "LNX-SP-OFF-SEMANTICS")
def test_file_pages_pass_through_two_pipes_into_a_file(make_file, two_pipes):
    """file -> pipe -> pipe -> file: the second file holds the spliced range of the first."""
    src, dst = make_file(pattern(20000), os.O_RDONLY), make_file(b"")
    (in_r, in_w), (out_r, out_w) = two_pipes
    assert splice(src, 1000, in_w, None, 12000).count == 12000
    assert splice(in_r, None, out_w, None, 12000).count == 12000
    assert splice(out_r, None, dst, 0, 12000).count == 12000
    assert os.pread(dst, 20000, 0) == pattern(12000, start=1000)
