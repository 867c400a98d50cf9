"""sendfile(2) offset arithmetic as a property: for any file size, start and count, the
return value, *offset, in_fd's and out_fd's offsets and the bytes written follow the man page.

Expected, for a file of `size` bytes read from `start` (= *offset, or in_fd's offset):
ret = clamp(size - start, 0, count); *offset = start + ret (in_fd's offset unchanged), or
in_fd's offset = start + ret when offset is NULL; out_fd's offset advances by ret and
out_fd holds pattern[start:start + ret] at its old offset.
"""
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.abi.memory import PAGE_SIZE
from conformance.abi.sendfile import sendfile
from conformance.fixtures.files import pattern, scratch_file
from conformance.hypothesis_profiles import examples

pytestmark = pytest.mark.requires(os="linux")

sizes = st.integers(0, 3 * PAGE_SIZE)
positions = st.integers(0, 4 * PAGE_SIZE)


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sendfile-arith")


@pytest.mark.clause("LNX-SF-RET-COUNT", "LNX-SF-OFFNULL-FPOS", "LNX-SF-OFF-NOFPOS",
                    "LNX-SF-OUT-FPOS", "LNX-SF-EOF-ZERO", "LNX-SF-COUNT-ZERO")
@settings(max_examples=examples(150), deadline=None)
@given(size=sizes, in_pos=positions, out_pos=st.integers(0, PAGE_SIZE),
       offset=st.none() | positions, count=st.integers(0, 4 * PAGE_SIZE))
def test_sendfile_offsets_follow_the_man_page(scratch_dir, size, in_pos, out_pos, offset, count):
    """Return value, offsets and data agree with the man page's arithmetic."""
    with scratch_file(scratch_dir, pattern(size), os.O_RDONLY) as src, \
            scratch_file(scratch_dir, b"") as dst:
        os.lseek(src, in_pos, os.SEEK_SET)
        os.lseek(dst, out_pos, os.SEEK_SET)
        start = in_pos if offset is None else offset
        expected = max(0, min(count, size - start))

        result = sendfile(dst, src, offset, count)

        assert result.sent == expected
        if offset is None:
            assert os.lseek(src, 0, os.SEEK_CUR) == start + expected
        else:
            assert result.offset == start + expected
            assert os.lseek(src, 0, os.SEEK_CUR) == in_pos
        assert os.lseek(dst, 0, os.SEEK_CUR) == out_pos + expected
        assert os.pread(dst, expected, out_pos) == pattern(expected, start)
