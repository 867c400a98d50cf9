"""SO_SPLICE sp_max edges: sp_max 0 sets no limit, and reaching a limit sets no error.

Sources: getsockopt(2) SO_SPLICE ("If sp_max is greater than zero, the socket pair will
automatically be unspliced ..."); uipc_socket.c so_splice_alloc() (a non-positive max is stored as
-1: unlimited) and so_splice_xfer() (the limit only calls so_unsplice(); OpenBSD instead sets
EFBIG). The boundaries max - 1 / max / max + 1 are test_so_splice_limit_bytes.py; a negative
sp_max (EINVAL) is a row of test_so_splice_errors.py. Cases: sp_max 0 forwards 256 KiB, far past
any small limit; after sp_max is reached SO_ERROR reads 0 on the source and on the sink, and the
byte past the limit is read from the source without error.
"""
import errno

import pytest

from conformance.abi.so_splice import bytes_spliced, socket_error
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

STREAM = 256 * 1024


@pytest.mark.clause("FBSD-SPLICE-MAX-ZERO-UNLIMITED", "FBSD-SPLICE-GET-COUNT")
def test_zero_max_forwards_without_limit(make_spliced_pair, background):
    """sp_max 0: a 256 KiB stream passes whole and is counted whole."""
    sp = make_spliced_pair(max=0)
    data = pattern(STREAM)
    writer = background(lambda: sp.writer.sendall(data), "writer")
    got = recv_exactly(sp.reader, len(data), ARRIVAL)
    writer.result(ARRIVAL)
    assert got == data, f"reader got {len(got)} of {len(data)} bytes (sp_max 0)"
    assert bytes_spliced(sp.source) == len(data)


@pytest.mark.clause("FBSD-SPLICE-MAX-NO-SOERROR")
def test_reaching_max_sets_no_error(make_spliced_pair):
    """Six bytes through sp_max 5: five forwarded, one left; SO_ERROR is 0 on both ends."""
    sp = make_spliced_pair(max=5)
    sp.writer.sendall(b"abcdef")
    assert recv_exactly(sp.reader, 5, ARRIVAL) == b"abcde"
    assert recv_exactly(sp.source, 1, ARRIVAL) == b"f", "the byte past sp_max stays on the source"
    errors = {"source": socket_error(sp.source), "sink": socket_error(sp.sink)}
    assert errors == {"source": 0, "sink": 0}, (
        "SO_ERROR after sp_max: " + ", ".join(f"{k} {errno.errorcode.get(v, v)}"
                                               for k, v in errors.items()))
