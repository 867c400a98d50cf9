"""Error-queue decoding and the MSG_ZEROCOPY contract checks, on synthetic control messages
(any OS, no root); and the guard that keeps the sendfile2 RFC binding from calling a syscall
number nobody named (the RFC's 467 is open_tree_attr upstream)."""
import errno
import platform
import socket
import struct
import time
from pathlib import Path

import pytest
from conformance.fixtures import zerocopy as zc_fixtures
from conformance.fixtures.zerocopy import Notifications

import conformance
from conformance.abi import errqueue as eq
from conformance.abi import zerocopy
from conformance.abi.errqueue import IdRange
from conformance.abi.zerocopy import ErrRead

MSG_ERRQUEUE = 0x2000
MSG_CTRUNC = 0x8


def ee(origin=eq.SO_EE_ORIGIN_ZEROCOPY, info=0, data=0, code=0, errno=0) -> bytes:
    return eq.SOCK_EE.pack(errno, origin, 0, code, 0, info, data)


def v4(*args, **kw) -> tuple[int, int, bytes]:
    return (eq.SOL_IP, eq.IP_RECVERR, ee(*args, **kw) + bytes(16))


def v6(*args, **kw) -> tuple[int, int, bytes]:
    return (eq.SOL_IPV6, eq.IPV6_RECVERR, ee(*args, **kw) + bytes(28))


# --- sock_extended_err and control messages -------------------------------------------------

def test_sock_extended_err_is_16_bytes_in_header_order():
    raw = struct.pack("=IBBBBII", 42, 5, 7, 1, 9, 0x11223344, 0xAABBCCDD)
    assert eq.SOCK_EE.size == 16
    assert eq.ExtendedErr.unpack(raw) == (42, 5, 7, 1, 9, 0x11223344, 0xAABBCCDD)


def test_short_sock_extended_err_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        eq.ExtendedErr.unpack(bytes(15))


def test_uapi_constants():
    assert (eq.SOL_IP, eq.IP_RECVERR, eq.SOL_IPV6, eq.IPV6_RECVERR) == (0, 11, 41, 25)
    assert (eq.SOL_VSOCK, eq.VSOCK_RECVERR) == (287, 1)
    assert (eq.SO_EE_ORIGIN_ZEROCOPY, eq.SO_EE_CODE_ZEROCOPY_COPIED) == (5, 1)
    assert (zerocopy.SO_ZEROCOPY, zerocopy.MSG_ZEROCOPY, zerocopy.MSG_ERRQUEUE) == (
        60, 0x4000000, 0x2000)


@pytest.mark.parametrize("cmsg, level, length", [
    (v4(info=3, data=7, code=1), eq.SOL_IP, 32),
    (v6(info=3, data=7, code=1), eq.SOL_IPV6, 44),
    ((eq.SOL_VSOCK, eq.VSOCK_RECVERR, ee(info=3, data=7, code=1)), eq.SOL_VSOCK, 16),
], ids=["ipv4", "ipv6", "vsock"])
def test_recverr_decodes_each_family(cmsg, level, length):
    (err,) = eq.recverr([cmsg])
    assert (err.level, err.length, err.is_zerocopy, err.copied) == (level, length, True, True)
    assert err.range == IdRange(3, 7) and err.range.count == 5
    assert err.offender == bytes(length - 16)


def test_recverr_skips_other_control_messages():
    timestamp = (socket.SOL_SOCKET, 37, bytes(48))
    got = eq.recverr([timestamp, v4(origin=eq.SO_EE_ORIGIN_TIMESTAMPING, errno=42)])
    assert len(got) == 1 and not got[0].is_zerocopy and got[0].ee.errno == 42


@pytest.mark.parametrize("word", [8, 4])
def test_control_buffer_round_trip(word):
    messages = [v4(info=1, data=2), (socket.SOL_SOCKET, 37, bytes(48)), v6(info=9, data=9)]
    raw = eq.build_control(messages, word)
    assert len(raw) % word == 0
    assert eq.parse_control(raw, word) == messages


def test_truncated_control_buffer_stops_at_the_last_whole_message():
    raw = eq.build_control([v4(), v6()])
    assert eq.parse_control(raw[:-5]) == [v4()]


# --- ranges ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lo, hi, count", [(0, 0, 1), (3, 7, 5), (0xFFFFFFFE, 1, 4),
                                           (0xFFFFFFFF, 0xFFFFFFFF, 1), (1, 0, 2**32)])
def test_range_count_wraps_at_32_bits(lo, hi, count):
    assert IdRange(lo, hi).count == count


def test_range_ids_wrap_and_huge_ranges_are_not_expanded():
    assert IdRange(0xFFFFFFFE, 1).ids() == [0xFFFFFFFE, 0xFFFFFFFF, 0, 1]
    with pytest.raises(ValueError, match="refusing"):
        IdRange(1, 0).ids()


