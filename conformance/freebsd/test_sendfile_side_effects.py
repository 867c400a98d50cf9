"""FreeBSD sendfile(2) side effect on the socket: the automatic send low-water mark.

Source: sys/kern/kern_sendfile.c sendfile_wait_generic(): while the send buffer's low-water mark
is automatic (SB_AUTOLOWAT), each call with file data raises SO_SNDLOWAT to at least SO_SNDBUF/2
and at least a page (so a non-blocking socket is reported writable only with room for a bulk
send); the XXXGL comment there explains it changes the mark for the next call, not this one.
An explicit setsockopt(SO_SNDLOWAT) makes the mark manual and the call leaves it alone.

Cases: a fresh connected TCP socket with SO_SNDBUF pinned to 64 KiB; the same after setting
SO_SNDLOWAT to 1.
"""
import os
import socket

import pytest

from conformance.abi.freebsd_sendfile import sendfile
from conformance.abi.memory import PAGE_SIZE
from conformance.fixtures.files import pattern
from conformance.fixtures.freebsd_sendfile import SMALL_BUFFER

pytestmark = pytest.mark.requires(os="freebsd")


@pytest.fixture
def src(make_file) -> int:
    return make_file(pattern(1000), os.O_RDONLY)


def lowat(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDLOWAT)


@pytest.mark.clause("FBSD-SF-SNDLOWAT-SIDE-EFFECT")
def test_call_raises_the_automatic_send_lowat(src, sf_peer):
    """SO_SNDLOWAT after the call = max(before, SO_SNDBUF / 2, PAGE_SIZE)."""
    sender = sf_peer(buffer=SMALL_BUFFER).sender
    hiwat, before = sender.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), lowat(sender)
    assert sendfile(src, sender.fileno(), 0, 0).ret == 0
    assert lowat(sender) == max(before, hiwat // 2, PAGE_SIZE), (
        f"SO_SNDLOWAT {before} -> {lowat(sender)} with SO_SNDBUF {hiwat}")


@pytest.mark.clause("FBSD-SF-SNDLOWAT-SIDE-EFFECT")
def test_explicit_send_lowat_is_left_alone(src, sf_peer):
    """After setsockopt(SO_SNDLOWAT, 1) the call leaves the mark at 1."""
    sender = sf_peer(buffer=SMALL_BUFFER).sender
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDLOWAT, 1)
    assert sendfile(src, sender.fileno(), 0, 0).ret == 0
    assert lowat(sender) == 1
