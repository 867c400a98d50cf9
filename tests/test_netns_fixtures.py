"""Self-tests of the network fixtures (fixtures/netns.py, fixtures/wire.py) and the rootless
decision (conformance/targets/rootless.py): names, cleanup bookkeeping, leak checks, readiness
parsing, stream reassembly, rootless plans. They run without root on any OS; the end-to-end
checks at the bottom need a network namespace and skip naming what is missing."""
import errno
import os
import platform
import signal
import socket
import struct
import threading

import pytest
from conformance.fixtures.netns import (
    IFNAMSIZ,
    Cleanup,
    Ledger,
    Names,
    Seen,
    observe,
    timeout_held,
)
from conformance.fixtures.topology import RTM_NEWLINK, running_links

from conformance.targets import rootless

NAMES = Names("a1b2c3", "gw0")


def test_names_are_unique_per_worker_and_test():
    workers = ["main", "gw0", "gw1", "gw10", "gw11", "gw101"]
    made = [(Names("a1b2c3", w).netns(n, r), Names("a1b2c3", w).link(n, r))
            for w in workers for n in range(1, 3000) for r in "abd"]
    assert len({ns for ns, _ in made}) == len(made)
    assert len({link for _, link in made}) == len(made)


def test_names_of_two_runs_differ_and_links_fit_ifnamsiz():
    assert Names("a1b2c3", "gw0").netns(1, "a") != Names("d4e5f6", "gw0").netns(1, "a")
    longest = Names("a1b2c3", "gw999").link(36**4 - 1, "a")
    assert len(longest) < IFNAMSIZ and not set(longest) & set("/: \t")
    with pytest.raises(ValueError, match="IFNAMSIZ"):
        Names("a1b2c3", "gw99999").link(36**5, "a")


def test_names_come_from_the_xdist_worker():
    worker = type("Config", (), {})()
    worker.workerinput = {"testrunuid": "0123456789abcdef", "workerid": "gw3"}
    assert Names.for_config(worker) == Names("012345", "gw3")
    main = Names.for_config(object())
    assert main.worker == "main" and main.run != Names.for_config(object()).run


def test_cleanup_runs_last_in_first_out_and_releases():
    ledger, order = Ledger(NAMES), []
    cleanup = Cleanup(ledger, "t")
    for what in ("netns", "link", "fd"):
        cleanup.add(what, what, lambda w=what: order.append(w))
    assert len(ledger.held) == 3 and ledger.used
    cleanup.close()
    assert order == ["fd", "link", "netns"] and not ledger.held


def test_cleanup_ignores_only_already_gone():
    ledger = Ledger(NAMES)
    cleanup = Cleanup(ledger, "t")

    def gone():
        raise FileNotFoundError(errno.ENOENT, "no such namespace")

    def stuck():
        raise PermissionError(errno.EPERM, "cannot remove")

    cleanup.add("netns", "stuck", stuck)
    cleanup.add("netns", "gone", gone)
    with pytest.raises(PermissionError):
        cleanup.close()
    assert ledger.held_by("t") == ["netns stuck"]
    assert "netns stuck (made by t)" in ledger.leaks(Seen([], [], {}, []))


def test_leak_check_names_what_this_session_left():
    ledger = Ledger(NAMES)
    ledger.made[(7, 70)] = "TCP client in zc-a1b2c3-gw0-1a"
    seen = Seen(netns=[NAMES.netns(1, "a"), Names("ffffff", "gw0").netns(1, "a"), "other"],
                links=[NAMES.link(1, "a"), Names("a1b2c3", "gw1").link(1, "a"), "eth0"],
                fds={5: (7, 70), 6: (7, 71)},
                threads=[f"netns:{NAMES.netns(2, 'b')}_0", "MainThread"])
    assert ledger.leaks(seen) == [
        f"netns {NAMES.netns(1, 'a')} in /var/run/netns",
        f"link {NAMES.link(1, 'a')} in the test process's namespace",
        "fd 5 still refers to TCP client in zc-a1b2c3-gw0-1a",
        f"thread netns:{NAMES.netns(2, 'b')}_0 still running",
    ]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_an_fd_left_open_on_a_made_socket_is_found():
    ledger = Ledger(NAMES)
    a, b = socket.socketpair()
    ledger.identify(a.fileno(), "socket a")
    with b:
        dup = a.dup()
        a.close()
        assert any("socket a" in p for p in ledger.leaks(observe(look_for_links=False)))
        dup.close()
        assert ledger.leaks(observe(look_for_links=False)) == []


LEAKY = """
def test_forgets(netns_leak_check):
    netns_leak_check.hold("netns", "zc-forgotten", "test_forgets")

def test_undo_fails(netns_cleanup):
    def stuck():
        raise PermissionError(1, "cannot remove")
    netns_cleanup.add("link", "zstuck", stuck)
"""


def test_leak_checks_fail_loudly(pytester):
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)  # both land in the last test's teardown
    result.stdout.fnmatch_lines(["*network fixture leak check FAILED; left behind:*",
                                 "*netns zc-forgotten (made by test_forgets)*",
                                 "*link zstuck (made by *test_undo_fails)*"])


