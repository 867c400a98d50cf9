"""`conformance bisect` over images, with a fake step runner (no VM): the search names the first
bad image, a step that errors, taints, does not boot or skips the test is a skip and never a
verdict, ends that do not behave as claimed stop the search, --fixed looks for the first image
that conforms, and the answer, every step and the First bad section are written.

A fake image is a text file whose first word says what its kernel does with the tests:
conforms, deviates, xfail (the known failure happens), xpass (a strict XPASS: it conforms),
error, skipped, noboot, taint, hang (waits for an interrupt)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conformance import cli
from conformance.bisect import search, verdict
from conformance.results.known_failures import XPASS_PREFIX
from conformance.targets import interrupt

NODE = "conformance/linux/test_splice_einval.py::test_x[len=-1]"
RUNNER = "test_bisect:fake_runner"
HANG_DEADLINE = 30.0


def _test(nodeid: str, outcome: str, message: str | None = None) -> dict:
    return {"nodeid": nodeid, "clauses": [], "outcome": outcome, "message": message}


def fake_results(kind: str, nodeids: list[str], name: str) -> dict | None:
    if kind == "hang":  # a step that runs until the bisect is interrupted
        end = time.monotonic() + HANG_DEADLINE
        Path(name).with_suffix(".hanging").write_text("")
        while not interrupt.requested() and time.monotonic() < end:
            time.sleep(0.05)  # a stand-in for a VM: polls the interrupt flag like run_vm does
        return None
    outcome = {"conforms": "passed", "deviates": "failed", "xfail": "xfailed", "xpass": "failed",
               "error": "error", "skipped": "skipped"}.get(kind, "passed")
    message = f"{XPASS_PREFIX} known failure" if kind == "xpass" else None
    tests = [_test(n, outcome, message) for n in nodeids] if kind != "noboot" else []
    if kind == "noboot":
        tests.append(_test("kernel/6.99::run", "error", "the kernel did not reach the suite"))
    if kind == "taint":
        tests.append(_test("kernel/6.99::health", "error", "the kernel was tainted: WARN"))
    return {"run": {"id": Path(name).name}, "kernel": {"release": name}, "tests": tests}


def fake_runner(image: Path, nodeids: list[str], config: dict):
    kind = image.read_text().split()[0]
    steps = len(list(Path(config["results"]).glob("step-*/")))
    where = Path(config["results"]) / f"step-{steps}-{image.name}"
    where.mkdir()
    results = fake_results(kind, nodeids, str(where))
    if results is not None:
        (where / "results.json").write_text(json.dumps(results))
    return results, str(where), 0.0


def images(tmp_path: Path, kinds: list[str]) -> list[Path]:
    paths = []
    for n, kind in enumerate(kinds):
        p = tmp_path / "images" / f"vmlinuz-6.{n}.0"
        p.parent.mkdir(exist_ok=True)
        p.write_text(kind + "\n")
        paths.append(p)
    return paths


def bisect(tmp_path: Path, kinds: list[str], *extra: str, good: int = 0, bad: int = -1):
    paths = images(tmp_path, kinds)
    argv = ["bisect", "--images", str(tmp_path / "images"), "--good", str(paths[good]),
            "--bad", str(paths[bad]), "--results", str(tmp_path / "out"),
            "--step-runner", RUNNER, *extra, "--", NODE]
    code = cli.main(argv)
    (out,) = (tmp_path / "out").iterdir()
    return code, json.loads((out / "bisect.json").read_text()), out, paths


@pytest.mark.parametrize("outcome,message,want", [
    pytest.param("passed", None, "conforms", id="passed"),
    pytest.param("xpassed", None, "conforms", id="xpassed"),
    pytest.param("failed", f"{XPASS_PREFIX} x", "conforms", id="strict-xpass"),
    pytest.param("failed", "AssertionError", "deviates", id="failed"),
    pytest.param("xfailed", None, "deviates", id="xfailed"),
    pytest.param("error", None, "error", id="error"),
    pytest.param("skipped", None, "skipped", id="skipped"),
])
def test_each_outcome_means_conforms_deviates_or_no_verdict(outcome, message, want):
    assert verdict.behaviour(_test(NODE, outcome, message)) == want


@pytest.mark.parametrize("kinds,first", [
    pytest.param(["conforms", "conforms", "deviates", "deviates", "deviates"], 2, id="middle"),
    pytest.param(["conforms", "deviates"], 1, id="two"),
    pytest.param(["conforms"] * 6 + ["deviates"], 6, id="last"),
    pytest.param(["conforms", "deviates"] + ["deviates"] * 6, 1, id="second"),
    pytest.param(["conforms", "xpass", "xfail", "deviates"], 2, id="known-failures"),
])
def test_first_bad_image_is_named(tmp_path, kinds, first):
    code, record, _out, paths = bisect(tmp_path, kinds)
    assert (code, record["first"]) == (0, str(paths[first]))
    tested = [s["candidate"] for s in record["steps"]]
    assert len(tested) == len(set(tested)) <= 2 + (len(kinds) - 2).bit_length()
    assert all(Path(s["results"]).is_dir() for s in record["steps"])


@pytest.mark.parametrize("kind", ["error", "skipped", "noboot", "taint"])
def test_a_step_without_a_verdict_is_skipped_and_the_search_goes_around_it(tmp_path, kind):
    kinds = ["conforms", "conforms", kind, "conforms", "deviates", "deviates"]
    code, record, _out, paths = bisect(tmp_path, kinds)
    assert (code, record["first"]) == (0, str(paths[4]))
    skip = [s for s in record["steps"] if s["candidate"] == str(paths[2])]
    assert [s["state"] for s in skip] == ["skip"]


def test_skips_that_hide_the_boundary_give_the_candidates(tmp_path):
    code, record, out, paths = bisect(tmp_path, ["conforms", "noboot", "taint", "deviates"])
    assert (code, record["first"]) == (1, None)
    assert record["maybe"] == [str(p) for p in paths[1:]]
    assert "one of" in (out / "bisect.md").read_text()


@pytest.mark.parametrize("kinds,why", [
    pytest.param(["deviates", "deviates", "deviates"], "the good end", id="good-deviates"),
    pytest.param(["conforms", "deviates", "conforms"], "the bad end", id="bad-conforms"),
    pytest.param(["noboot", "deviates", "deviates"], "gives no verdict", id="good-noboot"),
])
def test_ends_that_do_not_behave_as_claimed_stop_the_search(tmp_path, kinds, why):
    code, record, _out, _paths = bisect(tmp_path, kinds)
    assert code == 1 and record["first"] is None and why in record["problem"]


def test_fixed_names_the_first_image_that_conforms(tmp_path):
    kinds = ["xfail", "deviates", "deviates", "conforms", "conforms"]
    code, record, out, paths = bisect(tmp_path, kinds, "--fixed")
    assert (code, record["first"], record["terms"]) == (0, str(paths[3]), ["broken", "fixed"])
    assert "## First fixed" in (out / "bisect.md").read_text()


def test_the_range_is_the_slice_between_the_ends(tmp_path):
    kinds = ["deviates", "conforms", "conforms", "deviates", "conforms"]
    code, record, _out, paths = bisect(tmp_path, kinds, good=1, bad=3)
    assert (code, record["first"]) == (0, str(paths[3]))
    assert record["candidates"] == [str(p) for p in paths[1:4]]


def test_bisect_md_has_the_answer_and_every_step_with_its_results(tmp_path):
    code, record, out, paths = bisect(tmp_path, ["conforms", "conforms", "deviates"])
    assert code == 0
    text = (out / "bisect.md").read_text()
    assert text.startswith(f"# conformance bisect: first bad image: {paths[2]}")
    assert f"- **Last good:** {paths[1]}" in text
    for s in record["steps"]:
        assert s["results"] in text


def test_first_bad_section_goes_into_the_matching_reports(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "01-x.md").write_text(f"# title\n\n- **Test:** `{NODE}`\n")
    (reports / "02-y.md").write_text("# other\n\n- **Test:** `conformance/linux/t.py::y`\n")
    code, _record, _out, paths = bisect(tmp_path, ["conforms", "deviates"], "--report",
                                        str(reports))
    assert code == 0
    assert f"## First bad\n\n- **Answer:** first bad image: {paths[1]}" in \
        (reports / "01-x.md").read_text()
    assert "First bad" not in (reports / "02-y.md").read_text()


def test_search_checks_the_ends_first_then_halves():
    states = ["old"] * 5 + ["new"] * 11
    seen = []

    def run(i):
        seen.append(i)
        return verdict.StepVerdict(states[i], ""), None, 0.0
    found = search.search([str(i) for i in range(16)], run)
    assert found.first_new == 5 and seen[:2] == [0, 15] and len(seen) <= 2 + 4


@pytest.mark.parametrize("argv,message", [
    pytest.param(["--git", "x"], "one of them", id="images-and-git"),
    pytest.param([], "give the tests one way", id="no-tests"),
])
def test_bad_usage_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    paths = images(tmp_path, ["conforms", "deviates"])
    tail = ["--", NODE] if argv else []
    code = cli.main(["bisect", "--images", str(tmp_path / "images"), "--good", str(paths[0]),
                     "--bad", str(paths[1]), "--results", str(tmp_path / "out"), *argv, *tail])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_good_after_bad_is_refused(tmp_path, capsys):
    paths = images(tmp_path, ["conforms", "deviates"])
    code = cli.main(["bisect", "--images", str(tmp_path / "images"), "--good", str(paths[1]),
                     "--bad", str(paths[0]), "--", NODE])
    assert code == 2 and "--good must come before --bad" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_interrupt_during_a_step_stops_and_records_it(tmp_path, sig):
    """The signal reaches the step (a VM polls interrupt.requested(), see targets/kernel.py);
    the bisect stops there, writes what it has, and exits 128 + the signal."""
    out = tmp_path / "out"

    def send():
        end = time.monotonic() + HANG_DEADLINE
        while not list(out.glob("*/step-*.hanging")) and time.monotonic() < end:
            time.sleep(0.05)  # polling for the stand-in's file, under a deadline
        os.kill(os.getpid(), sig)
    sender = threading.Thread(target=send)
    sender.start()
    try:
        code, record, _out, _paths = bisect(tmp_path, ["conforms", "hang", "hang", "deviates"])
    finally:
        sender.join(HANG_DEADLINE)
    assert code == 128 + sig
    assert record["first"] is None and record["problem"] == f"interrupted by {sig.name}"
    assert [s["state"] for s in record["steps"]] == ["old", "new", "skip"]


def test_regressions_from_compare_are_bisected_and_their_reports_get_the_section(tmp_path):
    golden = Path(__file__).parent / "golden"
    paths = images(tmp_path, ["conforms", "conforms", "deviates", "deviates"])
    code = cli.main(["bisect", "--images", str(tmp_path / "images"), "--good", str(paths[0]),
                     "--bad", str(paths[3]), "--results", str(tmp_path / "out"),
                     "--step-runner", RUNNER, "--regressions", str(golden / "results-base.json"),
                     str(golden / "results-mixed.json")])
    (out,) = (tmp_path / "out").iterdir()
    record = json.loads((out / "bisect.json").read_text())
    assert (code, record["first"]) == (0, str(paths[2]))
    assert len(record["tests"]) == 3  # the three regressions `compare` finds
    reports = sorted((out / "reports").glob("*.md"))
    with_section = [p for p in reports if "\n## First bad\n" in p.read_text()]
    assert len(with_section) == 3, [p.name for p in reports]


@pytest.mark.parametrize("kind", ["compare-json", "results", "list"])
def test_tests_file_gives_the_node_ids(tmp_path, kind):
    from conformance.commands.bisect import _from_file
    from conformance.results import compare
    golden = Path(__file__).parent / "golden"
    path = tmp_path / "tests.txt"
    if kind == "compare-json":
        path.write_text(json.dumps(compare.compare(compare.read(golden / "results-base.json"),
                                                   compare.read(golden / "results-mixed.json"))))
        want = 3  # the regressions
    elif kind == "results":
        path = golden / "results-mixed.json"
        want = 5  # failed (not the strict XPASS) and xfailed suite tests
    else:
        path.write_text(f"# bisect these\n{NODE}\n\n")
        want = 1
    assert len(_from_file(path, fixed=False)) == want
