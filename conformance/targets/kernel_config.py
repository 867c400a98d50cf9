"""A kernel image's build configuration, and how its guest can mount the host's root filesystem.

virtme-ng shares the host's root with the guest over 9p (CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO,
CONFIG_9P_FS) or virtio-fs (CONFIG_VIRTIO_FS, served by the Rust virtiofsd, or by QEMU's C
virtiofsd through conformance's option shim, targets/virtiofsd_shim.py); virtio-fs is preferred
where both work, being much faster under TCG (root_plan). A kernel with neither cannot boot the
suite, and the boot only says "mounting /dev/root on /newroot/ failed: No such device"; so the
image's config is read before booting, where it can be found:
config-RELEASE beside the image or in /boot, /lib/modules/RELEASE/build/.config, the build tree's
.config (IMAGE = arch/*/boot/bzImage), or the config embedded by CONFIG_IKCONFIG (the
"IKCFG_ST" marker then gzip data, in the image or in its compressed payload, as
scripts/extract-ikconfig finds it).
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from shutil import which

NINEP = ("CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS")
VIRTIOFS = ("CONFIG_FUSE_FS", "CONFIG_VIRTIO_FS")
IKCFG_ST, IKCFG_ED = b"IKCFG_ST", b"IKCFG_ED"
# Compressed payloads of a bzImage/vmlinuz: magic -> decompressor (scripts/extract-ikconfig).
PAYLOADS = ((b"\x1f\x8b\x08", lambda: zlib.decompressobj(31)),
            (b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
            (b"BZh", lambda: bz2.BZ2Decompressor()),
            (b"\x5d\x00\x00\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE)))
MAX_PAYLOAD_TRIES = 8
MAX_UNPACKED = 256 << 20
# The Rust virtiofsd (virtme-ng's search order). QEMU 7.2's C virtiofsd does not take the
# options virtme-ng passes (--shared-dir, --sandbox none) and writes no SOCKET.pid, so virtme-ng
# falls back to 9p; run_vm puts the shim (targets/virtiofsd_shim.py) first on vng's PATH instead.
VIRTIOFSD_PATHS = ("/usr/libexec/virtiofsd", "/usr/lib/virtiofsd/virtiofsd", "/usr/lib/virtiofsd",
                   "/usr/lib/qemu/virtiofsd")
CONFIG_LINE = re.compile(r"^(CONFIG_\w+)=(.*)$|^# (CONFIG_\w+) is not set$")


@dataclass(frozen=True)
class Config:
    options: dict[str, str]
    source: str

    def value(self, name: str) -> str | None:
        return self.options.get(name)


def parse(text: str) -> dict[str, str]:
    """'CONFIG_X=y' -> {'CONFIG_X': 'y'}; '# CONFIG_X is not set' -> {'CONFIG_X': 'n'}."""
    out = {}
    for line in text.splitlines():
        m = CONFIG_LINE.match(line.strip())
        if m:
            out[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
    return out


def _ikconfig_in(data: bytes) -> str | None:
    start = data.find(IKCFG_ST)
    if start < 0:
        return None
    try:
        return gzip.decompress(data[start + len(IKCFG_ST):data.find(IKCFG_ED, start)]
                               ).decode(errors="replace")
    except (OSError, EOFError, zlib.error):
        return None


def ikconfig(data: bytes) -> str | None:
    """The config embedded with CONFIG_IKCONFIG, in the image itself or in one of its
    compressed payloads (gzip, xz, bzip2, lzma), or None."""
    found = _ikconfig_in(data)
    if found is not None:
        return found
    for magic, make in PAYLOADS:
        pos, tries = data.find(magic), 0
        while pos >= 0 and tries < MAX_PAYLOAD_TRIES:
            tries += 1
            try:
                unpacked = make().decompress(data[pos:], MAX_UNPACKED) if magic != b"BZh" \
                    else make().decompress(data[pos:])
            except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
                unpacked = b""
            if unpacked and (found := _ikconfig_in(unpacked)) is not None:
                return found
            pos = data.find(magic, pos + 1)
    return None


def candidates(image: Path, release: str | None) -> list[Path]:
    out = []
    if release:
        out += [image.parent / f"config-{release}", Path("/boot") / f"config-{release}",
                Path("/lib/modules") / release / "build" / ".config"]
    if len(image.parents) >= 4 and image.parent.name == "boot":
        out.append(image.parents[3] / ".config")
    return out


def find(image: Path, release: str | None) -> Config | None:
    for path in candidates(image, release):
        try:
            return Config(parse(path.read_text(errors="replace")), str(path))
        except OSError:
            continue
    try:
        text = ikconfig(image.read_bytes())
    except OSError:
        return None
    return Config(parse(text), f"{image} (embedded IKCONFIG)") if text else None


def usable(config: Config, name: str, modules: bool) -> bool:
    """Built in, or a module the guest can load (the host has /lib/modules/RELEASE)."""
    return config.value(name) == "y" or (config.value(name) == "m" and modules)


def daemon_with_help(paths, marker: str) -> str | None:
    """The first executable of paths whose --help output names marker (which virtiofsd it is:
    the Rust one names --shared-dir, QEMU's C one -o source=PATH), or None."""
    for path in paths:
        if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
            continue
        try:
            text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10,
                                  stdin=subprocess.DEVNULL, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if marker in text:
            return path
    return None


def rust_virtiofsd() -> str | None:
    """A virtiofsd virtme-ng can drive (the Rust one: its --help names --shared-dir)."""
    return daemon_with_help((which("virtiofsd"), *VIRTIOFSD_PATHS), "--shared-dir")


def virtiofsd() -> str | None:
    """Who serves virtio-fs: the Rust virtiofsd's path, else QEMU's C one through the shim."""
    rust = rust_virtiofsd()
    if rust:
        return rust
    from conformance.targets import virtiofsd_shim
    c = virtiofsd_shim.c_virtiofsd()
    return f"{c} through the option shim (targets/virtiofsd_shim.py)" if c else None


@dataclass(frozen=True)
class RootPlan:
    fs: str | None          # "9p", "virtiofs", or None: the config was not found (try 9p)
    note: str
    problem: str | None = None   # set when the image cannot boot the suite: one line


def root_plan(config: Config | None, image: str, modules: bool,
              find_virtiofsd=virtiofsd) -> RootPlan:
    """How the guest mounts the host's root, from the image's config (see the module doc)."""
    if config is None:
        return RootPlan(None, "kernel config not found (config-RELEASE, /lib/modules/RELEASE/"
                              "build/.config, IKCONFIG): assuming 9p")
    lacks_9p = [o for o in NINEP if not usable(config, o, modules)]
    lacks_vfs = [o for o in VIRTIOFS if not usable(config, o, modules)]
    virtiofsd = find_virtiofsd() if not lacks_vfs else None
    if not lacks_vfs and virtiofsd:
        # Preferred even where 9p would do: virtme-ng's 9p root is mounted sync and uncached,
        # and under TCG every stat and open of an import is a round trip; over virtio-fs
        # (cache=always) Debian 6.1's guest starts Python in 1.6 s instead of 4.5-8 s, imports
        # pytest in 7 s instead of 22 s and collects the suite in 31-35 s instead of 100-120 s.
        why = (f"the kernel lacks {', '.join(lacks_9p)}" if lacks_9p
               else "faster than 9p under TCG")
        return RootPlan("virtiofs", f"root over virtio-fs with {virtiofsd}: {why} "
                                    f"({config.source})")
    if not lacks_9p:
        return RootPlan("9p", f"root over 9p ({config.source})" + (
            "" if lacks_vfs else "; no virtiofsd for virtio-fs, which is faster under TCG"))
    if not lacks_vfs:
        return RootPlan("virtiofs", "", problem=(
            f"kernel image {image} lacks 9p ({', '.join(lacks_9p)}) but has virtio-fs: install "
            f"the Rust virtiofsd (package virtiofsd) or QEMU's C one (/usr/lib/qemu/virtiofsd, "
            f"package qemu-system-common) to share the root over virtio-fs "
            f"(config: {config.source})"))
    return RootPlan(None, "", problem=(
        f"kernel image {image} cannot mount the host's root: it lacks {', '.join(lacks_9p)} "
        f"(9p) and {', '.join(lacks_vfs)} (virtio-fs); enable one set, =y or =m with modules "
        f"installed (config: {config.source})"))
