"""MSG_ZEROCOPY ENOBUFS: the two limits a zerocopy send can hit, and what a refused send leaves.

Rule (rst "Transmission"): "A zerocopy failure will return -1 with errno ENOBUFS. This happens
if the socket exceeds its optmem limit or the user exceeds their ulimit on locked pages."
Source: each completion record is an skb from the socket's option memory (msg_zerocopy_alloc
-> sock_omalloc, bounded by net.core.optmem_max, per namespace since 6.8); pinned pages are
charged to the user's locked_vm against RLIMIT_MEMLOCK unless the caller has CAP_IPC_LOCK
(mm_account_pinned_pages). A refused send queues no data and takes no id.
optmem_max is lowered only inside a test namespace (restored at teardown); RLIMIT_MEMLOCK only
in a child process, which drops to uid 65534 (and so every capability) to lose CAP_IPC_LOCK.
Cases: optmem_max 0 (TCP, UDP); unread notifications accumulating until ENOBUFS, then released
by reading; RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK, with it, and a sufficient limit.
"""
import errno
import socket
from typing import NamedTuple

import pytest

from conformance.abi.zerocopy import (
    SO_TIMESTAMPING,
    SOF_TIMESTAMPING_OPT_TSONLY,
    SOF_TIMESTAMPING_SOFTWARE,
    SOF_TIMESTAMPING_TX_SOFTWARE,
    enable_zerocopy,
    send,
    send_from_child,
)
from conformance.checks import expect_errno
from conformance.deadlines import ARRIVAL, CHILD_PROCESS
from conformance.fixtures.sockets import recv_exactly
from conformance.fixtures.zerocopy import loopback_pair_in, recv_datagrams

pytestmark = pytest.mark.requires(os="linux", feature="SO_ZEROCOPY")

OPTMEM = pytest.mark.requires(root=True, feature=("netns", "OPTMEM_PER_NETNS"))
NOBODY = 65534
# Room for a few completion records only (each is an skb of SKB_TRUESIZE(0), some 700 bytes).
SMALL_OPTMEM = 4096
# Sends before ENOBUFS must have come, with SMALL_OPTMEM and no record ever freed.
ACCUMULATION_BOUND = 64


def after_refusal(sender, receiver, proto: str) -> None:
    """The refused send left nothing on the wire: the peer's next bytes are the marker's."""
    assert send(sender, b"marker", 0) == 6
    if proto == "udp":
        assert recv_datagrams(receiver, 1) == [b"marker"]
    else:
        assert recv_exactly(receiver, 6, ARRIVAL) == b"marker"


@pytest.mark.clause("LNX-MZC-ENOBUFS-OPTMEM", "LNX-MZC-ENOBUFS-NOSEND")
@OPTMEM
@pytest.mark.parametrize("proto", ["tcp", pytest.param("udp", marks=pytest.mark.requires(
    feature="UDP_ZEROCOPY"))])
def test_zero_optmem_refuses_zerocopy_sends(netns, netns_sysctl, notifications, proto):
    """With net.core.optmem_max 0 a zerocopy send fails with ENOBUFS and sends nothing; with
    the limit restored the next zerocopy send succeeds and gets id 0."""
    sender, receiver = loopback_pair_in(netns, proto)
    enable_zerocopy(sender)
    old = netns_sysctl(netns, "net.core.optmem_max", 0)
    expect_errno(lambda: send(sender, b"x" * 1000), errno.ENOBUFS,
                 "send(MSG_ZEROCOPY) with net.core.optmem_max 0")
    after_refusal(sender, receiver, proto)
    netns_sysctl(netns, "net.core.optmem_max", old)
    assert send(sender, b"y" * 1000) == 1000
    notes = notifications(sender)
    notes.collect(1)
    assert not notes.problems(1), notes


@pytest.mark.clause("LNX-MZC-ENOBUFS-OPTMEM")
@OPTMEM
@pytest.mark.requires(feature="UDP_ZEROCOPY")
def test_unread_notifications_accumulate_until_enobufs(netns, netns_sysctl, notifications):
    """Unmergeable unread notifications (TX timestamps between them) keep their option memory:
    with optmem_max 4096 zerocopy sends fail with ENOBUFS within 64 calls; reading the error
    queue frees it and the next zerocopy send succeeds. Failed sends take no id."""
    sender, receiver = loopback_pair_in(netns, "udp")
    enable_zerocopy(sender)
    sender.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE
                      | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY)
    netns_sysctl(netns, "net.core.optmem_max", SMALL_OPTMEM)
    accepted = 0
    for _ in range(ACCUMULATION_BOUND):
        try:
            send(sender, b"a" * 200)
        except OSError as exc:
            assert exc.errno == errno.ENOBUFS, f"send failed with {errno.errorcode[exc.errno]}"
            break
        accepted += 1
    else:
        pytest.fail(f"{ACCUMULATION_BOUND} zerocopy sends, no ENOBUFS with optmem_max {SMALL_OPTMEM}")
    assert accepted >= 1, "the very first send was refused: optmem_max too small to test"
    recv_datagrams(receiver, accepted)
    notes = notifications(sender)
    notes.collect(accepted)
    assert send(sender, b"b" * 200) == 200, "still refused after the error queue was read"
    notes.collect(accepted + 1)
    assert not notes.problems(accepted + 1, others=True), notes


class Limit(NamedTuple):
    uid: int
    memlock: int
    errno: int | None  # None: the send succeeds

    def param(self):
        who = "nobody" if self.uid else "root"
        want = errno.errorcode[self.errno] if self.errno else "ok"
        return pytest.param(self, id=f"{want}-{who}-memlock={self.memlock}")


LIMITS = [
    Limit(NOBODY, 0, errno.ENOBUFS),      # no CAP_IPC_LOCK, nothing may be pinned
    Limit(0, 0, None),                    # CAP_IPC_LOCK skips the accounting
    Limit(NOBODY, 1 << 20, None),         # 64 KiB needs 16 + 2 pages < 256
]


@pytest.mark.clause("LNX-MZC-ENOBUFS-MEMLOCK", "LNX-MZC-ENOBUFS-NOSEND")
@pytest.mark.requires(root=True, feature="MEMLOCK_CHILD")
@pytest.mark.parametrize("limit", [x.param() for x in LIMITS])
def test_rlimit_memlock_bounds_pinned_pages(zc_pair, notifications, limit):
    """A 64 KiB zerocopy send from a child with RLIMIT_MEMLOCK memlock: ENOBUFS without
    CAP_IPC_LOCK and too small a limit (nothing sent, no id), success otherwise."""
    sender, receiver = zc_pair("tcp")
    size = 64 * 1024
    if limit.errno:
        expect_errno(lambda: send_from_child(sender, size, limit.uid, limit.memlock,
                                             CHILD_PROCESS),
                     limit.errno, f"send(MSG_ZEROCOPY, 64 KiB) as uid {limit.uid}, "
                                  f"RLIMIT_MEMLOCK {limit.memlock}")
        after_refusal(sender, receiver, "tcp")
    else:
        assert send_from_child(sender, size, limit.uid, limit.memlock, CHILD_PROCESS) == size
        assert recv_exactly(receiver, size, ARRIVAL) == b"m" * size
    assert send(sender, b"z" * 100) == 100
    calls = 1 if limit.errno else 2
    notes = notifications(sender)
    notes.collect(calls)
    assert not notes.problems(calls), notes
