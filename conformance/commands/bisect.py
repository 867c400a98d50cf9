"""Narrow a regression (or with --fixed, a fix) to the first kernel image or commit that shows
it. Over images: --good IMAGE --bad IMAGE --images LIST|DIR, each step booted with the kernel
target. Over a git tree: --git TREE --good REV --bad REV --build CMD, driving `git bisect run`
in a worktree of its own (a build or boot failure is `git bisect skip`). Each step runs only the
chosen tests (-- NODEID..., --tests FILE or --regressions BASE CAND); a step whose tests error or
skip, whose kernel taints or does not boot is a skip, never good or bad. Writes bisect.md and
bisect.json (every step with its results directory) and adds a "First bad" section to the
regression reports. Exit 0 when the first bad is named, 1 when there is no single answer, 2 on
bad usage or missing tools, 128 + N on signal N (nothing is left behind)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from conformance import validate
from conformance.bisect import git as gitb
from conformance.bisect import search, section, step, verdict
from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.results import compare, model
from conformance.targets import interrupt
from conformance.targets.kernel import TargetError

HELP = "find the first kernel image or commit where a regression (or --fixed: a fix) appears"
PASSES_PYTEST_ARGS = True
FIX_KINDS = ("fix", "known failure gone")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--good", required=True, metavar="IMAGE|REV",
                   help="the last known good image or commit (with --fixed: still broken)")
    p.add_argument("--bad", required=True, metavar="IMAGE|REV",
                   help="the known bad image or commit (with --fixed: fixed)")
    p.add_argument("--images", metavar="LIST|DIR", type=validate.path_text,
                   help="the images in order: a directory (sorted by version), a file with one "
                        "path a line, or a comma-separated list")
    p.add_argument("--git", metavar="TREE", type=validate.path_text, help="a kernel git tree")
    p.add_argument("--build", metavar="CMD", help="with --git: the shell command that builds the "
                   "image in the tree (e.g. 'vng -b' or 'make -j8 bzImage')")
    p.add_argument("--image", metavar="PATH", default="arch/x86/boot/bzImage",
                   help="with --git: the image the build makes (default arch/x86/boot/bzImage)")
    p.add_argument("--build-deadline", type=validate.seconds, default=7200.0, metavar="SECONDS",
                   help="with --git: deadline of one build (default 7200)")
    p.add_argument("--fixed", action="store_true",
                   help="look for the first image or commit where the tests conform again")
    p.add_argument("--tests", metavar="FILE",
                   help="the tests to run: `compare --json` output, a results.json (its failing "
                        "tests) or one node id a line")
    p.add_argument("--regressions", nargs=2, metavar=("BASE", "CAND"),
                   help="the tests to run: the regressions (--fixed: fixes) from BASE to CAND; "
                        "the reports of CAND against BASE get the First bad section")
    p.add_argument("--report", metavar="DIR",
                   help="add the First bad section to the reports in DIR (`conformance report`)")
    p.add_argument("--results", metavar="DIR", default="results", type=validate.path_text,
                   help="the bisect goes to DIR/bisect-<id>/, each step's run inside it")
    p.add_argument("--trust-ends", action="store_true",
                   help="images: do not boot --good and --bad first to check them")
    p.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                   help="VM acceleration for every step (as `run`)")
    p.add_argument("--cpus", type=validate.cpus, default=2, help="vCPUs per VM (default 2)")
    p.add_argument("--memory", type=validate.memory, default="2G",
                   help="memory per VM (default 2G)")
    p.add_argument("--vm-deadline", type=validate.seconds, default=1800.0, metavar="SECONDS",
                   help="outer deadline per step's VM, boot included (default 1800)")
    p.add_argument("--append", metavar="ARGS", default="", type=validate.kernel_append,
                   help="extra kernel command line for the VMs")
    p.add_argument("--step-runner", default=step.DEFAULT_RUNNER, help=argparse.SUPPRESS)


def nodeids_from(ns: argparse.Namespace, pytest_args: list[str]) -> list[str]:
    """The tests each step runs, from the one source given."""
    given = [x for x in (pytest_args, ns.tests, ns.regressions) if x]
    if len(given) != 1:
        raise UsageError("conformance bisect: give the tests one way: -- NODEID..., --tests FILE "
                         "or --regressions BASE CAND")
    if pytest_args:
        bad = [a for a in pytest_args if a.startswith("-")]
        if bad:
            raise UsageError(f"conformance bisect: after -- only node ids, not {bad[0]!r}")
        return list(dict.fromkeys(pytest_args))
    if ns.regressions:
        try:
            base, cand = (compare.read(p) for p in ns.regressions)
        except model.ResultsError as exc:
            raise UsageError(f"conformance bisect: {exc}") from None
        return _from_compare(compare.compare(base, cand), ns.fixed, " ".join(ns.regressions))
    return _from_file(Path(ns.tests), ns.fixed)


def _from_compare(result: dict, fixed: bool, what: str) -> list[str]:
    kinds = FIX_KINDS if fixed else ("regression",)
    ids = [d["nodeid"] for d in result["differences"] if d["kind"] in kinds]
    if not ids:
        raise UsageError(f"conformance bisect: no {'fix' if fixed else 'regression'} in {what}")
    return ids


def _from_file(path: Path, fixed: bool) -> list[str]:
    if path.is_dir():
        return _failing(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"conformance bisect: --tests {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None  # compare.read says what is wrong with it
        if isinstance(data, dict) and "differences" in data:
            return _from_compare(data, fixed, str(path))
        return _failing(path)
    ids = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not ids:
        raise UsageError(f"conformance bisect: --tests {path}: no node id in it")
    return ids


def _failing(path: Path) -> list[str]:
    """The suite's tests that deviate in a results file (failed or xfailed, not XPASS)."""
    try:
        results = compare.read(path)
    except model.ResultsError as exc:
        raise UsageError(f"conformance bisect: --tests {exc}") from None
    ids = [t["nodeid"] for t in results["tests"] if t["nodeid"].startswith("conformance/")
           and verdict.behaviour(t) == "deviates"]
    if not ids:
        raise UsageError(f"conformance bisect: --tests {path}: no failing test in it")
    return ids


