"""The image step's wiring, without a VM: `conformance bisect --images` with the real step runner
(conformance/bisect/step.py -> commands/run.run_kernel -> kernel_results.finalize), QEMU stood
in for by a fake kernel.run_vm that "boots" fake bzImages: it writes what a guest would (the
results of the node ids it was asked to run, the taint files), or nothing for an image that does
not boot. The step's run directory, the guest script's node ids and the ::run error of a failed
boot all come from the kernel target's own code."""
from __future__ import annotations

import json
import re

from test_kernel_target import fake_bzimage

from conformance import cli
from conformance.results import SCHEMA
from conformance.targets import kernel

NODE = "conformance/linux/test_splice_einval.py::test_x[len=-1]"
# None: the kernel does not boot; it is the middle, the search's first pick, and not next to
# the boundary (a skip next to it would leave two candidates, as it should)
BEHAVIOUR = {"6.1.0": "passed", "6.2.0": "passed", "6.3.0": "passed", "6.4.0": None,
             "6.5.0": "passed", "6.6.0": "failed", "6.7.0": "failed"}


def fake_run_vm(tools, image, script, out, accel, cpus, memory, deadline, echo, append=""):
    outcome = BEHAVIOUR[image.release]
    run = kernel.VMRun(exit_code=1, wall_seconds=1.0, console=out / "console.log")
    (out / "console.log").write_text("booting\n")
    if outcome is None:
        return run
    guest = (out / "guest.sh").read_text() if (out / "guest.sh").exists() else script
    nodeids = re.findall(r"'(conformance/linux/[^']+)'", guest)
    (out / ".booted").write_text("")
    for f in ("taint.before", "taint.after"):
        (out / f).write_text("0\n")
    (out / "results.json").write_text(json.dumps({
        "schema": SCHEMA, "run": {"id": out.name, "target": f"kernel:{image.path}",
                                  "duration": 1.0, "start": "t0"},
        "kernel": {"os": "linux", "release": image.release}, "environment": {"accel": accel},
        "tests": [{"nodeid": n, "clauses": [], "basis": {}, "outcome": outcome,
                   "duration": 0.1, "reason": None, "message": None, "transcript": []}
                  for n in nodeids]}))
    run.exit_code, run.boot_seconds = 0, 0.5
    return run


def test_image_steps_go_through_the_kernel_target(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel, "find_tools", lambda: kernel.Tools("vng", "qemu"))
    monkeypatch.setattr(kernel, "run_vm", fake_run_vm)
    images = tmp_path / "images"
    images.mkdir()
    paths = [fake_bzimage(images / f"vmlinuz-{r}", f"{r} (me@example) #1 SMP".encode())
             for r in BEHAVIOUR]
    code = cli.main(["bisect", "--images", str(images), "--good", str(paths[0]),
                     "--bad", str(paths[-1]), "--accel", "tcg", "--results", str(tmp_path / "out"),
                     "--", NODE])
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert (code, record["first"]) == (0, str(paths[5])), record["steps"]
    steps = {s["candidate"]: s for s in record["steps"]}
    assert steps[str(paths[3])]["state"] == "skip"
    assert "kernel/6.4.0::run" in steps[str(paths[3])]["reason"]
    for s in record["steps"]:  # each step's run directory, inside the bisect's, with results
        assert s["results"].startswith(str(out)) and (
            json.loads((out / s["results"] / "results.json").read_text())["vm"]["image"])
    assert steps[str(paths[-1])]["tests"] == {NODE: "deviates"}
