"""A finished LAVA job back into a results.json.

Inputs, told apart by their content:
- the job log (what `lava-run` prints, what lava-server keeps as output.yaml and serves from
  /api/v0.2/jobs/ID/logs/): a YAML list of {dt, lvl, msg}. Its "results" records are the LAVA
  test cases; its "target" records are the console, which carries the attachments the guest
  printed (names.ATTACH_BEGIN .. ATTACH_END, gzip + base64, SHA-256 checked);
- a results export (lava-server's /results/ID/yaml, or /api/v0.2/jobs/ID/tests/ as JSON, a
  list or {"results": [...]}): test cases only.

With the attached results.json (the log), that file is the run, verbatim but for run.target
("lava") and a "lava" record (source, test case count, the job's own result); every LAVA test
case is checked against it, and a disagreement is an error, not a merge. With test cases only
(an export, or a log whose attachment is missing), each test becomes an entry named
"lava/zerocopy-conformance::CASE" with the exact outcome and clause IDs from its reference
(names.py); node ids, messages, transcripts and the kernel record are not in a results export.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
from pathlib import Path

from conformance.lava import names
from conformance.results import SCHEMA
from conformance.results import validate as results_validate

LOG_NAMES = ("output.yaml", "job-log.yaml")
_BEGIN = re.compile(re.escape(names.ATTACH_BEGIN) + r" name=(?P<name>\S+) size=(?P<size>\d+) "
                    r"sha256=(?P<sha>[0-9a-f]{64}) encoding=gzip\+base64 lines=(?P<lines>\d+)")
_B64 = re.compile(r"[A-Za-z0-9+/=]+")


class LavaResultsError(ValueError):
    pass


def _parse(path: Path):
    """The records of a job log (one flow mapping per line, as lava-run prints it, or a YAML
    list, as lava-server stores it) or the rows of a results export (YAML or JSON)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LavaResultsError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    try:
        if lines and lines[0].lstrip().startswith("{") and len(lines) > 1:
            return [_record(ln, yaml, loader) for ln in lines]
        return yaml.load(text, Loader=loader)  # a safe loader
    except (yaml.YAMLError, ValueError) as exc:
        raise LavaResultsError(f"{path}: not a LAVA job log or results export ("
                               f"{str(exc).splitlines()[0]})") from None


def _record(line: str, yaml, loader):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return yaml.load(line, Loader=loader)  # lava_common.log.dump is YAML, usually JSON


def find_input(path: Path) -> Path:
    if path.is_dir():
        for name in LOG_NAMES:
            if (path / name).is_file():
                return path / name
        raise LavaResultsError(f"{path}: no {' or '.join(LOG_NAMES)} in this directory")
    return path


def load(path) -> tuple[str, list]:
    """('log', records) or ('export', test cases) from a file or directory."""
    path = find_input(Path(path))
    data = _parse(path)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]  # REST API page
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        raise LavaResultsError(f"{path}: not a LAVA job log or results export (a non-empty "
                               "list of records expected)")
    if all("lvl" in r and "msg" in r for r in data):
        return "log", data
    if all("name" in r and "result" in r for r in data):
        return "export", data
    raise LavaResultsError(f"{path}: not a LAVA job log ({{dt, lvl, msg}} records) or results "
                           "export ({name, result, ...} records)")


def _ours(definition) -> bool:
    # LAVA names a definition's suite "<index>_<name>" (0_zerocopy-conformance)
    return isinstance(definition, str) and re.fullmatch(
        r"(\d+_)?" + re.escape(names.DEFINITION), definition) is not None


def cases_from_log(records: list) -> tuple[list[dict], dict | None]:
    """Our test cases (dicts: case, result, measurement, set, reference) and LAVA's own job
    result record (definition "lava", case "job")."""
    cases, job = [], None
    for r in records:
        if r.get("lvl") != "results" or not isinstance(r.get("msg"), dict):
            continue
        msg = r["msg"]
        if msg.get("definition") == "lava" and msg.get("case") == "job":
            job = msg
        elif _ours(msg.get("definition")):
            cases.append(msg)
    return cases, job


def cases_from_export(rows: list) -> list[dict]:
    out = []
    for row in rows:
        meta = row.get("metadata") or {}
        if isinstance(meta, str):  # the YAML export keeps metadata as a YAML string
            import yaml
            try:
                meta = yaml.safe_load(meta) or {}
            except yaml.YAMLError:
                meta = {}
        if not _ours(row.get("suite") or meta.get("definition")):
            continue
        out.append({"case": row["name"], "result": row["result"],
                    "measurement": row.get("measurement"), "set": meta.get("set"),
                    "reference": meta.get("reference")})
    return out


def console_lines(records: list) -> list[str]:
    lines = []
    for r in records:
        if r.get("lvl") == "target":
            msg = r.get("msg")
            lines.extend(str(msg).splitlines() if msg is not None else [""])
    return lines


