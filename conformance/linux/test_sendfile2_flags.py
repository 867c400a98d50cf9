"""sendfile2 flags beyond 0 and SENDFILE_DEFAULT, on a kernel carrying the RFC (gated as in
test_sendfile2_rfc.py: nothing is called without --sendfile2-nr=N).

As posted (patch 08/10), do_sendfile() looks at one bit: `if (flags & SENDFILE_ZC) fl |=
SPLICE_F_ZC`. include/linux/sendfile.h defines SENDFILE_ALL (DEFAULT | ZC) but nothing uses it,
so no flag value is refused: unknown bits alone behave like sendfile64 (no notification), and
any value with the SENDFILE_ZC bit (SENDFILE_ALL, ZC with unknown bits, -1) behaves like
SENDFILE_ZC (one notification per call). Cases: 0x4, 0x40000000, the int sign bit,
SENDFILE_ALL, SENDFILE_ZC | 0x4, -1.
"""
import os
from typing import NamedTuple

import pytest

from conformance.abi.zerocopy import SENDFILE_DEFAULT, SENDFILE_ZC, sendfile2
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern
from conformance.fixtures.sockets import recv_exactly

pytestmark = [pytest.mark.requires(os="linux"),
              pytest.mark.requires(feature=("SENDFILE2_NR", "SPLICE_F_ZC", "SO_ZEROCOPY"))]

SENDFILE_ALL = SENDFILE_DEFAULT | SENDFILE_ZC   # patch 08/10, include/linux/sendfile.h
COUNT = 4096


class Row(NamedTuple):
    name: str
    flags: int          # the C int the syscall receives
    notified: bool

    def param(self):
        return pytest.param(self, id=f"{self.name}={self.flags & 0xffffffff:#x}")


ROWS = [
    Row("unknown-bit", 0x4, False),
    Row("high-bit", 0x40000000, False),
    Row("sign-bit", -(2**31), False),
    Row("SENDFILE_ALL", SENDFILE_ALL, True),
    Row("ZC+unknown-bit", SENDFILE_ZC | 0x4, True),
    Row("all-bits", -1, True),
]


@pytest.mark.clause("LNX-RFC-UNKNOWN-FLAGS")
@pytest.mark.parametrize("row", [r.param() for r in ROWS])
def test_only_the_sendfile_zc_bit_counts(row, sendfile2_nr, make_file, zc_pair, notifications):
    """No flag value is refused; the call is notified exactly when the SENDFILE_ZC bit is
    set."""
    src = make_file(pattern(COUNT), os.O_RDONLY)
    sender, receiver = zc_pair("tcp")
    result = sendfile2(sendfile2_nr, sender.fileno(), src, 0, COUNT, row.flags)
    assert result == (COUNT, COUNT), f"sendfile2(flags={row.flags:#x}) returned {result}"
    assert recv_exactly(receiver, COUNT, ARRIVAL) == pattern(COUNT)
    notes = notifications(sender)
    if row.notified:
        notes.collect(1)
        assert not notes.problems(1), notes
    else:
        assert notes.quiet() == [], f"flags {row.flags:#x} without SENDFILE_ZC was notified"
