"""`python -m conformance.bisect.git_step CONFIG`: the command `git bisect run` calls at each
commit (cwd: the bisect's worktree). It builds with the user's command, runs the step's tests
on the image that built, appends one line to the step log, and exits as `git bisect run` reads
it: 0 old (good), 1 new (bad), 125 skip (the build failed, no image, no verdict). Interrupted, it
stops its VM and exits 128 + the signal, which makes `git bisect run` stop too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from conformance.bisect import step, verdict
from conformance.targets import interrupt, vm_process
from conformance.targets.kernel import TargetError

EXIT = {verdict.OLD: 0, verdict.NEW: 1, verdict.SKIP: 125}
BUILD_TAIL = 20
ABORT = 128  # `git bisect run` stops on an exit status >= 128: no verdict, no skip


def log_step(config: dict, entry: dict) -> None:
    with open(config["log"], "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def build(config: dict, commit: str) -> str | None:
    """Run the build command in the worktree under its deadline; None when it succeeded, else
    why not (exit status and the output's last lines, also kept in build-<commit>.log)."""
    log = Path(config["results"]) / f"build-{commit[:12]}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["sh", "-c", config["build"]], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with interrupt.group(proc.pid):
            deadline = time.monotonic() + config["build_deadline"]
            while proc.poll() is None:
                if interrupt.requested() or time.monotonic() > deadline:
                    vm_process.stop(proc)
                    break
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
    if interrupt.requested():
        return f"build interrupted by {interrupt.name()}"
    if proc.returncode is None or proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-BUILD_TAIL:]
        what = (f"exit {proc.returncode}" if proc.returncode is not None and proc.returncode >= 0
                else f"no result within {config['build_deadline']:.0f}s")
        return f"build failed ({what}): {tail[-1] if tail else '(no output)'}"
    return None


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    entry = {"commit": commit, "subject": subprocess.run(
        ["git", "log", "-1", "--format=%s"], capture_output=True, text=True, check=False).stdout.strip()}
    start = time.monotonic()
    with interrupt.handling():
        why = build(config, commit)
        image = Path(config["image"])
        image = image if image.is_absolute() else Path.cwd() / image
        results = where = None
        if why is None and not image.is_file():
            why = f"the build made no image at {config['image']}"
        if why is None and not interrupt.requested():
            try:
                results, where, _ = step.load_runner(config["runner"])(
                    image, config["nodeids"], config)
            except TargetError as exc:
                why = str(exc)
        if interrupt.requested():
            log_step(config, {**entry, "state": "interrupted", "reason": interrupt.note(),
                              "results": where, "seconds": round(time.monotonic() - start, 1)})
            return interrupt.exit_status()
    v = verdict.StepVerdict(verdict.SKIP, why) if why else \
        verdict.classify(results, config["nodeids"], config["fixed"])
    log_step(config, {**entry, "state": v.state, "reason": v.reason, "tests": v.tests,
                      "results": where, "seconds": round(time.monotonic() - start, 1)})
    print(f"bisect: {commit[:12]} {entry['subject']}: {v.state}: {v.reason}", flush=True)
    return EXIT[v.state]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m conformance.bisect.git_step CONFIG.json", file=sys.stderr)
        sys.exit(ABORT)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        sys.exit(main(sys.argv[1]))
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:  # noqa: BLE001 - a crash of the harness is not a verdict
        # Python's own exit status for a traceback is 1, which `git bisect run` would take for
        # "bad": stop the bisect instead (>= 128), and say why.
        traceback.print_exc()
        print("bisect: the step crashed (above): stopping the bisect, no verdict",
              file=sys.stderr)
        sys.exit(ABORT)
