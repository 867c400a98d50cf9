"""SO_SPLICE errors: setsockopt(SO_SPLICE) refuses a splice with one errno per fault, checked in
a fixed order, and leaves the source unspliced.

Sources: getsockopt(2) SO_SPLICE ("Currently only connected tcp(4) sockets may be spliced"),
ERRORS (EFAULT); uipc_socket.c sosetopt() case SO_SPLICE (sooptcopyin with the full size, CAP_RECV
on the source, getsock() of sp_fd with CAP_SEND) then so_splice() (sp_max < 0, protocol, VNET,
source listening/unconnected/busy, sink listening/unconnected/busy); socket_splice.c splice_error,
splice_listen, splice_capsicum. Tables: one row per fault (FAULTS), rows with two faults whose
errno shows which check comes first (ORDER), and optval encodings (ENCODINGS). Also: a longer
optval; source and sink in different VNETs (root). listen(2) on a spliced socket is not tested:
solisten_proto_check() refuses every connected socket with EINVAL before anything could look at
the splice, so no test can tell FBSD-SPLICE-LISTEN-ON-SPLICED from plain TCP (see its clause).
"""
import errno
import socket
import struct
from typing import NamedTuple

import pytest

from conformance.abi.freebsd import errno_value
from conformance.abi.so_splice import (
    SPLICE_SIZE,
    pack_splice,
    set_splice_option,
    set_splice_option_at,
    splice_sockets,
    unsplice,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL
from conformance.fixtures.freebsd_splice import fd_of, release
from conformance.fixtures.sockets import recv_exactly

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

INT64_MIN = -2**63

# Rows hold errno names (ENOTCAPABLE has no Linux counterpart); errno_value() resolves them and
# falls back to sys/sys/errno.h's 93 for ENOTCAPABLE, which CPython 3.11.0 does not name.


class Case(NamedTuple):
    source: str   # a splice_end kind (conformance/fixtures/freebsd_splice.py)
    sink: str
    max: int
    errno: str
    clause: str
    needs: str | None = None  # a feature probe the row requires

    def param(self):
        marks = [pytest.mark.clause(self.clause)]
        if self.needs:
            marks.append(pytest.mark.requires(os="freebsd", feature=self.needs))
        max_id = "" if self.max == 0 else f",max={self.max}"
        return pytest.param(self, id=f"{self.errno}-src={self.source},sink={self.sink}{max_id}",
                            marks=marks)


FAULTS = [
    Case("tcp", "closed", 0, "EBADF", "FBSD-SPLICE-EBADF"),
    Case("tcp", "file", 0, "ENOTSOCK", "FBSD-SPLICE-ENOTSOCK"),
    Case("tcp", "tcp", -3, "EINVAL", "FBSD-SPLICE-MAX-NEGATIVE"),
    Case("tcp", "tcp", INT64_MIN, "EINVAL", "FBSD-SPLICE-MAX-NEGATIVE"),
    Case("tcp", "unix-stream", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-UNIX"),
    Case("unix-stream", "tcp", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-UNIX"),
    Case("tcp", "udp-connected", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-UDP"),
    Case("tcp", "udp-unconnected", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-UDP"),
    Case("udp-connected", "tcp", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-UDP"),
    Case("tcp", "sctp", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-SCTP", needs="IPPROTO_SCTP"),
    Case("tcp", "tcp-unconnected", 0, "ENOTCONN", "FBSD-SPLICE-UNCONNECTED"),
    Case("tcp-unconnected", "tcp", 0, "ENOTCONN", "FBSD-SPLICE-UNCONNECTED"),
    Case("tcp-reset", "tcp", 0, "ENOTCONN", "FBSD-SPLICE-SRC-DISCONNECTED"),
    Case("tcp", "tcp-listening", 0, "EINVAL", "FBSD-SPLICE-LISTENING"),
    Case("tcp-listening", "tcp", 0, "EINVAL", "FBSD-SPLICE-LISTENING"),
    Case("tcp-source", "tcp", 0, "EBUSY", "FBSD-SPLICE-EBUSY-SRC"),
    Case("tcp", "tcp-sink", 0, "EBUSY", "FBSD-SPLICE-EBUSY-SINK"),
    Case("tcp-no-recv", "tcp", 0, "ENOTCAPABLE", "FBSD-SPLICE-CAP-RECV"),
    Case("tcp", "tcp-no-send", 0, "ENOTCAPABLE", "FBSD-SPLICE-CAP-SEND"),
]

ORDER = [
    Case("tcp-no-recv", "closed", 0, "ENOTCAPABLE", "FBSD-SPLICE-ORDER"),  # CAP_RECV before sp_fd
    Case("tcp", "closed", -1, "EBADF", "FBSD-SPLICE-ORDER"),              # sp_fd before sp_max
    Case("tcp", "file", -1, "ENOTSOCK", "FBSD-SPLICE-ORDER"),
    Case("tcp", "tcp-no-send", -1, "ENOTCAPABLE", "FBSD-SPLICE-ORDER"),
    Case("tcp", "unix-stream", -1, "EINVAL", "FBSD-SPLICE-ORDER"),        # sp_max before protocol
    Case("tcp-unconnected", "unix-stream", 0, "EPROTONOSUPPORT", "FBSD-SPLICE-ORDER"),
    Case("tcp-listening", "tcp-unconnected", 0, "EINVAL", "FBSD-SPLICE-ORDER"),  # source first
    Case("tcp-source", "tcp-unconnected", 0, "EBUSY", "FBSD-SPLICE-ORDER"),
    Case("tcp-unconnected", "tcp-sink", 0, "ENOTCONN", "FBSD-SPLICE-ORDER"),
]


@pytest.mark.parametrize("case", [c.param() for c in FAULTS + ORDER])
def test_splice_is_refused(case, splice_end):
    """setsockopt(SO_SPLICE) fails with the row's errno."""
    source, sink = splice_end(case.source), splice_end(case.sink)
    expect_errno(lambda: splice_sockets(source, fd_of(sink), case.max), errno_value(case.errno),
                 f"SO_SPLICE src={case.source} sink={case.sink} sp_max={case.max}")


class Encoding(NamedTuple):
    name: str
    optval: str   # how the optval is built (see encode())
    errno: str
    clause: str

    def param(self):
        return pytest.param(self, id=f"{self.errno}-{self.name}", marks=pytest.mark.clause(self.clause))


ENCODINGS = [
    Encoding("int-fd-4-bytes", "int", "EINVAL", "FBSD-SPLICE-OPTLEN-SHORT"),
    Encoding("NULL-0-bytes", "null", "EINVAL", "FBSD-SPLICE-OPTLEN-SHORT"),
    Encoding("struct-minus-1-byte", "short", "EINVAL", "FBSD-SPLICE-OPTLEN-SHORT"),
    Encoding("short-and-closed-fd", "short-closed", "EINVAL", "FBSD-SPLICE-ORDER"),
    Encoding("unmapped-optval", "unmapped", "EFAULT", "FBSD-SPLICE-OPTVAL-EFAULT"),
]


@pytest.mark.parametrize("case", [c.param() for c in ENCODINGS])
def test_bad_optval_is_refused_and_splices_nothing(case, splice_end, unmapped_address):
    """A malformed optval fails with the row's errno and leaves the source unspliced."""
    source, sink, closed = splice_end("tcp"), splice_end("tcp"), splice_end("closed")
    calls = {
        "int": lambda: set_splice_option(source, struct.pack("i", sink.fileno())),
        "null": lambda: set_splice_option(source, None, 0),
        "short": lambda: set_splice_option(source, pack_splice(sink.fileno()), SPLICE_SIZE - 1),
        "short-closed": lambda: set_splice_option(source, pack_splice(closed), SPLICE_SIZE - 1),
        "unmapped": lambda: set_splice_option_at(source, unmapped_address, SPLICE_SIZE),
    }
    expect_errno(calls[case.optval], errno_value(case.errno), f"SO_SPLICE with {case.name}")
    expect_errno(lambda: unsplice(source), errno.ENOTCONN, "unsplice after the refused call")


@pytest.mark.clause("FBSD-SPLICE-OPTLEN-LONG")
def test_longer_optval_is_accepted_and_its_tail_ignored(make_tcp_pairs, socket_stack):
    """A 64-byte optval (a struct splice then 32 bytes of 0xff) splices like the plain struct."""
    writer, source = make_tcp_pairs()
    sink, reader = make_tcp_pairs()
    set_splice_option(source, pack_splice(sink.fileno()) + b"\xff" * 32)
    socket_stack.callback(release, source)
    writer.sendall(b"long")
    assert recv_exactly(reader, 4, ARRIVAL) == b"long"


@pytest.mark.requires(os="freebsd", root=True, feature="VIMAGE")
@pytest.mark.clause("FBSD-SPLICE-VNET")
@pytest.mark.parametrize("jailed_role", ["sink", "source"])
def test_source_and_sink_in_different_vnets_are_refused(splice_end, vnet_tcp_socket, jailed_role):
    """A connected TCP socket from a VNET jail cannot be spliced with one of the host: EINVAL."""
    host: socket.socket = splice_end("tcp")
    source, sink = (host, vnet_tcp_socket) if jailed_role == "sink" else (vnet_tcp_socket, host)
    expect_errno(lambda: splice_sockets(source, sink.fileno()), errno.EINVAL,
                 f"SO_SPLICE across VNETs (jailed {jailed_role})")
