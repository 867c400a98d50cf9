"""Kernel health and crash survival shown in a disposable guest (not a self-test: run it only
inside a VM, e.g. `conformance run --kernel IMAGE -- tests/data/kernel_log/guest_demo.py`).

- test_segfault_line: a real SIGSEGV; the kernel itself logs "python3[PID]: segfault at 0";
- test_warning_records: writes a refcount_t WARN report into /dev/kmsg, one record per write
  (the kernel's record path, synthetic content), and sets taint W through
  /proc/sys/kernel/tainted (the kernel's own taint mechanism);
- test_sigkill: the test's process is killed;
- test_after: still runs.
"""
import ctypes
import faulthandler
import os
import signal
from pathlib import Path

import pytest

SAMPLE = Path(__file__).with_name("refcount.kmsg")


@pytest.fixture(autouse=True)
def guest_only():
    vendor = Path("/sys/class/dmi/id/sys_vendor")
    if "QEMU" not in (vendor.read_text() if vendor.exists() else ""):
        pytest.skip("only inside a QEMU guest: it taints the kernel and kills processes")


def test_segfault_line():
    faulthandler.disable()  # an unhandled SIGSEGV: the kernel logs "segfault at" (exception-trace)
    ctypes.string_at(0)


@pytest.fixture
def devkmsg_on():
    """printk.devkmsg=on for the test: writes to /dev/kmsg are otherwise rate limited (10 per
    5 s), which would drop most of the report's records."""
    path = Path("/proc/sys/kernel/printk_devkmsg")
    old = path.read_text().strip()
    path.write_text("on\n")
    yield
    path.write_text(old + "\n")


def test_warning_records(devkmsg_on):
    with open("/dev/kmsg", "w") as kmsg:
        for line in SAMPLE.read_text().splitlines():
            if line.startswith("4,"):
                kmsg.write("<4>" + line.split(";", 1)[1] + "\n")
                kmsg.flush()
    with open("/proc/sys/kernel/tainted", "w") as fh:
        fh.write(str(1 << 9))


def test_sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


def test_after():
    assert True
