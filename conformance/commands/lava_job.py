"""Write a LAVA job definition that boots KERNEL on a QEMU x86_64 device with ROOTFS (an ext4
image of a Debian-like system with python3-venv), adds the kernel's modules, installs the
suite through its test definition (lava/zerocopy-conformance.yaml) and runs it. Paths become
file:// URLs (what lava-run reads); a lab gives http(s) URLs. docs/lava.md explains each part."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from conformance import validate
from conformance.cli import EXIT_OK, UsageError

HELP = "write a LAVA job definition (QEMU x86_64) that runs the suite on a kernel"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", metavar="URL", required=True, help="kernel image (bzImage)")
    p.add_argument("--initrd", metavar="URL", default=None, help="initramfs, if the kernel needs "
                   "one to mount the root file system")
    p.add_argument("--rootfs", metavar="URL", required=True,
                   help="ext4 image of the root file system (python3 and python3-venv in it)")
    p.add_argument("--modules", metavar="URL", default=None,
                   help="tarball of lib/modules/RELEASE/ for KERNEL, unpacked at / "
                        "(.gz/.xz/.zst/.bz2 or plain tar)")
    p.add_argument("--device-type", choices=["qemu"], default="qemu",
                   help="LAVA device type (default qemu)")
    p.add_argument("--arch", choices=["x86_64"], default="x86_64")
    p.add_argument("--accel", choices=["tcg", "kvm"], default="tcg",
                   help="sets the job context's no_kvm (default tcg)")
    p.add_argument("--cpus", type=validate.cpus, default=2, help="vCPUs (default 2)")
    p.add_argument("--memory", type=validate.memory, default="2G", help="memory (default 2G)")
    p.add_argument("--append", metavar="ARGS", default="", type=validate.kernel_append,
                   help="extra kernel command line")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--testdef-git", metavar="URL",
                     help="git repository holding lava/zerocopy-conformance.yaml (the suite's)")
    src.add_argument("--testdef-url", metavar="URL",
                     help="a .tar.gz of the suite's tree (lava/ and, for offline guests, the "
                          "wheelhouse named by --wheelhouse)")
    p.add_argument("--revision", default=None, help="git revision of --testdef-git")
    p.add_argument("--wheelhouse", metavar="DIR", default="",
                   help="wheel directory inside the test definition's tree: install with no "
                        "index (default: pip installs zerocopy-conformance from the index)")
    p.add_argument("--package", default="zerocopy-conformance",
                   help="what pip installs (a name, a requirement or a wheel URL)")
    p.add_argument("--run-args", metavar="ARGS", default="",
                   help="extra `conformance run` options in the guest")
    p.add_argument("--pytest-args", metavar="ARGS", default="-q",
                   help="pytest arguments after `conformance run --` (default -q)")
    p.add_argument("--prompt", default="root@conformance-testbox:~#",
                   help="the root shell prompt after login (default the Debian test box's)")
    p.add_argument("--login", default="root", help="user to log in as on the serial console")
    p.add_argument("--password", default="vagrant",
                   help="its password (default the test box's; '' for none)")
    p.add_argument("--timeout", type=int, default=60, metavar="MINUTES",
                   help="job and test timeout in minutes (default 60)")
    p.add_argument("--job-name", default=None)
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="where the job YAML goes (default stdout)")


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    from conformance.lava import job
    try:
        import yaml  # noqa: F401  (job.dump writes with it)
    except ImportError:
        raise UsageError("conformance lava-job: needs PyYAML (pip install "
                         "'zerocopy-conformance[lava]')") from None
    for name in ("run_args", "pytest_args"):
        try:
            shlex.split(getattr(ns, name))
        except ValueError as exc:
            raise UsageError(f"conformance lava-job: --{name.replace('_', '-')}: {exc}") from None
    if not 1 <= ns.timeout <= 24 * 60:
        raise UsageError(f"conformance lava-job: --timeout {ns.timeout}: 1 to 1440 minutes")
    params = {"WHEELHOUSE": ns.wheelhouse, "PACKAGE": ns.package, "RUN_ARGS": ns.run_args,
              "PYTEST_ARGS": ns.pytest_args}
    spec = job.JobSpec(
        kernel=ns.kernel, initrd=ns.initrd, rootfs=ns.rootfs, modules=ns.modules,
        device_type=ns.device_type, arch=ns.arch, accel=ns.accel, cpus=ns.cpus,
        memory_mb=validate.size_bytes(ns.memory) // 2**20, cmdline=ns.append,
        testdef_repo=ns.testdef_git or ns.testdef_url,
        testdef_from="git" if ns.testdef_git else "url", testdef_revision=ns.revision,
        params={k: v for k, v in params.items() if v != ""}, prompt=ns.prompt,
        login=ns.login, password=ns.password or None, job_name=ns.job_name,
        timeout_minutes=ns.timeout)
    try:
        text = job.dump(job.build(spec))
    except job.JobError as exc:
        raise UsageError(f"conformance lava-job: {exc}") from None
    if ns.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(ns.output).write_text(text)
    except OSError as exc:
        raise UsageError(f"conformance lava-job: cannot write {ns.output}: "
                         f"{exc.strerror or exc}") from None
    print(f"conformance lava-job: wrote {ns.output}", file=sys.stderr)
    return EXIT_OK