def _version_key(path: Path) -> list:
    import re
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path.name)]


def image_list(ns: argparse.Namespace) -> list[str]:
    """--good ... --bad: the slice of --images from one end to the other, in order."""
    src = Path(ns.images)
    if src.is_dir():
        items = [str(p) for p in sorted((p for p in src.iterdir() if p.is_file()
                                         and p.name.startswith(("vmlinuz", "bzImage", "Image"))),
                                        key=_version_key)]
    elif src.is_file():
        items = [ln.strip() for ln in src.read_text().splitlines()
                 if ln.strip() and not ln.startswith("#")]
    else:
        items = [x.strip() for x in ns.images.split(",") if x.strip()]
    resolved = [str(Path(x).resolve()) for x in items]
    ends = []
    for end, opt in ((ns.good, "--good"), (ns.bad, "--bad")):
        r = str(Path(end).resolve())
        if r not in resolved:
            raise UsageError(f"conformance bisect: {opt} {end} is not in --images {ns.images}")
        ends.append(resolved.index(r))
    if ends[0] >= ends[1]:
        raise UsageError("conformance bisect: --good must come before --bad in --images "
                         "(oldest first)")
    return [items[i] for i in range(ends[0], ends[1] + 1)]


def new_bisect_dir(base: str) -> Path:
    import secrets
    out = Path(base) / (datetime.now(UTC).strftime("bisect-%Y%m%dT%H%M%SZ-")
                        + secrets.token_hex(3))
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        raise UsageError(f"conformance bisect: cannot make {out}: {exc.strerror or exc}") from None
    return out.resolve()


def step_config(ns: argparse.Namespace, out: Path, nodeids: list[str]) -> dict:
    return {"results": str(out), "accel": ns.accel, "cpus": ns.cpus, "memory": ns.memory,
            "vm_deadline": ns.vm_deadline, "append": ns.append, "fixed": ns.fixed,
            "nodeids": nodeids, "runner": ns.step_runner, "build": ns.build,
            "image": ns.image, "build_deadline": ns.build_deadline}


