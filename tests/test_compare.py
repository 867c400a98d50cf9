"""`conformance compare`: every kind of difference with its cause (golden JSON and table), exit 1
on regressions and unexplained lost coverage only, lost coverage explained by the two runs'
records, and bad input as one line with exit 2."""
import copy
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
        "test_sendfile_queues_no_zerocopy_notification": "lost coverage",
        "test_nonstrict[a#b]": "unskipped",
        "test_pipe_without_readers_gives_epipe_and_sigpipe": "lost coverage",
        "test_was_known": "known failure gone",
        "test_sendfile_offsets_follow_the_man_page": "failure changed",
        "test_tcp_peer_receives_the_file_range[ipv6]": "other",
        "test_removed": "lost coverage",
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
        "now skipped: requires feature SO_ZEROCOPY")
    assert cause["test_pipe_without_readers_gives_epipe_and_sigpipe"].startswith(
        "now xfailed: known failure known-failures.toml #1")
    assert cause["test_sendfile_offsets_follow_the_man_page"] == (
        "was: assert 1 == 0; now: assert 4097 == 4096")
    assert cause["test_tcp_peer_receives_the_file_range[ipv6]"].startswith("harness error")
    assert cause["test_removed"].startswith("vanished: not in CAND")
    assert "no test of conformance/linux/test_sendfile_old.py ran in CAND" in cause["test_removed"]
    assert result()["context"][0] == "kernel release: 6.12.9-test -> 6.18.44-test"


def test_same_run_has_no_difference():
    r = compare.compare(compare.read(CAND), compare.read(CAND))
    assert r["differences"] == [] and r["counts"]["unchanged"] == 12


def test_cli_exit_status_is_1_on_regressions_and_lost_coverage_only(capsys):
    assert cli.main(["compare", str(BASE), str(CAND)]) == 1
    out = capsys.readouterr().out
    assert "compare: 3 regressions, 3 lost coverage, 1 fix" in out
    assert cli.main(["compare", str(CAND), str(CAND)]) == 0
    # reversed, the fix becomes passed -> error: a regression too
    assert cli.main(["compare", str(CAND), str(BASE)]) == 1
    assert "compare: 1 regression," in capsys.readouterr().out


def test_cli_json_is_machine_readable(capsys):
    cli.main(["compare", "--json", str(BASE), str(CAND)])
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["regression"] == 3 and data["counts"]["lost coverage"] == 3
    assert data["base"]["release"] == "6.12.9-test"


NAME = "test_was_known"  # passed in results-mixed.json


def skipped(reason):
    return lambda b, c, t: t.update(outcome="skipped", reason=reason)


def xfailed(kernel=None):
    entry = {"where": "kf.toml #1", "kernel": kernel, "reason": "r", "link": "l"}
    return lambda b, c, t: t.update(outcome="xfailed", reason="known failure kf.toml #1",
                                    known_failure=entry)


def both(*changes):
    return lambda b, c, t: [change(b, c, t) for change in changes]


def rehash(b, c, t):
    c["kernel"]["config_hash"] = "sha256:" + "ef" * 32


def unprivileged(b, c, t):
    c["environment"]["privileged"] = False


def options(base_value, cand_value):
    def change(b, c, t):
        b["kernel"]["config_options"] = {"CONFIG_VSOCKETS_LOOPBACK": base_value}
        c["kernel"]["config_options"] = {"CONFIG_VSOCKETS_LOOPBACK": cand_value}
        rehash(b, c, t)
    return change


def kernels(base_release, cand_release):
    def change(b, c, t):
        b["kernel"]["release"], c["kernel"]["release"] = base_release, cand_release
    return change


def vanish(b, c, t):
    c["tests"].remove(t)


