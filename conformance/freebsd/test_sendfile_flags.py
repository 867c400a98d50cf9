"""FreeBSD sendfile(2) flags: every documented combination, the obsolete SF_MNOWAIT and bits
no constant defines are accepted and leave the data unchanged.

Sources: sendfile(2) DESCRIPTION (SF_NODISKIO, SF_NOCACHE, SF_USER_READAHEAD) and SETTING
READAHEAD (SF_FLAGS); lib/libc/tests/sys/sendfile_test.c flags_v4/v6 (the same eight
combinations, readahead 0 and 10); sys/sys/socket.h (SF_MNOWAIT /* obsolete */);
sys/kern/kern_sendfile.c (flags are tested bit by bit and never validated).

What cannot be seen per call (how much was read ahead, whether pages stay cached, SF_SYNC's
wait) is catalogued as untestable; these cases check that the call succeeds and the peer reads
the file byte for byte. The file spans several pages and does not end on a page boundary, so
readahead and SF_NOCACHE's last-page rule both have something to act on.
"""
import os
import socket
from typing import NamedTuple

import pytest

from conformance.abi.freebsd_sendfile import (
    SF_FLAGS,
    SF_MNOWAIT,
    SF_NOCACHE,
    SF_NODISKIO,
    SF_USER_READAHEAD,
    sendfile,
)
from conformance.abi.memory import PAGE_SIZE
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import SMALL_BUFFER, read_to_eof

pytestmark = pytest.mark.requires(os="freebsd")

SIZE = 5 * PAGE_SIZE + 123
NAMES = {SF_NODISKIO: "NODISKIO", SF_MNOWAIT: "MNOWAIT", SF_USER_READAHEAD: "USER_READAHEAD",
         SF_NOCACHE: "NOCACHE"}


class Flags(NamedTuple):
    readahead: int
    bits: int
    clause: str

    def param(self):
        names = "|".join(n for b, n in NAMES.items() if self.bits & b)
        unknown = self.bits & ~sum(NAMES)
        names = "|".join(filter(None, [names, f"{unknown:#x}" if unknown else ""])) or "0"
        return pytest.param(self, marks=pytest.mark.clause(self.clause),
                            id=f"SF_FLAGS({self.readahead},{names})")


CASES = [
    Flags(0, SF_NOCACHE, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(0, SF_NOCACHE | SF_USER_READAHEAD, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(0, SF_USER_READAHEAD, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(10, 0, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(10, SF_NOCACHE, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(10, SF_NOCACHE | SF_USER_READAHEAD, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(10, SF_USER_READAHEAD, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(10, SF_NODISKIO, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(0, SF_NODISKIO, "FBSD-SF-FLAGS-POSITIVE"),
    Flags(0, SF_MNOWAIT, "FBSD-SF-MNOWAIT"),
    Flags(0, 0x20, "FBSD-SF-UNKNOWN-FLAGS-IGNORED"),
    Flags(0, 0x40, "FBSD-SF-UNKNOWN-FLAGS-IGNORED"),
    Flags(0, 0x8000, "FBSD-SF-UNKNOWN-FLAGS-IGNORED"),
    Flags(3, 0xFFE0 | SF_NOCACHE, "FBSD-SF-UNKNOWN-FLAGS-IGNORED"),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_flags_are_accepted_and_data_is_unchanged(make_file, sf_peer, case: Flags):
    """The call returns 0 with *sbytes the file size, and the peer reads the file."""
    src = make_file(pattern(SIZE), os.O_RDWR)
    os.fsync(src)  # no page left busy by write-back, which SF_NODISKIO would report as EBUSY
    peer = sf_peer(buffer=SMALL_BUFFER)
    flags = SF_FLAGS(case.readahead, case.bits)
    assert sendfile(src, peer.sender.fileno(), 0, 0, flags=flags) == (0, SIZE)
    peer.sender.shutdown(socket.SHUT_WR)
    assert read_to_eof(peer.receiver) == pattern(SIZE)
