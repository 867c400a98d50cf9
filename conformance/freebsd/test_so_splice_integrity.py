"""SO_SPLICE data integrity: whatever the chunking and sp_max, every byte written arrives exactly
once, in order, on the reader (the first min(sp_max, total)) or on the source (the rest), and the
count equals what the reader got.

Sources: getsockopt(2) SO_SPLICE; socket_splice.c splice_throughput and splice_nonblock (which use
unreported random sizes). Here hypothesis draws the chunk sizes and sp_max, derandomized (a fixed
seed), so a run is repeatable and a failure prints the falsifying example; the assertion messages
repeat it. Each example builds and closes its own sockets (function-scoped fixtures do not reset
between examples).
"""
from contextlib import ExitStack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.abi.so_splice import bytes_spliced
from conformance.deadlines import ARRIVAL
from conformance.fixtures.background import Background
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_splice import spliced
from conformance.fixtures.sockets import recv_exactly
from conformance.hypothesis_profiles import examples

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

CHUNKS = st.lists(st.integers(min_value=1, max_value=16 * 1024), min_size=1, max_size=16)
LIMITS = st.one_of(st.just(0), st.integers(min_value=1, max_value=128 * 1024))


@pytest.mark.clause("FBSD-SPLICE-INTEGRITY-BULK", "FBSD-SPLICE-MAX-UNSPLICE")
@settings(max_examples=examples(25), deadline=None, derandomize=True, database=None)
@given(chunks=CHUNKS, limit=LIMITS)
def test_stream_is_conserved_and_counted(chunks, limit):
    """Chunks written one by one: the reader gets the first min(limit, total) bytes in order,
    the source keeps the rest, and the count is what the reader got."""
    total = sum(chunks)
    data = pattern(total)
    forwarded = total if limit == 0 else min(limit, total)
    example = f"chunks={chunks} sp_max={limit}"
    with ExitStack() as stack:
        sp = spliced(stack, max=limit)

        def write() -> None:
            offset = 0
            for size in chunks:
                sp.writer.sendall(data[offset:offset + size])
                offset += size

        writer = Background(write, "writer")
        got = recv_exactly(sp.reader, forwarded, ARRIVAL)
        rest = recv_exactly(sp.source, total - forwarded, ARRIVAL)
        writer.result(ARRIVAL)
        assert got == data[:forwarded], (
            f"{example}: reader got {len(got)} of {forwarded} bytes "
            f"(equal prefix: {got == data[:len(got)]})")
        assert rest == data[forwarded:], (
            f"{example}: source kept {len(rest)} of {total - forwarded} bytes "
            f"(equal: {rest == data[forwarded:forwarded + len(rest)]})")
        assert bytes_spliced(sp.source) == forwarded, f"{example}: count"