def test_merge_joins_adjacent_ranges_in_any_order():
    merged = eq.merge([IdRange(5, 6), IdRange(0, 2), IdRange(3, 4), IdRange(9, 9)])
    assert merged == eq.Merged([IdRange(0, 6), IdRange(9, 9)], [])


def test_merge_reports_ids_covered_twice():
    merged = eq.merge([IdRange(0, 4), IdRange(3, 6), IdRange(6, 6)])
    assert merged.runs == [IdRange(0, 6)]
    assert merged.repeated == [IdRange(3, 4), IdRange(6, 6)]


def test_merge_reads_the_id_space_from_its_base_across_the_wrap():
    merged = eq.merge([IdRange(0, 1), IdRange(0xFFFFFFFE, 0xFFFFFFFF)], base=0xFFFFFFFE)
    assert merged.runs == [IdRange(0xFFFFFFFE, 1)]


@pytest.mark.parametrize("ranges, calls, first, problems", [
    ([IdRange(0, 4)], 5, 0, []),
    ([IdRange(0, 1), IdRange(2, 2), IdRange(3, 4)], 5, 0, []),
    ([IdRange(2, 4), IdRange(0, 1)], 5, 0, []),                      # out of order is fine
    ([], 0, 0, []),
    ([IdRange(0xFFFFFFFF, 1)], 3, 0xFFFFFFFF, []),                  # wraps
    ([IdRange(0, 1), IdRange(3, 4)], 5, 0, ["ids never notified: [2, 2]"]),
    ([IdRange(0, 3), IdRange(3, 4)], 5, 0, ["ids notified more than once: [3, 3]"]),
    ([IdRange(0, 5)], 5, 0, ["ids beyond the 5 successful zerocopy calls: [5, 5]"]),
    ([IdRange(0, 0)], 0, 0, ["ids beyond the 0 successful zerocopy calls: [0, 0]"]),
    ([IdRange(1, 1)], 1, 0, ["ids never notified: [0, 0]",
                             "ids beyond the 1 successful zerocopy calls: [1, 1]"]),
    ([IdRange(1, 1)], 1, 1, []),                                    # ids may start later
], ids=["one", "pieces", "unordered", "none", "wrap", "gap", "overlap", "extra",
        "extra-without-calls", "shifted", "first=1"])
def test_contract_problems(ranges, calls, first, problems):
    assert eq.contract_problems(ranges, calls, first) == problems


def test_contract_refuses_to_expand_a_range_of_2_to_the_32_ids():
    (problem,) = eq.contract_problems([IdRange(1, 0)], 3)
    assert "implausibly many" in problem


# --- the shared collector's checks, fed synthetic reads ----------------------------------------

@pytest.fixture
def collector():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield Notifications(sock)
    sock.close()


def read(*cmsgs, flags=MSG_ERRQUEUE, length=0) -> ErrRead:
    return ErrRead(length, flags, list(cmsgs), eq.recverr(cmsgs))


def test_collector_accepts_well_formed_reads(collector):
    collector.reads += [read(v4(info=0, data=1, code=1)), read(v4(info=2, data=2))]
    assert collector.ranges == [IdRange(0, 1), IdRange(2, 2)]
    assert collector.codes == [1, 0]
    assert collector.problems(3) == []


@pytest.mark.parametrize("bad, fragment", [
    (read(v4(), length=3), "3 payload bytes"),
    (read(v4(), flags=0), "want MSG_ERRQUEUE"),
    (read(v4(), flags=MSG_ERRQUEUE | MSG_CTRUNC), "no MSG_CTRUNC"),
    (read(), "0 RECVERR control messages"),
    (read(v4(), v4()), "2 RECVERR control messages"),
    (read(v6()), "want SOL_IP/IP_RECVERR"),
    (read(v4(errno=11)), "ee_errno 11"),
    (read(v4(origin=eq.SO_EE_ORIGIN_ICMP)), "origin 2"),
], ids=["payload", "no-errqueue-flag", "ctrunc", "no-cmsg", "two-cmsgs", "wrong-level",
        "errno", "other-origin"])
def test_collector_reports_malformed_reads(collector, bad, fragment):
    collector.reads.append(bad)
    assert any(fragment in p for p in collector.problems(1)), collector.problems(1)


def test_collector_allows_other_origins_when_asked(collector):
    collector.reads += [read(v4(origin=eq.SO_EE_ORIGIN_TIMESTAMPING, errno=42)),
                        read(v4(info=0, data=0))]
    assert collector.problems(1, others=True) == []


# --- the sendfile2 RFC binding never calls a number nobody named -----------------------------