def test_released_resources_leave_the_leak_check_quiet(pytester):
    pytester.makepyfile(test_tidy="""
def test_tidy(netns_cleanup):
    netns_cleanup.add("fd", "something", lambda: None)
""")
    pytester.runpytest().assert_outcomes(passed=1)


def test_timeout_held_delivers_sigalrm_afterwards():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        with timeout_held():
            # Directed at this thread: a process-directed signal may land on another thread
            # (xdist's execnet threads) that does not block it.
            signal.pthread_kill(threading.get_ident(), signal.SIGALRM)
            assert fired == []
        assert fired == [1]
    finally:
        signal.signal(signal.SIGALRM, old)


def _newlink(index: int, flags: int, kind: int = RTM_NEWLINK, extra: bytes = b"") -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0) + extra
    message = struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body
    return message + b"\0" * (-len(message) % 4)  # netlink aligns messages to 4 bytes


def test_running_links_reads_rtm_newlink_flags():
    data = (_newlink(2, 0x1) + _newlink(10, 0x1 | 0x40, extra=b"\0" * 6)
            + _newlink(3, 0x40, kind=17) + _newlink(4, 0x41))
    assert running_links(data) == {10, 4}
    assert running_links(b"") == set() and running_links(b"\0" * 16) == set()


def _tcp(seq: int, payload: bytes = b"", flags: str = "A", src=("192.0.2.1", 1000),
         dst=("192.0.2.2", 2000)):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    frame = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src=src[0], dst=dst[0])
             / TCP(sport=src[1], dport=dst[1], seq=seq % 2**32, flags=flags) / payload)
    return Ether(bytes(frame))


def test_tcp_stream_places_segments_by_sequence_number():
    from conformance.fixtures.wire import tcp_stream
    src, dst = ("192.0.2.1", 1000), ("192.0.2.2", 2000)
    isn = 2**32 - 3  # the stream wraps the sequence space
    packets = [_tcp(isn, flags="S"), _tcp(isn + 1 + 5, b"world"), _tcp(isn + 1, b"hello"),
               _tcp(isn + 1, b"hel"), _tcp(7, b"x", src=dst, dst=src)]
    assert tcp_stream(packets, src, dst) == b"helloworld"


def test_tcp_stream_refuses_holes_changed_retransmits_and_a_missing_syn():
    from conformance.fixtures.wire import CaptureIncomplete, tcp_stream
    src, dst = ("192.0.2.1", 1000), ("192.0.2.2", 2000)
    with pytest.raises(CaptureIncomplete, match="hole"):
        tcp_stream([_tcp(99, flags="S"), _tcp(105, b"late")], src, dst)
    with pytest.raises(ValueError, match="retransmits different bytes"):
        tcp_stream([_tcp(99, flags="S"), _tcp(100, b"abc"), _tcp(100, b"abX")], src, dst)
    with pytest.raises(CaptureIncomplete, match="no SYN"):
        tcp_stream([_tcp(100, b"abc")], src, dst)


def test_plan_as_root_runs_pytest_as_is():
    assert rootless.plan(euid=0) == rootless.Plan(None, None)


@pytest.mark.parametrize("kwargs, reason", [
    ({"system": "FreeBSD"}, "user namespaces are Linux-only"),
    ({"unshare": None}, "unshare(1) (util-linux) is not installed"),
    ({"sysctls": {"kernel/unprivileged_userns_clone": "0"}},
     "kernel.unprivileged_userns_clone = 0 forbids unprivileged user namespaces"),
    ({"sysctls": {"user/max_net_namespaces": "0"}}, "user.max_net_namespaces = 0"),
    ({"try_it": lambda wrap: "unshare: write failed /proc/self/uid_map: Operation not permitted"},
     "`unshare -Urnm` did not work: unshare: write failed /proc/self/uid_map"),
], ids=["not-linux", "no-unshare", "userns-clone-0", "max-net-0", "trial-fails"])
def test_plan_without_root_names_why_not(kwargs, reason):
    args = {"euid": 1000, "system": "Linux", "unshare": "/usr/bin/unshare", "sysctls": {},
            "try_it": lambda wrap: None, **kwargs}
    plan = rootless.plan(**args)
    assert plan.wrap is None and plan.reason.startswith("not root (euid 1000)")
    assert reason in plan.reason
    assert plan.env()[rootless.ROOTLESS_ENV] == plan.reason
    assert plan.argv(["pytest"]) == ["pytest"]


def test_plan_without_root_wraps_pytest_in_a_user_namespace():
    tried = []
    plan = rootless.plan(euid=1000, system="Linux", unshare="/usr/bin/unshare",
                         sysctls={"user/max_user_namespaces": "15000"},
                         try_it=lambda wrap: tried.append(wrap))
    assert plan.reason is None and tried == [plan.wrap]
    argv = plan.argv(["python", "-m", "pytest"])
    assert argv[:5] == ["/usr/bin/unshare", "--user", "--map-root-user", "--net", "--mount"]
    assert argv[-6:] == ["conformance.targets.rootless", "inner", "--", "python", "-m", "pytest"]
    assert plan.env()[rootless.ROOTLESS_ENV] == "inside an unprivileged user namespace"


