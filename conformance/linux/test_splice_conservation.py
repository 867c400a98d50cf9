"""splice(2) conserves bytes: a property over file -> pipe -> socket -> pipe -> file chains.

For any file size, socket kind (AF_UNIX stream, TCP over IPv4 or IPv6 loopback), sequence of
requested lengths and choice of offset pointer or file offset at each file end, a pump of four
splices (file -> pipe, pipe -> socket, socket -> pipe, pipe -> file), all with SPLICE_F_NONBLOCK
on O_NONBLOCK sockets so the single thread never blocks, delivers the source file's bytes to the
destination file exactly once and in order. At every call: the count is at most the request, at
most what the stage upstream holds, and a file -> pipe count at most the pipe's capacity; each
offset (written-back pointer or file offset) advances by the count. At the end a file read gives
0 (end of input) and every pipe and socket in between is empty. A stage that moves nothing fails
with EAGAIN, never returns 0 while its upstream still holds data.
"""
import os
import select
import socket
from contextlib import ExitStack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.abi.splice import SPLICE_F_NONBLOCK, splice
from conformance.deadlines import ARRIVAL
from conformance.fixtures.files import pattern, scratch_file
from conformance.fixtures.pipes import capacity, pipe_pair
from conformance.fixtures.sockets import tcp_pair, unix_pair
from conformance.hypothesis_profiles import examples

pytestmark = pytest.mark.requires(os="linux")

KIB = 1024
SOCKETS = ["unix", "tcp4", "tcp6"]
# Requested lengths are at least size / ROUNDS, so one example takes a few hundred pump rounds
# at most (1-byte requests against a 512 KiB file would take millions of calls).
ROUNDS = 256
# Rounds in which nothing moves (bytes still in flight inside a TCP socket) before giving up.
MAX_STALLS = 1000


