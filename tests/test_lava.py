"""LAVA: the guest reporter's test cases and attachments, read back by `conformance lava-results`
(from a job log and from a results export), and the consistency check between them. The
reporter runs LAVA's own lava-test-case / lava-test-reference / lava-test-set scripts when
lava-dispatcher is installed, and the signals they print go through the dispatcher's parsing
rules (signal regex, KEY=VALUE split, result values)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conformance import cli
from conformance.lava import names, report
from conformance.lava import results as lava_results
from conformance.results import validate

yaml = pytest.importorskip("yaml", reason="PyYAML (the `lava` extra) is not installed")

GOLDEN = Path(__file__).parent / "golden"
LAVA_SHELL = Path("/usr/lib/python3/dist-packages/lava_dispatcher/lava_test_shell")
SIGNAL = re.compile(r"<LAVA_SIGNAL_(\S+) ([^>]+)>")  # lava_dispatcher/actions/test/shell.py


def mixed() -> dict:
    return json.loads((GOLDEN / "results-mixed.json").read_text())


def run_dir(tmp_path: Path, results: dict) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    from conformance.results.recorder import write_outputs
    write_outputs(d, results)
    return d


# --- what the dispatcher does with the guest's output ----------------------------------------

def dispatcher_records(stdout: str, definition: str = "0_zerocopy-conformance") -> list[dict]:
    """The job-log records lava-dispatcher 2023.01 makes of this console output: the same
    signal regex, KEY=VALUE split and result check as TestShellAction.signal_test_case,
    signal_test_reference and signal_test_set; every line is also a "target" record."""
    records, test_set = [], None
    for line in stdout.splitlines():
        records.append({"dt": "2026-12-04T00:00:00", "lvl": "target", "msg": line})
        m = SIGNAL.search(line)
        if not m:
            continue
        kind, params = m[1], m[2].split()
        if kind == "TESTCASE":
            data = {}
            for p in params:
                key, value = p.split("=")  # more than one "=" is a JobError in LAVA
                data[key.lower()] = value
            assert data["result"] in ("pass", "fail", "skip", "unknown")
            msg = {"definition": definition, "case": data["test_case_id"],
                   "result": data["result"]}
            if "measurement" in data:
                msg["measurement"] = float(data["measurement"])
                msg["units"] = data.get("units")
        elif kind == "TESTREFERENCE":
            assert len(params) == 3
            msg = {"case": params[0], "definition": definition, "result": params[1],
                   "reference": params[2]}
        elif kind == "TESTSET":
            test_set = params[1] if params[0] == "START" else None
            continue
        else:
            continue
        if test_set:
            msg["set"] = test_set
        records.append({"dt": "2026-12-04T00:00:00", "lvl": "results", "msg": msg})
    records.append({"dt": "2026-12-04T00:00:01", "lvl": "results",
                    "msg": {"definition": "lava", "case": "job", "result": "pass"}})
    return records


@pytest.fixture
def lava_tools(tmp_path, monkeypatch):
    """LAVA's own lava-test-* scripts on PATH (lava-dispatcher), or stand-ins printing the same
    signal lines when it is not installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if (LAVA_SHELL / "lava-test-case").is_file():
        for name in ("lava-test-case", "lava-test-reference", "lava-test-set",
                     "lava-common-functions"):
            text = (LAVA_SHELL / name).read_text()
            (bin_dir / name).write_text("#!/bin/sh\n" + text)
            (bin_dir / name).chmod(0o755)
    else:
        stub = {"lava-test-case": 'echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=$1 RESULT=$3 '
                                  'MEASUREMENT=$5 UNITS=$7>"',
                "lava-test-reference": 'echo "<LAVA_SIGNAL_TESTREFERENCE $1 $3 $5>"',
                "lava-test-set": 'echo "<LAVA_SIGNAL_TESTSET $(echo $1 | tr a-z A-Z) $2>"'}
        for name, body in stub.items():
            (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
            (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(shutil.which('sh')).parent}")
    monkeypatch.setenv("LAVA_RESULT_DIR", str(tmp_path / "lava-result"))
    monkeypatch.setattr(report, "PRINTK", tmp_path / "printk")  # not the host's console level
    (tmp_path / "printk").write_text("4\t4\t1\t7\n")
    return bin_dir


def guest_log(tmp_path, capfd, results: dict, form: str = "server") -> tuple[Path, str]:
    """The job log of a guest that reported results: as lava-server keeps it (a YAML list)
    or as lava-run prints it (one JSON mapping per line)."""
    d = run_dir(tmp_path, results)
    assert report.main([str(d)]) == 0
    out = capfd.readouterr().out
    log = tmp_path / "output.yaml"
    records = dispatcher_records(out)
    if form == "server":
        log.write_text(yaml.safe_dump(records))
    else:
        log.write_text("".join(json.dumps(r) + "\n" for r in records))
    return log, out


# --- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("nodeid", [t["nodeid"] for t in mixed()["tests"]]
                         + ["conformance/linux/test_x.py::test_" + "y" * 150 + "[a=b c]"],
                         ids=lambda n: n[-40:])
