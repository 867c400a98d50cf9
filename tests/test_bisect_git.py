"""`conformance bisect --git` over a small generated repository: the build command fails on some
commits (git bisect skip), the "kernel" (a file the build copies to the image; the fake step
runner of test_bisect reads it) breaks on another, and the first bad commit is named with its
`git show --stat`. Nothing is left behind: no worktree, no bisect state, also when the bisect is
interrupted with SIGTERM or SIGINT in the middle of a step (a real `git bisect run`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance import cli

NODE = "conformance/linux/test_splice_einval.py::test_x[len=-1]"
TESTS_DIR = Path(__file__).parent
DEADLINE = 60.0
# the image is the file `behaviour`; a commit with a file BROKEN does not build
BUILD = "test ! -e BROKEN && cp behaviour image"


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env, timeout=DEADLINE).stdout


def make_repo(tmp_path: Path, plan: list[tuple[str, bool]]) -> tuple[Path, list[str]]:
    """One commit per (behaviour, builds) row, oldest first; the commit ids."""
    repo = tmp_path / "linux"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    commits = []
    for n, (behaviour, builds) in enumerate(plan):
        (repo / "behaviour").write_text(behaviour + "\n")
        (repo / "notes").write_text(f"change {n}\n")
        if builds:
            (repo / "BROKEN").unlink(missing_ok=True)
        else:
            (repo / "BROKEN").write_text("")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {n}: {behaviour}{'' if builds else ', no build'}")
        commits.append(git(repo, "rev-parse", "HEAD").strip())
    return repo, commits


def argv(tmp_path: Path, repo: Path, good: str, bad: str, *extra: str) -> list[str]:
    return ["bisect", "--git", str(repo), "--good", good, "--bad", bad, "--build", BUILD,
            "--image", "image", "--results", str(tmp_path / "out"),
            "--step-runner", "test_bisect:fake_runner", *extra, "--", NODE]


def assert_nothing_left(repo: Path, tmp_path: Path) -> None:
    assert git(repo, "worktree", "list").count("\n") == 1, git(repo, "worktree", "list")
    assert not git(repo, "for-each-ref", "refs/bisect"), "bisect refs left behind"
    assert not list((repo / ".git").glob("BISECT_*"))
    assert not (repo / ".git" / "worktrees").exists() or \
        not list((repo / ".git" / "worktrees").iterdir())
    assert not list((tmp_path / "out").glob("*/worktree"))
    assert git(repo, "status", "--porcelain") == ""


@pytest.fixture
def tests_importable(monkeypatch):
    """git bisect run starts the step in a new interpreter: it imports the fake runner too."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(TESTS_DIR), str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]))


# the middle does not build (git bisect's first pick: skipped), the culprit is change 8
PLAN = [("conforms", True)] * 5 + [("conforms", False)] * 2 + [("conforms", True)] + \
    [("deviates", True), ("deviates", True), ("deviates", False), ("deviates", True)]


def test_first_bad_commit_is_named_around_the_build_failures(tmp_path, tests_importable):
    repo, commits = make_repo(tmp_path, PLAN)
    head = git(repo, "rev-parse", "HEAD")
    code = cli.main(argv(tmp_path, repo, commits[0], "master"))
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert (code, record["first"]) == (0, commits[8]), (out / "bisect-run.log").read_text()
    assert "change 8: deviates" in record["show"] and "behaviour | 2 +-" in record["show"]
    states = {s["candidate"]: s["state"] for s in record["steps"]}
    skipped = [c for c, s in states.items() if s == "skip"]
    assert skipped and set(skipped) <= {commits[5], commits[6], commits[10]}
    assert all("build failed" in s["reason"] for s in record["steps"] if s["state"] == "skip")
    assert states[commits[8]] == "new"
    text = (out / "bisect.md").read_text()
    assert f"first bad commit: {commits[8]} (change 8: deviates)" in text
    assert git(repo, "rev-parse", "HEAD") == head
    assert_nothing_left(repo, tmp_path)


def test_fixed_names_the_first_commit_that_conforms(tmp_path, tests_importable):
    plan = [("deviates", True)] * 3 + [("conforms", True)] * 3
    repo, commits = make_repo(tmp_path, plan)
    code = cli.main(argv(tmp_path, repo, commits[0], commits[-1], "--fixed"))
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert (code, record["first"]) == (0, commits[3])
    assert "first fixed commit" in (out / "bisect.md").read_text()
    assert_nothing_left(repo, tmp_path)


def test_a_culprit_that_does_not_build_leaves_the_candidates(tmp_path, tests_importable):
    plan = [("conforms", True), ("conforms", True), ("deviates", False), ("deviates", True)]
    repo, commits = make_repo(tmp_path, plan)
    code = cli.main(argv(tmp_path, repo, commits[0], commits[-1]))
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert code == 1 and record["first"] is None
    assert set(record["maybe"]) == {commits[2], commits[3]}
    assert_nothing_left(repo, tmp_path)


def test_unknown_revision_is_one_line_and_exit_2(tmp_path, capsys, tests_importable):
    repo, commits = make_repo(tmp_path, [("conforms", True), ("deviates", True)])
    code = cli.main(argv(tmp_path, repo, "no-such-rev", commits[-1]))
    err = capsys.readouterr().err
    assert code == 2 and "'no-such-rev' is not a commit" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert_nothing_left(repo, tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_interrupt_in_a_step_leaves_no_worktree_and_no_bisect_state(tmp_path, sig,
                                                                    tests_importable):
    plan = [("conforms", True)] + [("hang", True)] * 3 + [("deviates", True)]
    repo, commits = make_repo(tmp_path, plan)
    cmd = [sys.executable, "-m", "conformance.cli",
           *argv(tmp_path, repo, commits[0], commits[-1])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + DEADLINE
        while not list((tmp_path / "out").glob("*/step-*.hanging")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)  # polling for a file the stand-in writes, under a deadline
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err
    assert "no bisect state or worktree is left" in err
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert record["first"] is None and f"interrupted by {sig.name}" in record["problem"]
    assert_nothing_left(repo, tmp_path)
