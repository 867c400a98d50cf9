"""Every deadline the suite waits with, in one place (seconds)."""

# How long to wait for something that must happen promptly on a local host
# (data arriving over loopback or veth, a notification being queued).
ARRIVAL = 10.0

# How long to watch for something that must NOT happen (an unexpected notification).
# Long enough for loopback ACKs and skb frees, short enough to keep runs fast.
ABSENCE = 0.5

# TCP connect/accept on loopback.
CONNECT = 10.0