GATE = "requires kernel >= 6.5 (commit 57d44a354a43); running 6.1.0-57-amd64"
VSOCK_SKIP = "requires feature VSOCK_LOOPBACK: no transport (needs CONFIG_VSOCKETS_LOOPBACK)"
# (id, change to (BASE, CAND, CAND's test), kind, text in the cause or explanation)
LOSSES = [
    ("skipped", skipped("requires feature SO_ZEROCOPY: ENOPROTOOPT"), "lost coverage",
     "now skipped: requires feature SO_ZEROCOPY"),
    ("xfailed", xfailed(), "lost coverage", "now xfailed: known failure kf.toml #1"),
    ("error", lambda b, c, t: t.update(outcome="error", message="E   OSError: fixture"),
     "regression", "harness error"),
    ("vanished", vanish, "lost coverage", "vanished: not in CAND"),
    ("not-root", both(unprivileged, skipped("requires root (euid 1000)")), "explained",
     "CAND ran unprivileged, BASE as root"),
    ("not-root-other-reason", both(unprivileged, skipped("requires feature SO_ZEROCOPY")),
     "lost coverage", "now skipped"),
    ("not-root-error", both(unprivileged, lambda b, c, t: t.update(outcome="error")),
     "regression", "harness error"),
    ("config-differs", both(options("m", None), skipped(VSOCK_SKIP)), "explained",
     "CONFIG_VSOCKETS_LOOPBACK=m in BASE's kernel config, CONFIG_VSOCKETS_LOOPBACK not set in"),
    ("config-same", both(options("m", "m"), skipped(VSOCK_SKIP)), "lost coverage",
     "not explained: CONFIG_VSOCKETS_LOOPBACK=m in both kernels' configs"),
    ("config-hash-only", both(rehash, skipped(VSOCK_SKIP)), "explained",
     "the skip names CONFIG_VSOCKETS_LOOPBACK and the kernel configs differ"),
    ("config-hash-same", skipped(VSOCK_SKIP), "lost coverage",
     "CONFIG_VSOCKETS_LOOPBACK: the two runs do not record different configs"),
    ("target-kind", both(lambda b, c, t: c["run"].update(target="kernel:/boot/vmlinuz-6.1"),
                         skipped("requires feature TUN")), "explained",
     "different target kind: host -> kernel"),
    ("os", both(lambda b, c, t: c["kernel"].update(os="freebsd"), vanish), "explained",
     "different OS: linux -> freebsd"),
    ("kernel-range", both(kernels("6.18.44", "6.1.0-57-amd64"), xfailed("<6.8")), "explained",
     "entry kf.toml #1 holds for kernels <6.8: CAND's 6.1.0-57-amd64 is in that range"),
    ("kernel-range-both", both(kernels("6.1.0", "6.1.0-57-amd64"), xfailed("<6.8")),
     "lost coverage", "now xfailed"),
    ("version-gate", both(kernels("6.18.44", "6.1.0-57-amd64"), skipped(GATE)), "explained",
     "CAND's kernel 6.1.0-57-amd64 predates 6.5, which the skip names; BASE's 6.18.44 does not"),
    ("version-gate-both", both(kernels("6.4.1", "6.1.0-57-amd64"), skipped(GATE)),
     "lost coverage", "now skipped: requires kernel >= 6.5"),
]


def lose(tmp_path: Path, change) -> tuple[Path, Path]:
    """results-mixed.json as BASE, and a copy changed by change(base, cand, test) as CAND."""
    base = json.loads(CAND.read_text())
    base["kernel"]["config_hash"] = "sha256:" + "cd" * 32
    cand = copy.deepcopy(base)
    change(base, cand, next(t for t in cand["tests"] if t["nodeid"].endswith(NAME)))
    paths = tmp_path / "base.json", tmp_path / "cand.json"
    for path, data in zip(paths, (base, cand)):
        path.write_text(json.dumps(data))
    return paths


def test_a_passed_test_that_becomes_skipped_fails_the_comparison(tmp_path, capsys):
    base, cand = lose(tmp_path, skipped("requires feature SO_ZEROCOPY: ENOPROTOOPT"))
    assert cli.main(["compare", str(base), str(cand)]) == 1
    out = capsys.readouterr().out
    assert f"lost coverage  passed -> skipped  conformance/linux/test_sendfile_blocking.py::{NAME}" \
        in out
    assert "compare: 1 lost coverage, 11 unchanged" in out


@pytest.mark.parametrize("change, kind, text",
                         [pytest.param(*row[1:], id=row[0]) for row in LOSSES])
def test_lost_coverage_fails_unless_the_records_explain_it(tmp_path, capsys, change, kind, text):
    base, cand = lose(tmp_path, change)
    status = cli.main(["compare", "--json", str(base), str(cand)])
    data = json.loads(capsys.readouterr().out)
    diff = next(d for d in data["differences"] if d["nodeid"].endswith(NAME))
    assert diff["kind"] == kind
    assert text in f"{diff['cause']} | {diff['explanation']}"
    assert (diff["explanation"] is not None) == (kind == "explained")
    assert data["counts"][kind] == 1
    assert status == (0 if kind == "explained" else 1)


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


def test_a_failure_other_than_the_known_one_is_a_regression_with_its_own_cause():
    base, cand = compare.read(CAND), compare.read(CAND)
    known = next(t for t in base["tests"] if t["nodeid"].endswith("test_was_known"))
    known.update(outcome="xfailed", reason="known failure kf.toml #1: r [l]")
    other = next(t for t in cand["tests"] if t["nodeid"].endswith("test_was_known"))
    other.update(outcome="failed", message=(
        "[NOT THE KNOWN FAILURE] the test failed, but not with the deviation kf.toml #1 (test="
        "'*') pins: the failure text does not match observed = 'EINVAL'\n\n"
        "    def test_was_known():\n>       assert 1 == 3, 'EBADF'\nE       AssertionError: EBADF"))
    (diff,) = compare.compare(base, cand)["differences"]
    assert (diff["kind"], diff["cause"]) == (
        "regression", "not the known failure: AssertionError: EBADF")


def test_context_names_privilege_and_the_recorded_config_options_that_changed(tmp_path):
    base, cand = lose(tmp_path, both(unprivileged, options("m", None)))
    ctx = compare.compare(compare.read(base), compare.read(cand))["context"]
    assert "privileged: True -> False" in ctx
    assert "CONFIG_VSOCKETS_LOOPBACK: m -> not set" in ctx