def attachments(lines: list[str]) -> dict[str, bytes]:
    """name -> content of each complete, checksum-true attachment in the console lines."""
    found: dict[str, bytes] = {}
    i = 0
    while i < len(lines):
        m = _BEGIN.search(lines[i])
        i += 1
        if not m:
            continue
        body = []
        while i < len(lines) and names.ATTACH_END not in lines[i]:
            chunk = lines[i].strip()
            if _B64.fullmatch(chunk):
                body.append(chunk)
            i += 1
        name, want = m["name"], int(m["lines"])
        if len(body) != want:
            raise LavaResultsError(f"attachment {name}: {len(body)} of {want} lines in the log "
                                   "(console output cut into it?)")
        try:
            data = gzip.decompress(base64.b64decode("".join(body), validate=True))
        except (binascii.Error, OSError, EOFError) as exc:
            raise LavaResultsError(f"attachment {name}: cannot decode ({exc})") from None
        if hashlib.sha256(data).hexdigest() != m["sha"] or len(data) != int(m["size"]):
            raise LavaResultsError(f"attachment {name}: SHA-256 or size differs from the one "
                                   "the guest printed")
        found[name] = data
    return found


def _main_cases(cases: list[dict]) -> dict[str, dict]:
    return {c["case"]: c for c in cases if not c.get("set")}


def check_against(results: dict, cases: list[dict]) -> None:
    """Every test has its LAVA test case with the result names.result() gives it."""
    from conformance.lava.report import unique_names

    main = _main_cases(cases)
    main.pop("install-suite", None)
    main.pop("conformance-run", None)
    problems = []
    for t, name in zip(results["tests"], unique_names(results["tests"])):
        case = main.pop(name, None)
        if case is None:
            problems.append(f"{t['nodeid']}: no LAVA test case {name!r}")
        elif case.get("result") != names.result(t):
            problems.append(f"{t['nodeid']}: LAVA says {case.get('result')}, results.json "
                            f"{t['outcome']}")
    problems += [f"LAVA test case {n!r} is not in results.json" for n in main]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LavaResultsError(f"the attached results.json and the LAVA test cases disagree: "
                               f"{problems[0]}{more}")


def from_cases(cases: list[dict], source: str) -> dict:
    """A results document from test cases alone (a results export)."""
    refs = {c["case"]: names.parse_reference(c.get("reference") or "")
            for c in cases if c.get("set") == names.CLAUSE_SET}
    tests = []
    for name, c in _main_cases(cases).items():
        if name in ("install-suite", "conformance-run"):
            continue
        outcome, clauses = refs.get(name) or (names.OUTCOME.get(c.get("result"), "error"), [])
        try:
            duration = float(c.get("measurement") or 0.0)
        except (TypeError, ValueError):
            duration = 0.0
        tests.append({"nodeid": f"lava/{names.DEFINITION}::{name}", "clauses": clauses,
                      "basis": {}, "outcome": outcome, "duration": duration,
                      "reason": None, "message": None, "transcript": [],
                      "known_failure": None, "kernel_log": []})
    if not tests:
        raise LavaResultsError(f"{source}: no {names.DEFINITION} test cases")
    return {"schema": SCHEMA,
            "run": {"id": None, "start": None, "duration": None, "suite": None,
                    "target": "lava", "command": None, "known_failures": []},
            "kernel": {"os": "linux", "release": None, "version": None, "machine": None,
                       "config_hash": None, "cmdline": None},
            "tests": tests}


def convert(path) -> tuple[dict, dict[str, bytes]]:
    """(results document, attachments) from a LAVA job log or results export."""
    path = find_input(Path(path))
    kind, records = load(path)
    job = None
    if kind == "log":
        cases, job = cases_from_log(records)
        attached = attachments(console_lines(records))
    else:
        cases, attached = cases_from_export(records), {}
    info = {"source": str(path), "input": kind, "test_cases": len(_main_cases(cases)),
            "attachments": sorted(attached), "job_result": (job or {}).get("result")}
    if "results.json" in attached:
        try:
            results = json.loads(attached["results.json"])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LavaResultsError(f"attached results.json: not JSON ({exc})") from None
        problem = results_validate.shape_problem(results)
        if problem:
            raise LavaResultsError(f"attached results.json: {problem}")
        check_against(results, cases)
        info["guest_target"] = results["run"].get("target")
        results["run"]["target"] = "lava"
        info["complete"] = True
    else:
        if kind == "log" and job and job.get("result") == "fail" and not cases:
            raise LavaResultsError(f"{path}: the job failed before the suite reported "
                                   f"anything ({job.get('error_msg') or 'no error message'})")
        results = from_cases(cases, str(path))
        info["complete"] = False
    results["lava"] = info
    return results, attached
