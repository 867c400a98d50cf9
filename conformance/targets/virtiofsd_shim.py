"""Let virtme-ng use QEMU's C virtiofsd, for a kernel without 9p on a host without the Rust one.

virtme-ng 1.42 (virtme/commands/run.py, VirtioFS.start) looks for `virtiofsd` on PATH, checks
that `virtiofsd --version` exits 0 and whether `--help` names `--readonly`, then runs

    virtiofsd --syslog --no-announce-submounts [--posix-acl] [--readonly]
              --socket-path SOCK --shared-dir DIR --sandbox none --cache always|auto &

and waits about 3 s for SOCK.pid to appear (it later sends SIGTERM to the pid written there);
without it, it falls back to 9p, which a kernel without 9p cannot mount. QEMU 7.2's C virtiofsd
(/usr/lib/qemu/virtiofsd, Debian's qemu-system-common) takes other options (`-o source=DIR`,
`-o cache=MODE`, `-o sandbox=namespace|chroot`, `--socket-path=SOCK`), has no read-only mode
and writes its pid file elsewhere (/run/virtiofsd/). This shim, installed first on vng's PATH
as `virtiofsd` (install()), translates the options, starts the C daemon, and writes SOCK.pid
with the daemon's pid once the socket listens, so virtme-ng's wait and stop work unchanged.

`--help` is the C daemon's own, which does not name `--readonly`: virtme-ng then shares the root
read-write at the daemon (the guest still mounts it read-only). `--sandbox none` becomes
`-o sandbox=chroot` (a chroot into the shared directory; the C daemon has no "none").
"""
from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

# QEMU's C virtiofsd: where Debian (and most distributions before QEMU 8.0) install it.
C_PATHS = ("/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd")
# virtme-ng waits 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s for SOCK.pid; the socket must be up before.
SOCKET_DEADLINE = 3.0
POLL = 0.02
CACHE = {"always": "always", "auto": "auto", "never": "none", "metadata": "auto"}
PASSTHROUGH = {"--version", "-V", "--help", "-h", "--print-capabilities"}


class Unsupported(Exception):
    """An option the C daemon cannot honour: the shim exits 2 naming it."""


def c_virtiofsd(paths=C_PATHS) -> str | None:
    """QEMU's C virtiofsd (its --help names `-o source=PATH`), or None."""
    from conformance.targets.kernel_config import daemon_with_help
    return daemon_with_help(paths, "-o source=PATH")


def _take(argv: list[str], i: int) -> tuple[str, str, int]:
    """('--opt', value, next index) for '--opt value' and '--opt=value'."""
    name, eq, value = argv[i].partition("=")
    if eq:
        return name, value, i + 1
    if i + 1 >= len(argv):
        raise Unsupported(f"{name} needs a value")
    return name, argv[i + 1], i + 2


def translate(argv: list[str]) -> tuple[list[str], str]:
    """The Rust virtiofsd options virtme-ng passes -> (C virtiofsd options, socket path)."""
    out, sock, i = [], "", 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--syslog", "--no-announce-submounts"):
            # stderr, which virtme-ng shows with --verbose (a guest-less host has no syslog);
            # not announcing submounts is the C daemon's default
            i += 1
        elif arg == "--posix-acl":
            out += ["-o", "posix_acl"]
            i += 1
        elif arg.split("=")[0] in ("--socket-path", "--shared-dir", "--sandbox", "--cache"):
            name, value, i = _take(argv, i)
            if name == "--socket-path":
                sock = value
                out.append(f"--socket-path={value}")
            elif name == "--shared-dir":
                out += ["-o", f"source={value}"]
            elif name == "--sandbox":
                if value not in ("none", "chroot", "namespace"):
                    raise Unsupported(f"--sandbox {value}")
                out += ["-o", f"sandbox={'chroot' if value == 'none' else value}"]
            else:
                if value not in CACHE:
                    raise Unsupported(f"--cache {value}")
                out += ["-o", f"cache={CACHE[value]}"]
        else:
            raise Unsupported(arg)
    if not sock:
        raise Unsupported("no --socket-path")
    return [*out, "-o", "log_level=warn"], sock


def _listening(sock: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(sock).st_mode)
    except OSError:
        return False


def serve(daemon: str, argv: list[str], deadline: float = SOCKET_DEADLINE) -> int:
    """Start the C daemon with argv translated; write SOCK.pid once its socket exists; wait for
    it and return its exit status (128 + signal when killed)."""
    args, sock = translate(argv)
    proc = subprocess.Popen([daemon, *args], stdin=subprocess.DEVNULL)
    # A SIGTERM or SIGINT meant for the shim reaches the daemon too: it never outlives the shim.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: proc.send_signal(signum))
    end = time.monotonic() + deadline
    while not _listening(sock):
        if proc.poll() is not None:
            return proc.returncode
        if time.monotonic() > end:
            sys.stderr.write(f"virtiofsd shim: {daemon} made no socket {sock} within "
                             f"{deadline:.0f}s\n")
            proc.terminate()
            proc.wait()
            return 1
        time.sleep(POLL)
    Path(f"{sock}.pid").write_text(f"{proc.pid}\n")
    code = proc.wait()
    return 128 - code if code < 0 else code


def install(directory: Path) -> Path:
    """Write directory/virtiofsd, which runs this module with this interpreter; return
    directory (put it first on virtme-ng's PATH)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "virtiofsd"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m "
                      f"conformance.targets.virtiofsd_shim \"$@\"\n")
    script.chmod(0o755)
    return directory


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    daemon = c_virtiofsd()
    if daemon is None:
        sys.stderr.write(f"virtiofsd shim: QEMU's C virtiofsd not found ({', '.join(C_PATHS)})\n")
        return 2
    if argv and argv[0] in PASSTHROUGH:
        return subprocess.run([daemon, *argv], stdin=subprocess.DEVNULL, check=False).returncode
    try:
        return serve(daemon, argv)
    except Unsupported as e:
        sys.stderr.write(f"virtiofsd shim: option not supported by {daemon}: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