def test_case_names_are_what_lava_keeps(nodeid):
    name = names.case_name(nodeid)
    assert names.valid_name(name), name
    assert "=" not in name and " " not in name


def test_result_and_reference_mapping_round_trips():
    for t in mixed()["tests"]:
        assert names.result(t) in ("pass", "fail", "skip", "unknown")
        assert names.parse_reference(names.reference(t)) == (t["outcome"], t["clauses"])
    assert names.parse_reference("https://example.org/x") is None
    assert names.parse_reference("urn:zerocopy-conformance:bogus:A") is None


def test_colliding_names_get_distinct_digests():
    tests = [{"nodeid": "conformance/linux/test_a.py::test_b[x y]"},
             {"nodeid": "conformance/linux/test_a.py::test_b[x_y]"}]
    a, b = report.unique_names(tests)
    assert a != b and names.valid_name(a) and names.valid_name(b)


# --- attachments -----------------------------------------------------------------------------

def test_attachments_round_trip_and_reject_damage():
    data = json.dumps(mixed()).encode()
    lines = report.attachment_lines("results.json", data)
    noisy = ["login: root", *lines[:3], "[  12.3] a kernel line", *lines[3:]]
    assert lava_results.attachments(noisy) == {"results.json": data}
    cut = lines[:2] + lines[3:]
    with pytest.raises(lava_results.LavaResultsError, match="lines in the log"):
        lava_results.attachments(cut)
    flipped = list(lines)
    flipped[1] = ("B" if flipped[1][0] != "B" else "C") + flipped[1][1:]
    with pytest.raises(lava_results.LavaResultsError):
        lava_results.attachments(flipped)


# --- the round trip --------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["server", "lava-run"])
def test_job_log_round_trip_keeps_every_test(tmp_path, capfd, lava_tools, form):
    original = mixed()
    log, out = guest_log(tmp_path, capfd, original, form)
    assert out.count("<LAVA_SIGNAL_TESTCASE") == len(original["tests"])
    assert out.count("<LAVA_SIGNAL_TESTREFERENCE") == len(original["tests"])
    assert (tmp_path / "printk").read_text() == "4"  # console level restored
    results, attached = lava_results.convert(log)
    assert set(attached) == set(names.ATTACHMENTS)
    assert validate.shape_problem(results) is None
    assert results["tests"] == original["tests"]
    assert results["kernel"] == original["kernel"]
    assert results["lava"]["complete"] and results["lava"]["job_result"] == "pass"
    assert results["run"]["target"] == "lava"


def test_a_test_case_that_disagrees_with_the_attachment_is_an_error(tmp_path, capfd,
                                                                      lava_tools):
    log, _ = guest_log(tmp_path, capfd, mixed())
    records = yaml.safe_load(log.read_text())
    for r in records:
        if r["lvl"] == "results" and r["msg"].get("result") == "pass" and "set" not in r["msg"] \
                and r["msg"]["definition"] != "lava":
            r["msg"]["result"] = "fail"
            break
    log.write_text(yaml.safe_dump(records))
    with pytest.raises(lava_results.LavaResultsError, match="disagree.*LAVA says fail"):
        lava_results.convert(log)


def test_results_export_keeps_outcomes_and_clauses(tmp_path, capfd, lava_tools):
    log, _ = guest_log(tmp_path, capfd, mixed())
    rows = []
    for r in yaml.safe_load(log.read_text()):
        if r["lvl"] != "results" or r["msg"]["definition"] == "lava":
            continue
        m = r["msg"]
        # the shape of lava-server's /results/ID/yaml rows
        rows.append({"name": m["case"], "result": m["result"], "suite": m["definition"],
                     "measurement": m.get("measurement"), "unit": m.get("units") or "",
                     "metadata": yaml.safe_dump(m), "job": "1", "id": len(rows) + 1})
    export = tmp_path / "export.yaml"
    export.write_text(yaml.safe_dump(rows))
    results, attached = lava_results.convert(export)
    assert attached == {} and not results["lava"]["complete"]
    assert validate.shape_problem(results) is None
    want = sorted((t["outcome"], tuple(t["clauses"])) for t in mixed()["tests"])
    assert sorted((t["outcome"], tuple(t["clauses"])) for t in results["tests"]) == want
    api = tmp_path / "tests.json"  # the REST API's page shape
    api.write_text(json.dumps({"count": len(rows), "results": rows}))
    assert len(lava_results.convert(api)[0]["tests"]) == len(mixed()["tests"])


