"""Every deadline the suite waits with, in one place (seconds)."""

import os

# How long to wait for something that must happen promptly on a local host
# (data arriving over loopback or veth, a notification being queued).
ARRIVAL = 10.0

# How long to watch for something that must NOT happen (an unexpected notification).
# Long enough for loopback ACKs and skb frees, short enough to keep runs fast.
ABSENCE = 0.5

# TCP connect/accept on loopback.
CONNECT = 10.0

# A helper child process that starts, does one thing and reports: a fresh Python interpreter
# making one call, modprobe, a FreeBSD jail command. Start-up is what takes the time: seconds
# under QEMU TCG on a loaded host.
CHILD_PROCESS = 60.0

# Network fixtures: building a namespace topology (a namespace's helper thread answering, links
# reaching operstate UP) and stopping a wire capture's sniffer thread.
NETNS_SETUP = 10.0
CAPTURE_STOP = 5.0

# SO_SPLICE idle timer (conformance/freebsd/test_so_splice_idle.py). SLOW_FACTOR scales every
# margin for an event that may come late: 1 on hardware or KVM; raise it here (e.g. 4) for a
# kernel running under emulation (QEMU TCG), where timers and threads run several times late.
SLOW_FACTOR = float(os.environ.get("CONFORMANCE_SLOW_FACTOR", "1"))
# An idle unsplice may be seen at most this much before the requested time. The kernel arms the
# timer after the test reads its clock and callouts fire at most a tick early (hz=1000: 1 ms);
# the rest covers how the test places the unsplice: between the last byte the splice forwarded
# and the first it left behind, sent at most half this margin apart, plus one forwarding delay.
SPLICE_IDLE_EARLY = 0.05 * SLOW_FACTOR
# ...and at most this much after the requested time plus the callout's own precision (1/16 of
# the interval, C_PREL(4) in uipc_socket.c so_splice()): taskqueue thread scheduling, the
# unsplice itself and one probe byte's round trip over loopback.
SPLICE_IDLE_LATE = 0.25 * SLOW_FACTOR

# SO_SPLICE wait_readable(): the longest single poll(2) before it polls again (not a deadline).
REPOLL = 0.05

# How often a blocked call is signalled until it returns (the FreeBSD sendfile EINTR cases):
# periodic, so a signal that lands before the call sleeps is followed by one that lands during.
INTERRUPT_INTERVAL = 0.05

# MSG_ZEROCOPY (conformance/linux/test_msg_zerocopy_*.py). A read of an empty error queue must
# return at once; it counts as "at once" when it returns within this margin, while the socket's
# SO_RCVTIMEO (ARRIVAL) would make a blocking read last that long.
ERRQUEUE_IMMEDIATE = 1.0
# How long the vsock probe waits for a connection to VMADDR_CID_LOCAL: a loopback transport
# answers at once; without one, the guest-to-host transport may never answer.
VSOCK_PROBE = 2.0
