"""The `conformance` command line: bad input is one line and exit 2; clause coverage."""
import pytest

from conformance import catalog, cli
from conformance.commands import clauses


@pytest.mark.parametrize("argv, message", [
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--os", "plan9"], "invalid choice: 'plan9'"),
    (["clauses", "--os", "plan9"], "invalid choice: 'plan9'"),
    ([], "the following arguments are required"),
    (["clauses", "--", "-x"], "takes no arguments after --"),
], ids=["unknown-flag", "unknown-os-run", "unknown-os-clauses", "no-command", "stray-pytest-args"])
def test_bad_usage_is_one_line_and_exit_2(capsys, argv, message):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in out + err


def test_unwritable_results_directory_is_exit_2(capsys, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert cli.main(["run", "--results", str(a_file / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance run: results directory") and len(err.splitlines()) == 1


def test_clause_coverage_lists_every_linux_clause_with_tests_or_reason():
    cov = clauses.coverage("linux")
    assert cov["problems"] == []
    rows = {r["id"]: r for r in cov["clauses"]}
    assert set(rows) == set(catalog.load("linux"))
    for cid, row in rows.items():
        assert row["tests"] or row["untested_reason"], cid
    assert rows["LNX-SF-EBADF-IN-INVALID"]["tests"]
    assert rows["LNX-SF-EIO"]["untested_reason"].startswith("Needs")