# --- the command -----------------------------------------------------------------------------

def test_lava_results_command_writes_a_run_compare_reads(tmp_path, capfd, lava_tools):
    log, _ = guest_log(tmp_path, capfd, mixed())
    assert cli.main(["lava-results", str(log), "--results", str(tmp_path / "out")]) == 1
    out = capfd.readouterr().out
    assert "from the attached results.json" in out
    (run,) = (tmp_path / "out").iterdir()
    for name in ("results.json", "junit.xml", "ktap.txt", "kcidb.json"):
        assert (run / name).is_file()
    assert {p.name for p in (run / "lava-attachments").iterdir()} == set(names.ATTACHMENTS)
    assert cli.main(["compare", str(GOLDEN / "results-mixed.json"), str(run)]) in (0, 1)
    capfd.readouterr()
    # the same job again: refused, not merged
    assert cli.main(["lava-results", str(log), "--results", str(tmp_path / "out")]) == 2
    assert "exists already" in capfd.readouterr().err


@pytest.mark.parametrize("content,message", [
    ("", "non-empty list"),
    ("- {a: 1}\n", "not a LAVA job log"),
    ("[unclosed\n", "not a LAVA job log"),
    ("- {dt: x, lvl: results, msg: {definition: lava, case: job, result: fail}}\n",
     "failed before the suite reported"),
], ids=["empty", "other-records", "not-yaml", "job-failed-early"])
def test_unreadable_input_is_one_line_exit_2(tmp_path, capfd, content, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    assert cli.main(["lava-results", str(bad), "--results", str(tmp_path / "out")]) == 2
    err = capfd.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_reporter_without_results_reports_a_failed_case(tmp_path, capfd, lava_tools):
    assert report.main([str(tmp_path / "nothing")]) == 2
    assert "TEST_CASE_ID=conformance-results RESULT=fail" in capfd.readouterr().out


# --- the test definition's steps -------------------------------------------------------------

def fake_venv(tmp_path: Path, conformance_body: str) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "conformance").write_text("#!/bin/sh\n" + conformance_body)
    (venv / ".installed").write_text("")
    (venv / "bin" / "python").write_text('#!/bin/sh\necho "report $3"\n')
    for name in ("conformance", "python"):
        (venv / "bin" / name).chmod(0o755)
    return venv


@pytest.mark.parametrize("exit_code,writes_run,want", [
    (0, True, "pass"),
    (1, True, "pass"),   # failures: reported test by test
    (2, False, "fail"),  # could not run: no tests to report
], ids=["passed", "failures", "could-not-run"])
def test_run_step_reports_the_run_and_hands_over(tmp_path, lava_tools, exit_code, writes_run,
                                                 want):
    import subprocess
    body = ('base=$3\n' + ('mkdir "$base/20261204T000000Z-host-abcdef"\n' if writes_run else "")
            + f"exit {exit_code}\n")
    venv = fake_venv(tmp_path, body)
    script = Path(__file__).resolve().parent.parent / "lava" / "lava-conformance.sh"
    done = subprocess.run(["sh", str(script), "run"], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": str(lava_tools) + ":/usr/bin:/bin",
                                            "VENV": str(venv), "RESULTS": str(tmp_path / "r"),
                                            "LAVA_RESULT_DIR": str(tmp_path / "lr")})
    assert f"TEST_CASE_ID=conformance-run RESULT={want}" in done.stdout, done.stdout + done.stderr
    assert ("report " in done.stdout) == writes_run


def test_real_lava_run_log_of_a_job_that_failed_early(tmp_path, capfd):
    """A log lava-run 2023.01 wrote here (excerpt): one JSON record a line, some lines YAML
    ('"size": ! "..."'), and a job that failed before the suite reported (an install step's
    lava-test-case ran before LAVA's STARTRUN and was refused)."""
    log = Path(__file__).parent / "data" / "lava" / "lava-run-install-failed.jsonl"
    kind, records = lava_results.load(log)
    assert kind == "log" and any("size" in str(r["msg"]) for r in records)
    with pytest.raises(lava_results.LavaResultsError, match="Invalid TESTCASE signal"):
        lava_results.convert(log)
    assert cli.main(["lava-results", str(log), "--results", str(tmp_path / "out")]) == 2
    assert "failed before the suite reported" in capfd.readouterr().err
