"""Bisect over a git tree: `git bisect run` in a worktree of the user's tree made for the bisect,
so the user's checkout, index and bisect state are never touched.

Each commit is built by the user's command and tested by git_step.py (a build or boot failure
is exit 125, `git bisect skip`). Whatever happens (the answer, an error, SIGINT/SIGTERM/SIGHUP),
the end is the same: `git bisect reset` in the worktree, the worktree removed and pruned.
With --fixed the terms are "broken" (old) and "fixed" (new).
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance.targets import interrupt, vm_process
from conformance.targets.kernel import TargetError

GIT_DEADLINE = 120.0  # one git command (worktree add on a kernel tree checks out ~90k files)
SETTLE_DEADLINE = 60.0  # an interrupted step stops its VM (vm_process.stop: seconds) and exits
_FIRST = re.compile(r"^([0-9a-f]{40}) is the first (\w+) commit$", re.MULTILINE)


@dataclass
class GitOutcome:
    first: str | None = None            # the first new commit
    maybe: list[str] = field(default_factory=list)  # skips hide it: one of these
    show: str = ""                      # `git show --stat` of the first new commit
    steps: list[dict] = field(default_factory=list)  # git_step's log lines
    problem: str | None = None
    bisect_log: str = ""


def git(tree: Path, *args: str, check: bool = True) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(tree), *args], check=False, capture_output=True, text=True,
                              timeout=GIT_DEADLINE, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TargetError(f"git {' '.join(args)}: no answer within {GIT_DEADLINE:.0f}s") from None
    except FileNotFoundError:
        raise TargetError("git is not installed (apt-get install git)") from None
    if check and proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise TargetError(f"git {' '.join(args[:2])} in {tree}: {last}")
    return proc.stdout


def resolve(tree: Path, rev: str) -> str:
    """The full commit id of rev in tree, or a TargetError in one line."""
    out = git(tree, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip()
    if not out:
        raise TargetError(f"{rev!r} is not a commit in {tree}")
    return out


def terms(fixed: bool) -> tuple[str, str]:
    return ("broken", "fixed") if fixed else ("good", "bad")


def check(tree: Path, good: str, bad: str) -> tuple[Path, str, str]:
    """The tree's top directory and the two commits, or a TargetError in one line."""
    if not tree.is_dir():
        raise TargetError(f"--git {tree}: no such directory")
    top = git(tree, "rev-parse", "--show-toplevel", check=False).strip()
    if not top:
        raise TargetError(f"--git {tree}: not a git work tree")
    return Path(top), resolve(Path(top), good), resolve(Path(top), bad)


def bisect(tree: Path, good: str, bad: str, work: Path, config: dict) -> GitOutcome:
    """Run the bisect; config is git_step's (build, image, nodeids, fixed, runner, results...)."""
    tree, good_id, bad_id = check(tree, good, bad)
    out = GitOutcome()
    wt = work / "worktree"
    config = {**config, "log": str(work / "steps.jsonl")}
    (work / "step.json").write_text(json.dumps(config, indent=1))
    git(tree, "worktree", "add", "--detach", str(wt), bad_id)
    try:
        old, new = terms(config["fixed"])
        git(wt, "bisect", "start", f"--term-old={old}", f"--term-new={new}", bad_id, good_id)
        text = _run(wt, work)
        out.bisect_log = git(wt, "bisect", "log", check=False)
        m = _FIRST.search(text)
        if interrupt.requested():
            out.problem = interrupt.note()
        elif m:
            out.first = m.group(1)
            out.show = git(tree, "show", "--stat", "--format=fuller", out.first, check=False)
        elif "only 'skip'ped commits left" in text:
            out.maybe = re.findall(r"^([0-9a-f]{40})$", text, re.MULTILINE)
        else:
            tail = text.strip().splitlines()[-3:]
            out.problem = "git bisect run stopped: " + " / ".join(tail or ["no output"])
    finally:
        git(wt, "bisect", "reset", check=False)
        git(tree, "worktree", "remove", "--force", str(wt), check=False)
        git(tree, "worktree", "prune", check=False)
    out.steps = read_steps(work / "steps.jsonl")
    return out


def _run(wt: Path, work: Path) -> str:
    """`git bisect run` with git_step; its output goes to work/bisect-run.log and is returned.
    git and the step (and the step's build) share a process group that an interrupt stops;
    the step passes the signal on to its VM."""
    argv = ["git", "bisect", "run", sys.executable, "-m", "conformance.bisect.git_step",
            str(work / "step.json")]
    log = work / "bisect-run.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, cwd=wt, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with interrupt.group(proc.pid, signal.SIGTERM):
            while proc.poll() is None:
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
                if interrupt.requested():
                    _settle(proc)
                    break
    return log.read_text(errors="replace")


def _settle(proc: subprocess.Popen) -> None:
    """After an interrupt: give the step time to stop its VM and exit, then stop the group."""
    end = time.monotonic() + SETTLE_DEADLINE
    while (proc.poll() is None or _alive(proc.pid)) \
            and time.monotonic() < end:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    vm_process.stop(proc)


def _alive(pgid: int) -> list[int]:
    """The group's members that are not zombies."""
    alive = []
    for pid in vm_process.group_members(pgid):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            continue
    return alive


def read_steps(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []
