"""MSG_ZEROCOPY socket setup: the SO_ZEROCOPY opt-in and its errno matrix.

Rule: a process signals intent with setsockopt(SOL_SOCKET, SO_ZEROCOPY, 1); without it the
MSG_ZEROCOPY flag is ignored (rst "Socket Setup"). sk_setsockopt() accepts the option on TCP,
UDP, PF_RDS and connectible AF_VSOCK sockets only (EOPNOTSUPP otherwise, checked before the
value, since 5.18 / 869420a8be19), and only the values 0 and 1 (EINVAL).
Cases (that TCP and UDP accept it at all: test_msg_zerocopy_available.py): RDS; refused kinds; invalid values; getsockopt; set on connected and accepted
sockets; inherited from a listener; flag ignored without the option (TCP, UDP, and on kinds
that refuse the option).
"""
import errno
import select
import socket
from collections.abc import Callable
from contextlib import ExitStack
from typing import NamedTuple

import pytest

from conformance.abi.zerocopy import (
    MSG_ZEROCOPY,
    enable_zerocopy,
    send,
    set_zerocopy,
    zerocopy_option,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL
from conformance.fixtures.sockets import LOOPBACK, recv_exactly
from conformance.fixtures.zerocopy import SETTLE

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

INT_MAX = 2**31 - 1
UDP = pytest.mark.requires(feature="UDP_ZEROCOPY")
SOCK_KINDS = {  # name -> (family, type, proto)
    "tcp4": (socket.AF_INET, socket.SOCK_STREAM, 0),
    "tcp6": (socket.AF_INET6, socket.SOCK_STREAM, 0),
    "udp4": (socket.AF_INET, socket.SOCK_DGRAM, 0),
    "udp6": (socket.AF_INET6, socket.SOCK_DGRAM, 0),
    "unix-stream": (socket.AF_UNIX, socket.SOCK_STREAM, 0),
    "unix-dgram": (socket.AF_UNIX, socket.SOCK_DGRAM, 0),
    "unix-seqpacket": (socket.AF_UNIX, socket.SOCK_SEQPACKET, 0),
    "raw4": (socket.AF_INET, socket.SOCK_RAW, 253),   # IPPROTO 253: RFC 3692 experimentation
    "raw6": (socket.AF_INET6, socket.SOCK_RAW, 253),
    "packet": (socket.AF_PACKET, socket.SOCK_DGRAM, 0),
    "udplite4": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE),
    "udplite6": (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE),
    "rds": (21, socket.SOCK_SEQPACKET, 0),            # PF_RDS, include/linux/socket.h
}
ROOT_KINDS = {"raw4", "raw6", "packet"}


@pytest.fixture
def make_socket(socket_stack: ExitStack) -> Callable[[str], socket.socket]:
    """make_socket(kind) -> a new, unconnected socket of that SOCK_KINDS kind."""
    return lambda kind: socket_stack.enter_context(socket.socket(*SOCK_KINDS[kind]))


class Case(NamedTuple):
    kind: str
    value: int
    errno: int
    clause: str

    def param(self):
        marks = [pytest.mark.clause(self.clause)]
        if self.kind in ROOT_KINDS:
            marks.append(pytest.mark.requires(root=True))
        if self.kind.startswith("udp"):
            marks.append(UDP)
        return pytest.param(self, marks=marks,
                            id=f"{errno.errorcode[self.errno]}-{self.kind}-val={self.value}")


REFUSED = [Case(kind, 1, errno.EOPNOTSUPP, "LNX-MZC-SETUP-EOPNOTSUPP")
           for kind in ("unix-stream", "unix-dgram", "unix-seqpacket", "raw4", "raw6", "packet",
                        "udplite4", "udplite6")]
# The socket kind is checked before the value.
REFUSED += [Case("unix-stream", 2, errno.EOPNOTSUPP, "LNX-MZC-SETUP-EOPNOTSUPP")]
INVALID = [Case(kind, value, errno.EINVAL, "LNX-MZC-SETUP-EINVAL")
           for kind, value in (("tcp4", 2), ("tcp4", -1), ("tcp6", INT_MAX), ("udp4", 2),
                               ("udp6", -1))]


@pytest.mark.clause("LNX-MZC-RDS")
@pytest.mark.requires(feature="RDS")
def test_so_zerocopy_is_accepted_on_rds(make_socket):
    """PF_RDS sockets take SO_ZEROCOPY (their completions come as cookies, not tested here)."""
    sock = make_socket("rds")
    set_zerocopy(sock, 1)
    assert zerocopy_option(sock) == 1


@pytest.mark.requires(kernel="5.18", because="commit 869420a8be19 returns EOPNOTSUPP instead of "
                      "the kernel-internal ENOTSUPP (524)")
@pytest.mark.parametrize("case", [c.param() for c in REFUSED])
def test_so_zerocopy_is_refused_on_other_kinds(make_socket, case: Case):
    """Other socket kinds refuse SO_ZEROCOPY with EOPNOTSUPP, whatever the value."""
    sock = make_socket(case.kind)
    expect_errno(lambda: set_zerocopy(sock, case.value), case.errno,
                 f"setsockopt(SO_ZEROCOPY, {case.value}) on {case.kind}")
    assert zerocopy_option(sock) == 0, "a refused option must leave the flag clear"


@pytest.mark.parametrize("case", [c.param() for c in INVALID])
def test_so_zerocopy_rejects_values_other_than_0_and_1(make_socket, case: Case):
    """Values other than 0 and 1 fail with EINVAL and leave the option as it was."""
    sock = make_socket(case.kind)
    expect_errno(lambda: set_zerocopy(sock, case.value), case.errno,
                 f"setsockopt(SO_ZEROCOPY, {case.value}) on {case.kind}")
    assert zerocopy_option(sock) == 0


@pytest.mark.clause("LNX-MZC-SETUP-GETSOCKOPT")
@pytest.mark.parametrize("kind", ["tcp4", pytest.param("udp6", marks=UDP)])
def test_getsockopt_reports_the_last_value_set(make_socket, kind):
    """getsockopt(SO_ZEROCOPY) is 0 on a new socket, then follows each setsockopt."""
    sock = make_socket(kind)
    seen = [zerocopy_option(sock)]
    for value in (1, 0, 1):
        set_zerocopy(sock, value)
        seen.append(zerocopy_option(sock))
    assert seen == [0, 1, 0, 1]


@pytest.mark.clause("LNX-MZC-SETUP-ANYSTATE")
@pytest.mark.parametrize("end", ["client", "accepted"])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_option_can_be_set_on_a_connected_socket(make_tcp_pair, notifications, end, family):
    """SO_ZEROCOPY set after connect() or accept() takes effect: the next send is notified."""
    client, accepted = make_tcp_pair(family)
    sender, receiver = (client, accepted) if end == "client" else (accepted, client)
    set_zerocopy(sender, 1)
    assert send(sender, b"z" * 4096) == 4096
    assert recv_exactly(receiver, 4096, ARRIVAL) == b"z" * 4096
    notes = notifications(sender)
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-SETUP-INHERIT")
def test_accepted_socket_inherits_the_option(socket_stack, notifications):
    """A socket accepted from a listener with SO_ZEROCOPY has it set, and its sends are notified."""
    listener = socket_stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    enable_zerocopy(listener)
    listener.bind((LOOPBACK[socket.AF_INET], 0))
    listener.listen(1)
    client = socket_stack.enter_context(socket.create_connection(listener.getsockname(), ARRIVAL))
    listener.settimeout(ARRIVAL)
    child = socket_stack.enter_context(listener.accept()[0])
    assert zerocopy_option(child) == 1
    assert send(child, b"c" * 1000) == 1000
    assert recv_exactly(client, 1000, ARRIVAL) == b"c" * 1000
    notes = notifications(child)
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-OPTIN-IGNORED")
@pytest.mark.parametrize("proto", ["tcp", pytest.param("udp", marks=UDP)])
def test_flag_is_ignored_without_the_option(zc_pair, notifications, proto):
    """Without SO_ZEROCOPY a MSG_ZEROCOPY send is a plain copy: it succeeds, is not notified and
    takes no id (the first send after opting in gets id 0)."""
    sender, receiver = zc_pair(proto, zerocopy_on=False)
    assert send(sender, b"p" * 1000) == 1000
    assert recv_exactly(receiver, 1000, ARRIVAL) == b"p" * 1000
    notes = notifications(sender)
    # the receiver has the data: the send's skbs are released or copied, any notification queued
    assert notes.until_released(delivered=True) == [], "a send without SO_ZEROCOPY was notified"
    enable_zerocopy(sender)
    assert send(sender, b"q" * 1000) == 1000
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.fixture
def refusing_pair(socket_stack: ExitStack) -> Callable[[str], tuple[socket.socket, socket.socket]]:
    """refusing_pair(kind) -> a connected (sender, receiver) of an AF_UNIX or UDP-Lite kind."""
    def make(kind: str) -> tuple[socket.socket, socket.socket]:
        if kind.startswith("unix"):
            a, b = socket.socketpair(socket.AF_UNIX, SOCK_KINDS[kind][1])
            socket_stack.enter_context(a)
            socket_stack.enter_context(b)
            return a, b
        a = socket_stack.enter_context(socket.socket(*SOCK_KINDS[kind]))
        b = socket_stack.enter_context(socket.socket(*SOCK_KINDS[kind]))
        b.bind((LOOPBACK[a.family], 0))
        a.connect(b.getsockname()[:2])
        return a, b
    return make


@pytest.mark.clause("LNX-MZC-OTHER-TRANSPORTS")
@pytest.mark.parametrize("kind", ["unix-stream", "unix-dgram", "udplite4"])
def test_flag_is_ignored_on_kinds_that_refuse_the_option(refusing_pair, kind):
    """On kinds that refuse SO_ZEROCOPY the flag changes nothing: the data arrives, no POLLERR."""
    sender, receiver = refusing_pair(kind)
    assert send(sender, b"u" * 100, MSG_ZEROCOPY) == 100
    receiver.settimeout(ARRIVAL)
    assert receiver.recv(200) == b"u" * 100
    # The receiver read the data: AF_UNIX freed the skb as it was read, UDP-Lite copied any
    # borrowed pages before queueing it (Notifications.until_released): nothing is left to signal.
    poller = select.poll()
    poller.register(sender, 0)
    assert poller.poll(SETTLE * 1000) == [], f"{kind}: an error was signalled after the send"
