"""SO_SPLICE on the system side: no enable switch and one tunable, a kernel process with a
worker thread per CPU, and a ktrace record of every struct splice set.

Sources: uipc_socket.c SYSCTL_NODE(_kern_ipc, splice) / SYSCTL_BOOL(receive_stream,
CTLFLAG_RWTUN, default true), splice_init() (kproc_kthread_add(..., "so_splice", "thr_%d") for
each CPU), sosetopt() ktrsplice(); sys/sys/ktrace.h (ktrsplice(s) is ktrstruct("splice", s,
sizeof(struct splice))); usr.bin/kdump/kdump.c ktrstruct() (a "splice" record of exactly
sizeof(struct splice) bytes goes to ktrsplice(), which prints "struct splice { fd=%d, max=%#jx,
idle=%jd.%06jd }"; read at CTSRD-CHERI/cheribsd@0b2025020faf, a tree that follows FreeBSD main);
freebsd-src PR #1426. Cases: kern.ipc.splice holds exactly receive_stream, a boolean; the so_splice
process has one thread per CPU once a splice was set (the SO_SPLICE probe already set one); a
traced child's splice and unsplice leave one STRU record each, printed by kdump as above.
"""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.requires(os="freebsd", feature="SO_SPLICE")

# A child that splices once (then unsplices as it exits) and prints the sink's descriptor: run
# under ktrace(1) with struct tracing.
SPLICE_ONCE = """
from contextlib import ExitStack
from conformance.fixtures.freebsd_splice import spliced
with ExitStack() as stack:
    print(spliced(stack, max=4242, idle=(7, 0)).sink.fileno(), flush=True)
"""


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.mark.clause("FBSD-SPLICE-NO-ENABLE-KNOB")
def test_the_only_tunable_is_receive_stream():
    """sysctl kern.ipc.splice holds one boolean, receive_stream."""
    names = run("sysctl", "-N", "kern.ipc.splice").split()
    value = run("sysctl", "-n", "kern.ipc.splice.receive_stream").strip()
    assert names == ["kern.ipc.splice.receive_stream"], f"kern.ipc.splice holds {names}"
    assert value in ("0", "1"), f"receive_stream = {value!r}, expected a boolean"


@pytest.mark.requires(os="freebsd", feature="PROCSTAT")
@pytest.mark.clause("FBSD-SPLICE-WORKER-THREADS")
def test_one_worker_thread_per_cpu():
    """procstat -at lists a so_splice process with one thr_<cpu> thread per CPU."""
    rows = [line.split() for line in run("procstat", "-a", "-t").splitlines()[1:]]
    threads = sorted(r[3] for r in rows if len(r) > 3 and r[2] == "so_splice")
    ncpu = int(run("sysctl", "-n", "hw.ncpu"))
    assert len(threads) == ncpu and all(t.startswith("thr_") for t in threads), (
        f"so_splice threads {threads}, expected {ncpu} named thr_<cpu>")


@pytest.mark.requires(os="freebsd", feature="KTRACE")
@pytest.mark.clause("FBSD-SPLICE-KTRACE")
def test_ktrace_records_the_struct_splice(tmp_path):
    """A child traced with ktrace -t t splices (sp_max 4242, sp_idle {7, 0}) and unsplices as it
    exits: kdump prints exactly those two struct splice records (max in hex, %#jx)."""
    trace = tmp_path / "ktrace.out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.run(["ktrace", "-t", "t", "-f", str(trace), sys.executable, "-c",
                            SPLICE_ONCE], check=True, capture_output=True, text=True, env=env)
    sink_fd = int(child.stdout.split()[-1])
    stru = [line.split("STRU", 1)[1].strip()
            for line in run("kdump", "-t", "t", "-f", str(trace)).splitlines() if " STRU " in line]
    splices = [r for r in stru if "splice" in r]
    assert splices == [f"struct splice {{ fd={sink_fd}, max=0x1092, idle=7.000000 }}",
                       "struct splice { fd=-1, max=0, idle=0.000000 }"], (
        f"kdump's splice records: {splices}; all STRU records: {stru[:8]}")
