"""FreeBSD sendfile(2) *sbytes arithmetic as a property: for any file size, offset, nbytes and
header and trailer iovec sizes, the return value, *sbytes and the bytes the peer reads follow
the man page.

Expected, for a file of `size` bytes, with H header bytes and T trailer bytes:
file part F = 0 when offset >= size, else size - offset when nbytes is 0, else
min(nbytes, size - offset); the call returns 0; *sbytes = H + F + T; the peer reads the headers,
then file[offset:offset + F], then the trailers. Examples with no file data carry no headers,
whose fate there is a separate, source-only clause (FBSD-SF-HDR-DROPPED-WHEN-NO-FILE-DATA).

Every example stays far below the socket buffers (at most about 13 KiB), so a blocking call
never waits on the peer; the sender then shuts down and the receiver reads to EOF, so each
example sees exactly what was sent. Hypothesis prints the failing example's values.
"""
import os
import socket
from contextlib import ExitStack

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conformance.abi.freebsd_sendfile import hdtr, sendfile
from conformance.abi.memory import PAGE_SIZE
from conformance.fixtures.files import pattern, scratch_file
from conformance.fixtures.freebsd_sendfile import read_to_eof
from conformance.fixtures.sockets import tcp_pair
from conformance.hypothesis_profiles import examples

pytestmark = pytest.mark.requires(os="freebsd")

chunk_lists = st.none() | st.lists(st.integers(0, 64), max_size=3)


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fbsd-sendfile-arith")


def chunks(sizes: list[int] | None, tag: int) -> list[bytes] | None:
    """Distinct bytes per chunk (tag + index), so misordered iovecs cannot compare equal."""
    return None if sizes is None else [bytes([tag + i]) * n for i, n in enumerate(sizes)]


@pytest.mark.clause("FBSD-SF-SBYTES-TOTAL", "FBSD-SF-NBYTES-ZERO-TO-EOF", "FBSD-SF-NBYTES-CLAMP",
                    "FBSD-SF-OFFSET-AT-OR-BEYOND-EOF", "FBSD-SF-HDR-BEFORE", "FBSD-SF-TRL-AFTER")
@settings(max_examples=examples(100), deadline=None)
@given(size=st.integers(0, 3 * PAGE_SIZE), offset=st.integers(0, 3 * PAGE_SIZE + 100),
       nbytes=st.integers(0, 4 * PAGE_SIZE), header_sizes=chunk_lists, trailer_sizes=chunk_lists)
def test_sbytes_and_received_bytes_follow_the_man_page(scratch_dir, size, offset, nbytes,
                                                      header_sizes, trailer_sizes):
    """Return value 0, *sbytes = headers + file part + trailers, and those bytes in order."""
    file_part = 0 if offset >= size else (size - offset if nbytes == 0
                                          else min(nbytes, size - offset))
    assume(file_part > 0 or not sum(header_sizes or []))
    headers, trailers = chunks(header_sizes, 0x41), chunks(trailer_sizes, 0x61)
    expected = (b"".join(headers or []) + pattern(file_part, start=offset)
                + b"".join(trailers or []))
    with ExitStack() as stack:
        src = stack.enter_context(scratch_file(scratch_dir, pattern(size), os.O_RDONLY))
        sender, receiver = tcp_pair(stack)
        layout = None if headers is None and trailers is None else hdtr(headers, trailers)

        result = sendfile(src, sender.fileno(), offset, nbytes, layout)

        sender.shutdown(socket.SHUT_WR)
        assert result == (0, len(expected))
        assert read_to_eof(receiver) == expected
