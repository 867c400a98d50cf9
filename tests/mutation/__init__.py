"""Mutation self-test: the Linux suite run against kernels that lie on purpose.

`python -m tests.mutation` (or `tox -e mutation`), as root on Linux x86_64, runs the suite files
each lie concerns once without any lie (the baseline, in the same invocation) and once under the
lie, then prints the kill matrix: for each lie, the tests that failed because of it. It exits 1
when a lie survives (no test failed), when a run takes more than five times its baseline, or
when a lie's answer has the wrong shape: an absent feature (kind "absent") must give skips that
name its config option and nothing else; a regression of an always-present interface with a
dedicated test (must_fail) must fail that test while the rest skip naming it; behaviour the
contract allows (kind "allowed") must leave the suite green. The lies are in lies.py.

How a lie is injected, per lie (column "mechanism" of the matrix):

- seccomp: a libseccomp filter with SCMP_ACT_ERRNO rules, installed in a child that then execs
  pytest, so the kernel itself fails the matching calls in every process and thread of the run.
  Argument conditions make the lie precise: splice() whose flags hold SPLICE_F_NONBLOCK,
  socket(AF_VSOCK, ...), recvmsg()/recvmmsg() with MSG_ERRQUEUE. An absent feature also comes
  with the config a kernel built without it publishes: the child unshares its mount namespace
  and bind-mounts an edited /proc/config.gz (or /boot/config-<release>) before the exec;
  vsock-refused-built-in keeps CONFIG_VSOCKETS=y, so the same refusal is broken, not absent.
- ptrace: the same filter with SCMP_ACT_TRACE rules stops the caller at the few syscalls the lie
  is about (nowhere else), and a small tracer (tracer.py) decides from the arguments and the
  tracee's /proc entries: skip the call and return a value (splice returning 0 every second
  call), or let it run and rewrite its result (EBADF -> EINVAL when in_fd is not open, ESPIPE <->
  EINVAL, half the count sendfile really moved), or refuse SO_ZEROCOPY on sockets whose
  protocol (the sockfs xattr system.sockprotoname) is TCP. strace -e inject= can skip calls but
  cannot make the change depend on the real result or on the socket, hence the tracer.
- binding: for notification lies (missing, duplicated, merged, out-of-order ranges, a wrong
  ee_code) tampering with the error queue inside the kernel is impractical; the pytest plugin
  inject.py reads the kernel's real answer and passes it on dropped, repeated, held back, merged
  or edited, at the lowest layer the suite reads through (socket.socket.recvmsg with
  MSG_ERRQUEUE and conformance.abi.zerocopy.recvmmsg_errqueue). The suite sees exactly what a
  kernel queueing such notifications would give it.

Each run has a per-test timeout (pytest-timeout, above the suite's own 10 s deadlines) so a test
that spins costs little, and an outer deadline (five times the baseline plus a grace) after which
pytest is interrupted (SIGINT to its pid, so fixtures tear down), then its process group killed.
A test stopped by the per-test timeout does not count as catching the lie.

tests/mutation/test_harness.py checks the harness itself (streams, verdicts, matrix, the
recording plugin, the tracer end to end) in the ordinary self-test run; the mutation runs
themselves are never collected by pytest.
"""