@st.composite
def sizes_and_lengths(draw) -> tuple[int, list[int]]:
    size = draw(st.integers(0, 512 * KIB))
    floor = max(1, size // ROUNDS)
    return size, draw(st.lists(st.integers(floor, 160 * KIB), min_size=1, max_size=6))


@pytest.fixture(scope="module")
def scratch_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("splice-chain")


def connected(stack: ExitStack, kind: str) -> tuple[socket.socket, socket.socket]:
    """(tx, rx), both O_NONBLOCK, closed by stack."""
    if kind == "unix":
        tx, rx = unix_pair(stack)
    else:
        tx, rx = tcp_pair(stack, socket.AF_INET if kind == "tcp4" else socket.AF_INET6)
    tx.setblocking(False)
    rx.setblocking(False)
    return tx, rx


def step(fd_in: int, off_in, fd_out: int, off_out, length: int):
    """One non-blocking splice: its Spliced result, or None on EAGAIN."""
    try:
        return splice(fd_in, off_in, fd_out, off_out, length, SPLICE_F_NONBLOCK)
    except BlockingIOError:
        return None


class Chain:
    """Bytes held at each stage, and the pump that moves them."""

    def __init__(self, src, dst, p1, p2, tx, rx, src_off, dst_off):
        self.src, self.dst, self.p1, self.p2, self.tx, self.rx = src, dst, p1, p2, tx, rx
        self.src_off, self.dst_off = src_off, dst_off  # int, or None to use the file offset
        self.read = self.in_p1 = self.in_socket = self.in_p2 = self.written = 0

    def file_to_pipe(self, n: int, size: int) -> bool:
        before = self.read
        r = step(self.src, self.src_off, self.p1[1], None, n)
        if r is None:
            return False
        assert 0 < r.count <= min(n, size - before, capacity(self.p1[1])), (r, n, size, before)
        if self.src_off is None:
            assert os.lseek(self.src, 0, os.SEEK_CUR) == before + r.count
        else:
            assert r.off_in == self.src_off + r.count
            self.src_off = r.off_in
        self.read += r.count
        self.in_p1 += r.count
        return True

    def move(self, fd_in: int, fd_out: int, n: int, held: str, into: str) -> bool:
        """A pipe/socket -> pipe/socket stage: from the stage named held into the one named into."""
        r = step(fd_in, None, fd_out, None, n)
        if r is None:
            return False
        upstream = getattr(self, held)
        assert 0 < r.count <= min(n, upstream), (held, r, n, upstream)
        setattr(self, held, upstream - r.count)
        setattr(self, into, getattr(self, into) + r.count)
        return True

    def pipe_to_file(self, n: int) -> bool:
        r = step(self.p2[0], None, self.dst, self.dst_off, n)
        if r is None:
            return False
        assert 0 < r.count <= min(n, self.in_p2), (r, n, self.in_p2)
        if self.dst_off is None:
            assert os.lseek(self.dst, 0, os.SEEK_CUR) == self.written + r.count
        else:
            assert r.off_out == self.dst_off + r.count
            self.dst_off = r.off_out
        self.in_p2 -= r.count
        self.written += r.count
        return True


@pytest.mark.clause("LNX-SP-PIPE-SOCKET", "LNX-SP-PIPE-PIPE", "LNX-SP-OFF-SEMANTICS",
                    "LNX-SP-OFFNULL-FPOS", "LNX-SP-PARTIAL-PIPECAP", "LNX-SP-EOF")
@settings(max_examples=examples(150), deadline=None, report_multiple_bugs=False)
@given(plan=sizes_and_lengths(), kind=st.sampled_from(SOCKETS), src_off=st.booleans(),
       dst_off=st.booleans())
def test_chain_delivers_every_byte_once_in_order(scratch_dir, plan, kind, src_off, dst_off):
    """The destination file ends up equal to the source file; no stage creates or loses bytes."""
    size, lengths = plan
    with ExitStack() as stack:
        src = stack.enter_context(scratch_file(scratch_dir, pattern(size), os.O_RDONLY))
        dst = stack.enter_context(scratch_file(scratch_dir, b""))
        tx, rx = connected(stack, kind)
        chain = Chain(src, dst, pipe_pair(stack), pipe_pair(stack), tx.fileno(), rx.fileno(),
                      0 if src_off else None, 0 if dst_off else None)
        calls = productive = stalls = 0
        while chain.written < size:
            n = lengths[calls % len(lengths)]
            calls += 1
            moved = [chain.read < size and chain.file_to_pipe(n, size),
                     chain.in_p1 > 0 and chain.move(chain.p1[0], chain.tx, n, "in_p1", "in_socket"),
                     chain.move(chain.rx, chain.p2[1], n, "in_socket", "in_p2"),
                     chain.in_p2 > 0 and chain.pipe_to_file(n)]
            if any(moved):
                # Each such round moves >= 1 byte through one of the four stages.
                productive += 1
                assert productive <= 4 * size, f"{productive} rounds moved bytes, yet not done"
                continue
            # Nothing moved. Only bytes in flight inside the socket explain that (every other
            # stage was offered bytes it had room for): with none in flight it is a failure at
            # once; else wait for them, bounded.
            assert chain.in_socket > 0, (
                f"every stage answered EAGAIN with nothing in flight: read={chain.read} "
                f"in_p1={chain.in_p1} in_p2={chain.in_p2} written={chain.written} of {size}")
            stalls += 1
            assert stalls <= MAX_STALLS and select.select([rx], [], [], ARRIVAL)[0], (
                f"no stage moved anything (stall {stalls}): read={chain.read} "
                f"in_p1={chain.in_p1} in_socket={chain.in_socket} in_p2={chain.in_p2} "
                f"written={chain.written} of {size}")

        assert os.pread(dst, size + 1, 0) == pattern(size)
        assert chain.read == size and chain.in_p1 == chain.in_socket == chain.in_p2 == 0
        assert step(src, chain.src_off, chain.p1[1], None, 1).count == 0, "end of input expected"
        for fd_in, fd_out in ((chain.p1[0], chain.tx), (chain.rx, chain.p2[1]),
                              (chain.p2[0], dst)):
            assert step(fd_in, None, fd_out, None, 1) is None, "a stage still held bytes"
