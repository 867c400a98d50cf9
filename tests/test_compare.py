"""`conformance compare`: every kind of difference with its cause (golden JSON and table), exit 1
on regressions only, and bad input as one line with exit 2."""
import json
import os
from pathlib import Path

import pytest

from conformance import cli
from conformance.commands.compare import table
from conformance.results import compare

GOLDEN = Path(__file__).parent / "golden"
BASE, CAND = GOLDEN / "results-base.json", GOLDEN / "results-mixed.json"


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; CONFORMANCE_UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("CONFORMANCE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; CONFORMANCE_UPDATE_GOLDEN=1 to accept"


def result() -> dict:
    return compare.compare(compare.read(BASE), compare.read(CAND))


def test_compare_matches_golden_json_and_table():
    r = result()
    golden("compare-base-mixed.json", json.dumps(r, indent=1) + "\n")
    golden("compare-base-mixed.txt", "\n".join(table(r, 100)) + "\n")


def test_every_kind_of_difference_is_found_with_its_cause():
    diffs = {d["nodeid"].split("::")[-1]: d for d in result()["differences"]}
    kinds = {name: d["kind"] for name, d in diffs.items()}
    assert kinds == {
        "test_full_nonblocking_pipe_gives_eagain": "regression",
        "test_sendfile_fails_with_ebadf[in=closed,out=file-wronly]": "regression",
        "test_sendfile_rejects_arguments[EINVAL-in=file-rdonly,out=file-append,off=NULL,"
        "count=1]": "regression",
        "test_sendfile_fails_with_ebadf[in=negative,out=file-wronly]": "fix",
        "test_sendfile_queues_no_zerocopy_notification": "new skip",
        "test_nonstrict[a#b]": "unskipped",
        "test_pipe_without_readers_gives_epipe_and_sigpipe": "new known failure",
        "test_was_known": "known failure gone",
        "test_sendfile_offsets_follow_the_man_page": "failure changed",
        "test_tcp_peer_receives_the_file_range[ipv6]": "other",
        "test_removed": "vanished",
        "test_splice_rejects_arguments[ESPIPE-in=pipe-read@0x0,out=file-wronly,len=1,"
        "flags=0x0]": "new test",
    }
    cause = {name: d["cause"] for name, d in diffs.items()}
    assert cause["test_full_nonblocking_pipe_gives_eagain"] == "timed out after 120 s"
    assert cause["test_sendfile_fails_with_ebadf[in=closed,out=file-wronly]"].startswith(
        "XPASS(strict): the test passed")
    assert "expected EINVAL, got EBADF" in cause[
        "test_sendfile_rejects_arguments[EINVAL-in=file-rdonly,out=file-append,off=NULL,count=1]"]
    assert cause["test_sendfile_queues_no_zerocopy_notification"].startswith(
        "requires feature SO_ZEROCOPY")
    assert cause["test_sendfile_offsets_follow_the_man_page"] == (
        "was: assert 1 == 0; now: assert 4097 == 4096")
    assert cause["test_tcp_peer_receives_the_file_range[ipv6]"].startswith("harness error")
    assert "no test of conformance/linux/test_sendfile_old.py ran in CAND" in cause["test_removed"]
    assert result()["context"][0] == "kernel release: 6.12.9-test -> 6.18.44-test"


def test_same_run_has_no_difference():
    r = compare.compare(compare.read(CAND), compare.read(CAND))
    assert r["differences"] == [] and r["counts"]["unchanged"] == 12


def test_cli_exit_status_is_1_on_regressions_only(capsys):
    assert cli.main(["compare", str(BASE), str(CAND)]) == 1
    out = capsys.readouterr().out
    assert "compare: 3 regressions, 1 fix" in out
    assert cli.main(["compare", str(CAND), str(CAND)]) == 0
    # reversed, the fix becomes passed -> error: a regression too
    assert cli.main(["compare", str(CAND), str(BASE)]) == 1
    assert "compare: 1 regression," in capsys.readouterr().out


def test_cli_json_is_machine_readable(capsys):
    cli.main(["compare", "--json", str(BASE), str(CAND)])
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["regression"] == 3
    assert data["base"]["release"] == "6.12.9-test"


def bad_inputs(tmp: Path) -> dict:
    (tmp / "garbage.json").write_text("{not json")
    (tmp / "list.json").write_text("[]")
    (tmp / "other.json").write_text(json.dumps({"schema": "conformance-results/2"}))
    (tmp / "notests.json").write_text(json.dumps(
        {"schema": "conformance-results/1", "run": {}, "kernel": {}}))
    (tmp / "badtest.json").write_text(json.dumps(
        {"schema": "conformance-results/1", "run": {}, "kernel": {}, "tests": [{"x": 1}]}))
    return {"missing": (str(tmp / "nope"), "cannot read results"),
            "malformed": (str(tmp / "garbage.json"), "cannot read results"),
            "not-an-object": (str(tmp / "list.json"), "not a conformance results file"),
            "schema": (str(tmp / "other.json"), "schema 'conformance-results/2'"),
            "no-tests": (str(tmp / "notests.json"), "'tests' missing"),
            "bad-test": (str(tmp / "badtest.json"), "tests[0] needs a nodeid")}


@pytest.mark.parametrize("case", ["missing", "malformed", "not-an-object", "schema", "no-tests",
                                  "bad-test"])
@pytest.mark.parametrize("command", ["compare", "report"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case, command):
    path, message = bad_inputs(tmp_path)[case]
    argv = ["compare", str(BASE), path] if command == "compare" else \
        ["report", path, "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith(f"conformance {command}: ") and "Traceback" not in out + err
