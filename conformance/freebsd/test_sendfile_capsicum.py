"""FreeBSD sendfile(2) under Capsicum rights: which rights each descriptor needs.

Sources: sendfile(2) ERRORS ENOTCAPABLE ("The fd or the s argument has insufficient rights");
sys/kern/kern_sendfile.c sendfile() (fget_read(fd, &cap_pread_rights): CAP_PREAD =
CAP_READ | CAP_SEEK) and sendfile_getsock() (getsock(s, &cap_send_rights)). sys/sys/capsicum.h
still says sendfile is authorized by CAP_READ on the file; the code asks for CAP_PREAD, hence
FBSD-SF-ENOTCAPABLE-SEEK.

Setup: rights are limited on a dup of each descriptor (cap_rights_limit(2) needs no capability
mode, and is irreversible only for that dup), so the process itself never enters cap_enter(2).

Cases: fd without CAP_READ; s without CAP_SEND; fd with CAP_READ but not CAP_SEEK; and the
minimal rights (CAP_PREAD on fd, CAP_SEND on s) that make the call work.
"""
import os
import socket
from typing import NamedTuple

import pytest

from conformance.abi.freebsd_sendfile import (
    CAP_FSTAT,
    CAP_GETSOCKOPT,
    CAP_PREAD,
    CAP_READ,
    CAP_RECV,
    CAP_SEND,
    ENOTCAPABLE,
    sendfile,
)
from conformance.checks import expect_errno
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import read_to_eof

pytestmark = pytest.mark.requires(os="freebsd", feature="CAPSICUM")

SIZE = 2000
# CAP_RECV is CAP_READ under another name, so each side has its own names.
FD_RIGHTS = {CAP_PREAD: "PREAD", CAP_READ: "READ", CAP_FSTAT: "FSTAT"}
S_RIGHTS = {CAP_SEND: "SEND", CAP_RECV: "RECV", CAP_GETSOCKOPT: "GETSOCKOPT"}


class Limits(NamedTuple):
    fd_rights: tuple[int, ...] | None  # None: the descriptor keeps all of its rights
    s_rights: tuple[int, ...] | None
    clause: str

    def param(self):
        def name(rights, names):
            return "all" if rights is None else "|".join(names[r] for r in rights)
        return pytest.param(self, marks=pytest.mark.clause(self.clause),
                            id=f"ENOTCAPABLE-fd={name(self.fd_rights, FD_RIGHTS)},"
                               f"s={name(self.s_rights, S_RIGHTS)}")


CASES = [
    Limits((CAP_FSTAT,), None, "FBSD-SF-ENOTCAPABLE"),
    Limits(None, (CAP_RECV, CAP_GETSOCKOPT), "FBSD-SF-ENOTCAPABLE"),
    Limits((CAP_READ,), None, "FBSD-SF-ENOTCAPABLE-SEEK"),
]


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(SIZE), os.O_RDONLY)


def limited(sf_cap_limited, fd: int, rights: tuple[int, ...] | None) -> int:
    return fd if rights is None else sf_cap_limited(fd, *rights)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_missing_right_gives_enotcapable(src, sf_peer, sf_cap_limited, case: Limits):
    """A descriptor lacking a right sendfile needs: ENOTCAPABLE."""
    peer = sf_peer()
    fd = limited(sf_cap_limited, src, case.fd_rights)
    s = limited(sf_cap_limited, peer.sender.fileno(), case.s_rights)
    expect_errno(lambda: sendfile(fd, s, 0, 0), ENOTCAPABLE, "sendfile with limited rights")


@pytest.mark.clause("FBSD-SF-ENOTCAPABLE-SEEK")
def test_pread_on_fd_and_send_on_s_are_enough(src, sf_peer, sf_cap_limited):
    """fd limited to CAP_PREAD and s to CAP_SEND: the call succeeds and the file arrives."""
    peer = sf_peer()
    fd = sf_cap_limited(src, CAP_PREAD)
    s = sf_cap_limited(peer.sender.fileno(), CAP_SEND)
    assert sendfile(fd, s, 0, 0) == (0, SIZE)
    peer.sender.shutdown(socket.SHUT_WR)
    assert read_to_eof(peer.receiver) == pattern(SIZE)