def run_images(ns, labels: list[str], config: dict) -> dict:
    runner = step.load_runner(config["runner"])
    release: dict[str, str] = {}  # image -> the kernel release its run recorded

    def one(i: int):
        print(f"bisect: step: {labels[i]}", flush=True)
        results, where, seconds = runner(Path(labels[i]), config["nodeids"], config)
        if results is not None and (results.get("kernel") or {}).get("release"):
            release[labels[i]] = f"Linux {results['kernel']['release']}"
        v = verdict.classify(results, config["nodeids"], ns.fixed)
        print(f"bisect: {labels[i]}: {v.state}: {v.reason}", flush=True)
        return v, where, seconds

    old, new = gitb.terms(ns.fixed)
    found = search.search(labels, one, verify_ends=not ns.trust_ends,
                          stop=lambda: interrupt.requested() is not None, roles=(old, new))
    return {"candidates": labels,
            "first": labels[found.first_new] if found.first_new is not None else None,
            "maybe": [labels[i] for i in found.maybe],
            "problem": interrupt.note() if interrupt.requested() else found.problem,
            "steps": [{"candidate": s.label, "subject": release.get(s.label, ""),
                       "state": s.verdict.state,
                       "reason": s.verdict.reason, "tests": s.verdict.tests,
                       "results": s.results_dir, "seconds": s.seconds} for s in found.steps]}


def run_git(ns, out: Path, config: dict) -> dict:
    found = gitb.bisect(Path(ns.git), ns.good, ns.bad, out, config)
    return {"first": found.first, "maybe": found.maybe, "problem": found.problem,
            "show": found.show,
            "steps": [{"candidate": s["commit"], **{k: s.get(k) for k in
                       ("subject", "state", "reason", "tests", "results", "seconds")}}
                      for s in found.steps]}


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    if bool(ns.images) == bool(ns.git):
        raise UsageError("conformance bisect: give --images LIST|DIR or --git TREE (one of them)")
    nodeids = nodeids_from(ns, pytest_args)
    labels = image_list(ns) if ns.images else None
    if ns.git:  # before anything is made: a bad tree or revision is one line, nothing left
        if not ns.build:
            raise UsageError("conformance bisect: --git needs --build CMD (e.g. 'vng -b')")
        try:
            gitb.check(Path(ns.git), ns.good, ns.bad)
        except TargetError as exc:
            raise UsageError(f"conformance bisect: {exc}") from None
    out = new_bisect_dir(ns.results)
    config = step_config(ns, out, nodeids)
    old, new = gitb.terms(ns.fixed)
    record = {"form": "images" if labels else "git", "fixed": ns.fixed, "terms": [old, new],
              "tests": nodeids, "good": ns.good, "bad": ns.bad,
              "command": shlex.join(["conformance", *argv])}
    print(f"bisect: {len(nodeids)} test(s), {record['form']}; everything goes to {out}/",
          flush=True)
    with interrupt.handling():
        record.update(run_images(ns, labels, config) if labels else run_git(ns, out, config))
        if interrupt.requested():
            record["problem"] = interrupt.note()
    section.write(out, record)
    # reports get the section only with an answer: a report says what is known, not that
    # a bisect was attempted (bisect.md keeps that)
    reports = write_reports(ns, out, record) if record.get("first") or record.get("maybe") \
        else []
    print(f"bisect: {section.answer(record)}")
    print(f"bisect: log and answer in {out}/bisect.md" + (
        f"; First {new} section added to {len(reports)} report(s)" if reports else ""))
    if interrupt.requested():
        print(f"conformance bisect: {interrupt.note()}; stopped the VM or build it had started; "
              "no bisect state or worktree is left", file=sys.stderr)
        return interrupt.exit_status()
    return EXIT_OK if record.get("first") else EXIT_FAIL


def write_reports(ns, out: Path, record: dict) -> list[Path]:
    """With --regressions: CAND's regression reports against BASE, in out/reports/, with the
    section; with --report DIR: the section added to the matching reports there."""
    changed = []
    if ns.regressions and not ns.fixed:
        from conformance import catalog
        from conformance.results import report
        base, cand = (compare.read(p) for p in ns.regressions)
        report.write_all(cand, out / "reports", catalog.load_all(), base)
        changed += section.add_to_reports(out / "reports", record)
    if ns.report:
        changed += section.add_to_reports(Path(ns.report), record)
    return changed