def test_rootless_entry_point_rejects_other_arguments(capsys):
    assert rootless.main(["inner"]) == 2
    assert "usage" in capsys.readouterr().err


# End to end: these need a network namespace (root, or the rootless target) and skip otherwise.

@pytest.fixture
def needs(request):
    def need(*features: str) -> None:
        if platform.system() != "Linux":
            pytest.skip(f"network namespaces are Linux-only (running {platform.system()})")
        from conformance.probes import netns as netns_probes
        probes = {"netns": netns_probes.netns_probe, "veth": netns_probes.veth_probe,
                  "dummy": netns_probes.dummy_probe,
                  "scapy-capture": netns_probes.scapy_capture_probe}
        for name in features:
            if reason := probes[name]():
                pytest.skip(f"requires {name}: {reason}")
    return need


# Each inner session (or xdist worker) writes down its name prefixes, so the outer test can
# look for exactly what it made, whatever else runs on the machine.
RECORD_PREFIXES = """
import pytest

@pytest.fixture(scope="session", autouse=True)
def record_prefixes(netns_leak_check):
    names = netns_leak_check.names
    with open(PREFIXES, "a") as f:
        f.write(f"{names.netns_prefix} {names.link_prefix}\\n")
"""


def _run_inner(pytester, *args, subprocess=False):
    prefixes = pytester.path / "prefixes.txt"
    pytester.makeconftest(f"PREFIXES = {str(prefixes)!r}\n" + RECORD_PREFIXES)
    pytester.makepyfile(test_chain=CHAIN)
    result = (pytester.runpytest_subprocess if subprocess else pytester.runpytest)(*args)
    made = [line.split() for line in prefixes.read_text().splitlines()]
    seen = observe()
    left = [n for n in seen.netns + seen.links for p in made if n.startswith(tuple(p))]
    return result, made, left


CHAIN = """
import socket, pytest
from conformance.fixtures.wire import tcp_stream, udp_datagrams

@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_tcp_across_the_veth(veth_pair, connected_pair, wire_capture, family):
    capture = wire_capture(veth_pair.b)
    a, b = connected_pair("tcp", family)
    a.sendall(b"ping")
    a.shutdown(socket.SHUT_WR)
    assert b.recv(16) == b"ping" and b.recv(16) == b""
    assert tcp_stream(capture.stop(), a.getsockname()[:2], b.getsockname()[:2]) == b"ping"

def test_udp_across_the_veth(veth_pair, connected_pair, wire_capture):
    capture = wire_capture(veth_pair.a)
    a, b = connected_pair("udp")
    a.send(b"one")
    b.send(b"two")
    assert (b.recv(16), a.recv(16)) == (b"one", b"two")
    packets = capture.stop()
    assert udp_datagrams(packets, a.getsockname(), b.getsockname()) == [b"one"]
    assert udp_datagrams(packets, b.getsockname(), a.getsockname()) == [b"two"]

def test_fails_after_setup(veth_pair, connected_pair, wire_capture):
    wire_capture(veth_pair.b)
    connected_pair("tcp")
    assert False, "deliberate"

@pytest.mark.timeout(1, method="signal")
def test_times_out_while_waiting(veth_pair, connected_pair):
    a, b = connected_pair("tcp")
    b.recv(1)  # nothing is ever sent

@pytest.fixture
def deaf(monkeypatch):
    import conformance.fixtures.topology
    monkeypatch.setattr(conformance.fixtures.topology, "RTMGRP_LINK", 0)  # no link ever ready

@pytest.mark.timeout(1, method="signal")
def test_times_out_in_setup(deaf, veth_pair):
    pass
"""


def test_chain_carries_traffic_and_cleans_up_on_pass_fail_and_timeouts(pytester, needs):
    needs("netns", "veth", "scapy-capture")
    result, made, left = _run_inner(pytester)
    result.assert_outcomes(passed=3, failed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_times_out_in_setup*", "*Timeout*",
                                 "*deliberate*", "*test_times_out_while_waiting*", "*Timeout*"])
    assert "leak check" not in result.stdout.str()
    assert len(made) == 1 and left == []


def test_xdist_workers_use_their_own_names_and_leave_nothing(pytester, needs):
    needs("netns", "veth", "scapy-capture")
    result, made, left = _run_inner(pytester, "-n", "2", "-k", "across", subprocess=True)
    result.assert_outcomes(passed=3)
    assert len({netns for netns, _ in made}) == 2 and left == []


def test_dummy_link_pair(pytester, needs):
    needs("netns", "dummy")
    pytester.makepyfile(test_dummy="""
def test_pair_over_dummy(dummy_link, connected_pair):
    a, b = connected_pair("udp", a=dummy_link, b=dummy_link)
    a.send(b"x")
    assert b.recv(4) == b"x"
""")
    pytester.runpytest().assert_outcomes(passed=1)
