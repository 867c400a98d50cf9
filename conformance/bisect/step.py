"""One bisect step over a kernel image: `conformance run --kernel IMAGE -- NODEID...`, through
the kernel target's own code (commands/run.run_kernel), one VM, results in their own run
directory under the bisect's results directory.

A runner is any callable runner(image, nodeids, config) -> (results or None, results directory
or None, seconds); `config` is the JSON-able dict the command line built (results, accel, cpus,
memory, vm_deadline, append). The git form runs its steps in a child of `git bisect run`, so
runners are named "module:function" (load_runner) rather than passed as objects; the self-tests
name a fake one.
"""
from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from pathlib import Path

from conformance.targets.kernel import TargetError

DEFAULT_RUNNER = "conformance.bisect.step:kernel_runner"
Runner = Callable[[Path, list[str], dict], tuple[dict | None, str | None, float]]
_tools_accel: dict[str, tuple] = {}  # one tool lookup and one KVM probe per process


def load_runner(name: str) -> Runner:
    module, _, func = name.partition(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise TargetError(f"bisect: no step runner {name!r} ({exc})") from None


def run_argv(image: Path, nodeids: list[str]) -> list[str]:
    """The `conformance` arguments that repeat this step by hand."""
    return ["run", "--kernel", str(image), "--", *nodeids]


def kernel_runner(image: Path, nodeids: list[str], config: dict) -> tuple[dict | None,
                                                                          str | None, float]:
    """Boot image with the kernel target and run only nodeids; an image the target refuses
    (not a kernel, no way to mount the root) gives no results: the step is a skip."""
    from conformance.commands import run
    from conformance.targets import kernel
    start = time.monotonic()
    try:
        img = kernel.inspect_image(str(image))
    except TargetError as exc:
        print(f"bisect: {exc}", flush=True)
        return None, None, round(time.monotonic() - start, 1)
    if "tools" not in _tools_accel:
        tools = kernel.find_tools()  # missing QEMU or virtme-ng: the whole bisect stops (exit 2)
        accel, note = config.get("accel", "auto"), f"--accel {config.get('accel', 'auto')}"
        if accel == "auto":
            accel, note = kernel.probe_kvm(tools, img)
        _tools_accel["tools"] = (tools, accel, note)
    tools, accel, note = _tools_accel["tools"]
    ns = argparse.Namespace(results=config["results"], cpus=config.get("cpus", 2),
                            memory=config.get("memory", "2G"),
                            vm_deadline=config.get("vm_deadline", 1800.0),
                            append=config.get("append", ""))
    results, wall = run.run_kernel(ns, img, tools, accel, note, list(nodeids),
                                   run_argv(image, nodeids), echo_console=False)
    if results is None:  # interrupted before the VM started
        return None, None, wall
    where = Path(config["results"]) / results["run"]["id"]
    return results, str(where.resolve()), wall
