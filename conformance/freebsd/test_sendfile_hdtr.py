"""FreeBSD sendfile(2) headers and trailers (struct sf_hdtr): where they go and how *sbytes
counts them.

Sources: sendfile(2) DESCRIPTION (headers before and trailers after the file data; *sbytes is
the total sent on the socket); lib/libc/tests/sys/sendfile_test.c hdtr_positive_v4/v6 and
hdtr_negative_bad_pointers_v4/v6; sys/kern/kern_sendfile.c sendfile() (arrays copied in only
when their pointer is non-NULL, before anything is sent) and vn_sendfile() (headers turned into
mbufs inside the loop over file data; trailers written after it with kern_writev());
sys/kern/subr_uio.c copyinuio() (at most UIO_MAXIOV iovecs).

Cases: header only, trailer only, both, several iovecs each (with an empty one); NULL arrays
with positive counts; exactly UIO_MAXIOV header iovecs; bad pointers send nothing; with no file
data the trailers go out but the headers do not (our reading of the code, see the clause).
"""
import errno
import os
from typing import NamedTuple

import pytest

from conformance.abi.freebsd_sendfile import UIO_MAXIOV, Hdtr, hdtr, iovecs, sendfile
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import sent_bytes

pytestmark = pytest.mark.requires(os="freebsd")

SIZE = 3000


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(SIZE), os.O_RDONLY)


class Layout(NamedTuple):
    headers: tuple[bytes, ...] | None
    trailers: tuple[bytes, ...] | None
    clauses: tuple[str, ...]

    def param(self):
        def name(part):
            return "NULL" if part is None else "+".join(str(len(c)) for c in part)
        return pytest.param(self, marks=pytest.mark.clause(*self.clauses),
                            id=f"headers={name(self.headers)},trailers={name(self.trailers)}")


LAYOUTS = [
    Layout((b"This is a header",), None, ("FBSD-SF-HDR-BEFORE", "FBSD-SF-SBYTES-TOTAL")),
    Layout(None, (b"This is a trailer",), ("FBSD-SF-TRL-AFTER", "FBSD-SF-SBYTES-TOTAL")),
    Layout((b"This is a header",), (b"This is a trailer",),
           ("FBSD-SF-HDR-BEFORE", "FBSD-SF-TRL-AFTER", "FBSD-SF-SBYTES-TOTAL")),
    Layout((b"H1", b"", b"H333"), (b"T1", b"T22", b"", b"T4444"),
           ("FBSD-SF-HDR-BEFORE", "FBSD-SF-TRL-AFTER", "FBSD-SF-SBYTES-TOTAL")),
]


@pytest.mark.parametrize("layout", [lay.param() for lay in LAYOUTS])
def test_headers_before_and_trailers_after_the_file(src, sf_peer, layout: Layout):
    """The peer reads headers, then the file, then trailers; *sbytes counts all three."""
    peer = sf_peer()
    headers, trailers = layout.headers or (), layout.trailers or ()
    expected = b"".join(headers) + pattern(SIZE) + b"".join(trailers)
    result = sendfile(src, peer.sender.fileno(), 0, 0, hdtr(layout.headers, layout.trailers))
    assert result == (0, len(expected))
    assert sent_bytes(*peer) == expected


@pytest.mark.clause("FBSD-SF-HDTR-NULL-ARRAY")
def test_null_arrays_with_positive_counts_are_ignored(src, sf_peer):
    """headers and trailers NULL with counts 3: no error, only the file goes out."""
    peer = sf_peer()
    assert sendfile(src, peer.sender.fileno(), 0, 0, Hdtr(None, None, 3, 3)) == (0, SIZE)
    assert sent_bytes(*peer) == pattern(SIZE)


@pytest.mark.clause("FBSD-SF-HDTR-TOO-MANY")
def test_exactly_uio_maxiov_header_iovecs_are_accepted(src, sf_peer):
    """UIO_MAXIOV one-byte header iovecs (one more is EINVAL, see the errors table): they all
    go out, in order, before the file."""
    peer = sf_peer()
    headers = [bytes([i % 251]) for i in range(UIO_MAXIOV)]
    expected = b"".join(headers) + pattern(SIZE)
    assert sendfile(src, peer.sender.fileno(), 0, 0, Hdtr(iovecs(headers))) == (0, len(expected))
    assert sent_bytes(*peer) == expected


@pytest.mark.clause("FBSD-SF-HDTR-EFAULT")
@pytest.mark.parametrize("kind", ["bad-ptr", "bad-headers", "bad-trailers"])
def test_unreadable_hdtr_fails_before_sending_anything(src, sf_peer, sf_hdtr, kind):
    """EFAULT, and the peer reads nothing: the arrays are copied in before the file is touched."""
    peer = sf_peer()
    bad = sf_hdtr(kind)
    expect_errno(lambda: sendfile(src, peer.sender.fileno(), 0, 0, bad), errno.EFAULT,
                 f"sendfile with hdtr {kind}")
    assert sent_bytes(*peer) == b"", "data reached the peer although the call failed with EFAULT"


@pytest.mark.clause("FBSD-SF-HDR-DROPPED-WHEN-NO-FILE-DATA")
@pytest.mark.parametrize("fd_kind, offset", [("file-empty", 0), ("file-rdonly", 64),
                                             ("file-rdonly", 1000)],
                         ids=["empty-file", "offset-at-eof", "offset-past-eof"])
def test_no_file_data_sends_trailers_but_not_headers(sf_fd, sf_peer, fd_kind, offset):
    """No file data: the peer reads the trailer only and *sbytes counts it alone (headers are
    built inside the loop over file data, which never runs)."""
    peer = sf_peer()
    layout = hdtr([b"HEAD"], [b"TAIL"])
    assert sendfile(sf_fd(fd_kind), peer.sender.fileno(), offset, 0, layout) == (0, 4)
    assert sent_bytes(*peer) == b"TAIL"