@pytest.mark.parametrize("nr", [None, 0, -1, True, "467", 46.7])
def test_sendfile2_refuses_to_guess_a_syscall_number(nr, monkeypatch):
    monkeypatch.setattr(zerocopy, "_libc", lambda name: pytest.fail(f"looked up {name}"))
    with pytest.raises(ValueError, match="syscall number the user named"):
        zerocopy.sendfile2(nr, 1, 0, None, 1, zerocopy.SENDFILE_ZC)


def test_no_default_syscall_number_exists():
    import inspect
    assert inspect.signature(zerocopy.sendfile2).parameters["nr"].default is inspect.Parameter.empty


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64",
                    reason="uses x86_64's __NR_sendfile (40) to exercise the binding")
def test_sendfile2_binding_passes_arguments_and_reads_the_offset_back(tmp_path):
    """Through syscall 40 (sendfile64, which ignores the fifth argument)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"0123456789")
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        result = zerocopy.sendfile2(40, fout.fileno(), fin.fileno(), 3, 4, 0)
    assert result == (4, 7)
    assert dst.read_bytes() == b"3456"


RFC_SUITE = Path(conformance.__file__).parent / "linux" / "test_sendfile2_rfc.py"


@pytest.mark.skipif(platform.system() != "Linux", reason="the RFC suite and its splice binding "
                    "are Linux-only (libc without splice elsewhere)")
@pytest.mark.parametrize("extra", [[], ["--sendfile2-nr=467"]], ids=["no-option", "nr=467"])
def test_rfc_suite_calls_no_syscall_unless_the_kernel_and_the_user_allow(pytester, monkeypatch,
                                                                         extra):
    """Running the RFC suite here makes no raw syscall: without the option every sendfile2
    test skips naming the option; with --sendfile2-nr=467 on a kernel without the RFC they skip
    naming the series."""
    from conformance.probes import zerocopy as probes
    if extra and platform.system() == "Linux" and probes.splice_f_zc() is None:
        pytest.skip("this kernel carries the RFC: syscall 467 could legitimately be called")
    calls = []
    real = zerocopy._libc

    def guarded(name):
        if name == "syscall":
            def refuse(*args):
                calls.append(args)
                raise AssertionError(f"raw syscall{args} made")
            return refuse
        return real(name)

    monkeypatch.delenv(probes.SENDFILE2_ENV, raising=False)
    monkeypatch.setattr(zerocopy, "_libc", guarded)
    result = pytester.runpytest_inprocess(str(RFC_SUITE), "-p", "no:cacheprovider", "-rs", *extra)
    outcomes = result.parseoutcomes()
    assert calls == []
    assert outcomes.get("skipped", 0) >= 9 and set(outcomes) == {"skipped"}, outcomes
    assert ("SPLICE_F_ZC" if extra else "--sendfile2-nr=N") in result.stdout.str()
    assert probes.named_sendfile2_nr is None, "the option leaked out of the run"


# --- the collector stops when nothing more can come, and still sees what comes late ---------

def script(collector, monkeypatch, batches):
    """recv_errqueue() hands out the reads of the current batch, then EAGAIN; each pollerr()
    opens the next batch (True), or reports nothing when none is left."""
    pending = [list(b) for b in batches]
    current: list = pending.pop(0) if pending else []

    def recv(sock):
        if current:
            return current.pop(0)
        raise BlockingIOError(errno.EAGAIN, "empty")

    def pollerr(timeout):
        if not pending:
            return False
        current[:] = pending.pop(0)
        return True

    monkeypatch.setattr(zc_fixtures, "recv_errqueue", recv)
    monkeypatch.setattr(collector, "pollerr", pollerr)


def test_collect_sees_a_duplicate_that_arrives_after_the_ids_are_covered(collector, monkeypatch):
    script(collector, monkeypatch, [[read(v4(info=0, data=0))], [read(v4(info=0, data=0))]])
    collector.collect(1)
    assert any("twice" in p or "more than once" in p for p in collector.problems(1)), \
        collector.problems(1)


def test_collect_gives_up_once_a_tcp_sender_is_all_acked(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        notes = Notifications(sock)
        script(notes, monkeypatch, [[]])
        monkeypatch.setattr(zc_fixtures, "tcp_unacked", lambda s: 0)
        start = time.monotonic()
        assert notes.collect(1, deadline=30) == []
        assert time.monotonic() - start < 5, "waited for a notification that cannot come"
        assert notes.problems(1)


def test_after_one_silent_deadline_later_collects_wait_less(collector, monkeypatch):
    script(collector, monkeypatch, [])
    monkeypatch.setattr(zc_fixtures._silence, "deadline", zc_fixtures.ARRIVAL)
    with pytest.warns(UserWarning, match="did not arrive within"):
        collector.collect(1, deadline=0.05)
    assert zc_fixtures._silence.deadline == zc_fixtures.NOTIFY_AFTER_SILENCE
