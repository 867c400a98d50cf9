"""A LAVA job definition (a dict; dump() makes the YAML) that boots a kernel on a QEMU x86_64
device with a Debian-like ext4 rootfs, adds the kernel's modules to it, and runs the suite's
test definition (lava/zerocopy-conformance.yaml) in it.

The job follows the shape KernelCI and LKFT (tuxrun) use for QEMU: deploy to tmpfs with the
kernel, initrd and rootfs images, `overlays` on the rootfs (the LAVA overlay and the modules
tarball, written in with libguestfs), boot method qemu with auto-login on the serial console,
one test action. Validated against lava_common.schemas.validate in the self-tests.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from conformance.lava import names

DEVICE_TYPES = ("qemu",)
ARCHES = {"x86_64": "amd64"}
TESTDEF_PATH = "lava/zerocopy-conformance.yaml"
COMPRESSIONS = {".gz": "gz", ".xz": "xz", ".bz2": "bz2", ".zst": "zstd", ".zip": "zip"}
BASE_CMDLINE = "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0"


class JobError(ValueError):
    pass


@dataclass
class JobSpec:
    kernel: str
    rootfs: str
    initrd: str | None = None
    modules: str | None = None
    device_type: str = "qemu"
    arch: str = "x86_64"
    accel: str = "tcg"
    cpus: int = 2
    memory_mb: int = 2048
    cmdline: str = ""
    testdef_repo: str = ""
    testdef_from: str = "git"          # git: a git URL; url: a tar.gz of the suite's tree
    testdef_revision: str | None = None
    testdef_path: str = TESTDEF_PATH
    params: dict = field(default_factory=dict)   # the test definition's params
    prompt: str = "root@conformance-testbox:~#"
    login: str = "root"
    password: str | None = "vagrant"
    job_name: str | None = None
    timeout_minutes: int = 60
    visibility: str = "public"
    priority: str = "medium"


def url_of(text: str) -> str:
    """A URL as given, or a local path made a file:// URL (what lava-run reads)."""
    if urlparse(text).scheme in ("http", "https", "file", "ftp", "scp", "lxc", "downloads"):
        return text
    return Path(text).resolve().as_uri()


def compression(url: str) -> str | None:
    return COMPRESSIONS.get(Path(urlparse(url).path).suffix)


def _image(url: str, **extra) -> dict:
    image = {"url": url_of(url), **extra}
    comp = compression(image["url"])
    if comp:
        image["compression"] = comp
    return image


def build(spec: JobSpec) -> dict:
    if spec.device_type not in DEVICE_TYPES:
        raise JobError(f"device type {spec.device_type!r}: only {', '.join(DEVICE_TYPES)} "
                       "is supported")
    if spec.arch not in ARCHES:
        raise JobError(f"architecture {spec.arch!r}: only {', '.join(ARCHES)} is supported")
    if not spec.testdef_repo:
        raise JobError("no test definition repository (a git URL, or a tarball with --testdef-url)")
    cmdline = " ".join(filter(None, (BASE_CMDLINE, spec.cmdline)))
    rootfs = _image(spec.rootfs, image_arg="-drive format=raw,if=virtio,file={rootfs}",
                    format="ext4")
    overlays = {"lava": True}
    if spec.modules:
        overlays["modules"] = {**_image(spec.modules), "format": "tar", "path": "/"}
    rootfs["overlays"] = overlays
    images = {"kernel": _image(spec.kernel,
                               image_arg=f"-kernel {{kernel}} -append {shlex.quote(cmdline)}")}
    if spec.initrd:
        images["initrd"] = _image(spec.initrd, image_arg="-initrd {initrd}")
    images["rootfs"] = rootfs
    auto_login = {"login_prompt": "login:", "username": spec.login}
    if spec.password is not None:
        auto_login.update(password_prompt="Password:", password=spec.password)
    repo = url_of(spec.testdef_repo) if spec.testdef_from == "url" else spec.testdef_repo
    definition = {"repository": repo, "from": spec.testdef_from,
                  "path": spec.testdef_path, "name": names.DEFINITION}
    if spec.testdef_from == "git" and spec.testdef_revision:
        definition["revision"] = spec.testdef_revision
    if spec.testdef_from == "url":
        definition["compression"] = compression(spec.testdef_repo) or "gz"
    if spec.params:
        definition["parameters"] = {k: str(v) for k, v in spec.params.items()}
    kernel_name = Path(urlparse(images["kernel"]["url"]).path).name
    return {
        "device_type": spec.device_type,
        "job_name": spec.job_name or f"zerocopy-conformance {kernel_name} {spec.arch}",
        "timeouts": {"job": {"minutes": spec.timeout_minutes},
                     "action": {"minutes": 20}, "connection": {"minutes": 5}},
        "priority": spec.priority,
        "visibility": spec.visibility,
        "context": {"arch": ARCHES[spec.arch], "memory": spec.memory_mb,
                    "no_kvm": spec.accel == "tcg",
                    "extra_options": [f"-smp {spec.cpus}", "-nic none"]},
        "actions": [
            {"deploy": {"to": "tmpfs", "os": "debian", "timeout": {"minutes": 20},
                        "images": images}},
            {"boot": {"method": "qemu", "media": "tmpfs", "timeout": {"minutes": 20},
                      "prompts": [spec.prompt], "auto_login": auto_login}},
            {"test": {"timeout": {"minutes": spec.timeout_minutes},
                      "definitions": [definition]}},
        ],
    }


def dump(job: dict) -> str:
    import yaml

    return yaml.safe_dump(job, sort_keys=False, default_flow_style=False, width=100)
