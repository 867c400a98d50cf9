"""splice(2) with character devices and /proc/sys files.

- /dev/zero and /dev/full are splice sources yielding the requested count of zero bytes;
  /dev/null and /dev/zero are sinks that consume the pipe (drivers/char/mem.c). Lost in 6.5
  (c6585011bc1d "splice: Remove generic_file_splice_read()"), restored in 6.7 (1b057bd800c3);
  6.5 and 6.6 give EINVAL, so these tests need 6.7. Peers: LTP splice08 (1009-byte multiples)
  and splice09;
- a /proc/sys file spliced into a pipe yields what read(2) yields; text spliced from a pipe into
  a writable one sets it (5.11+; peer: LTP splice06, which also round-trips domainname).
"""
import os

import pytest

from conformance.abi.splice import splice
from conformance.fixtures.files import pattern

pytestmark = pytest.mark.requires(os="linux")

DOMAINNAME = "/proc/sys/kernel/domainname"

DEV_SPLICE = {"kernel": "6.7",
              "because": "1b057bd800c3 restored splice on /dev/zero and /dev/full after "
                         "c6585011bc1d removed it in 6.5"}
PROC_SYS_SPLICE = {"kernel": "5.11",
                   "because": "LTP splice06 needs 5.11: 36e2c7421f02 (5.10) removed the default "
                              "splice fallback /proc/sys used"}


def drain(r: int, size: int) -> bytes:
    """Read size bytes that are already in a pipe."""
    chunks, got = [], 0
    while got < size:
        chunk = os.read(r, size - got)
        assert chunk, f"pipe ended after {got} of {size} bytes"
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


@pytest.mark.clause("LNX-SP-DEVZERO")
@pytest.mark.requires(**DEV_SPLICE)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full"])
@pytest.mark.parametrize("size", [1, 1009, 4096, 9 * 1009, 65536], ids=lambda n: f"len={n}")
def test_device_source_yields_zeros(open_path, make_pipe, device, size):
    """splice(device -> empty pipe, size): returns size, and the pipe holds size zero bytes."""
    src = open_path(device, os.O_RDONLY)
    r, w = make_pipe()
    assert splice(src, None, w, None, size).count == size
    assert drain(r, size) == bytes(size)


@pytest.mark.clause("LNX-SP-DEVZERO")
@pytest.mark.requires(**DEV_SPLICE)
@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_device_sink_consumes_the_pipe(open_path, make_pipe, device):
    """splice(pipe holding 1024 bytes -> device, 1024): returns 1024 and empties the pipe."""
    dst = open_path(device, os.O_WRONLY)
    r, w = make_pipe()
    os.write(w, pattern(1024))
    assert splice(r, None, dst, None, 1024).count == 1024
    os.set_blocking(r, False)
    with pytest.raises(BlockingIOError):
        os.read(r, 1)


@pytest.mark.clause("LNX-SP-PROCSYS")
@pytest.mark.requires(**PROC_SYS_SPLICE)
# Files whose value the suite never changes (the write test below changes the domain name).
@pytest.mark.parametrize("path", ["/proc/sys/fs/pipe-max-size", "/proc/sys/kernel/ostype"])
def test_proc_sys_file_spliced_into_pipe_reads_like_read(open_path, make_pipe, path):
    """A /proc/sys file spliced into a pipe yields the same text as read(2) of it."""
    with open(path, "rb") as f:
        expected = f.read()
    r, w = make_pipe()
    count = splice(open_path(path, os.O_RDONLY), None, w, None, 4096).count
    assert (count, os.read(r, 4096)) == (len(expected), expected)


@pytest.fixture
def restore_domainname():
    """Save the NIS domain name and write it back at teardown."""
    with open(DOMAINNAME, "rb") as f:
        saved = f.read().rstrip(b"\n")
    yield
    with open(DOMAINNAME, "wb") as f:
        f.write(saved)


@pytest.mark.clause("LNX-SP-PROCSYS")
@pytest.mark.requires(root=True, feature="SYSCTL_DOMAINNAME_WRITABLE", **PROC_SYS_SPLICE)
def test_pipe_spliced_into_proc_sys_file_sets_it(restore_domainname, open_path, make_pipe):
    """Text spliced from a pipe into /proc/sys/kernel/domainname becomes the domain name."""
    name = f"splice-conformance-{os.getpid()}".encode()
    r, w = make_pipe()
    os.write(w, name)
    dst = open_path(DOMAINNAME, os.O_WRONLY)
    assert splice(r, None, dst, None, len(name)).count == len(name)
    with open(DOMAINNAME, "rb") as f:
        assert f.read() == name + b"\n"
