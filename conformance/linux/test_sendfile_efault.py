"""sendfile(2) ERRORS, EFAULT: "Bad address" for an offset pointer the kernel cannot use.

- an unmapped offset pointer: EFAULT before anything moves (the kernel copies *offset in first);
- a readable but read-only offset pointer: the data IS transferred, then writing *offset back
  fails, so the call reports EFAULT after its side effects (fs/read_write.c sendfile64:
  put_user() after do_sendfile()). LTP sendfile04 checks EFAULT here with an empty input
  file, so it never sees the data move.
"""
import errno
import os

import pytest

from conformance.abi.sendfile import sendfile_offset_at
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern, tell

pytestmark = pytest.mark.requires(os="linux")


@pytest.mark.clause("LNX-SF-EFAULT-BADPTR")
def test_unmapped_offset_pointer_fails_with_efault_and_moves_nothing(pattern_file, empty_file,
                                                                    unmapped_address):
    """An unmapped offset pointer: EFAULT, out_fd untouched."""
    expect_errno(lambda: sendfile_offset_at(empty_file, pattern_file, unmapped_address, 4),
                 errno.EFAULT, "sendfile with an unmapped offset pointer")
    assert tell(empty_file) == 0
    assert os.fstat(empty_file).st_size == 0


@pytest.mark.clause("LNX-SF-EFAULT-ROPTR-DATA-MOVED")
def test_readonly_offset_pointer_fails_after_data_moved(pattern_file, empty_file, readonly_page):
    """A read-only offset pointer (holding 0): EFAULT, yet the 4 bytes reached out_fd."""
    expect_errno(lambda: sendfile_offset_at(empty_file, pattern_file, readonly_page, 4),
                 errno.EFAULT, "sendfile with a read-only offset pointer")
    assert tell(empty_file) == 4, "out_fd offset shows whether data moved"
    assert os.pread(empty_file, 64, 0) == pattern(4)
