"""Reading a results.json someone hands `compare` or `report`: every way it can be wrong is one
ResultsError line naming the file and what is wrong there (not JSON, truncated, not UTF-8, valid
JSON of another shape, another schema, a newer suite's schema, a field of the wrong type), so a
command never meets a file it cannot read halfway through.

Only what the readers index is checked; other keys are allowed (a newer suite of the same
schema may add some).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.results import OUTCOMES, SCHEMA
from conformance.validate import shown

_SCHEMA = re.compile(r"conformance-results/(\d+)")
MAX_BYTES = 512 * 2**20  # a results file of 512 MiB is not one this suite wrote
STR, OPT_STR, NUM = (str,), (str, type(None)), (int, float)
OPT_NUM, OPT_BOOL, OPT_DICT = (int, float, type(None)), (bool, type(None)), (dict, type(None))
OPT_LIST = (list, type(None))
# key -> accepted types, for the objects the readers look into (absent keys are allowed)
RUN = {"id": OPT_STR, "start": OPT_STR, "duration": OPT_NUM, "suite": OPT_DICT,
       "target": OPT_STR, "command": OPT_STR, "known_failures": OPT_LIST, "interrupted": OPT_STR}
SUITE = {"version": OPT_STR, "commit": OPT_STR, "dirty": OPT_BOOL}
KERNEL = {"os": OPT_STR, "release": OPT_STR, "version": OPT_STR, "machine": OPT_STR,
          "config_hash": OPT_STR, "cmdline": OPT_STR, "config_options": OPT_DICT}
ENVIRONMENT = {"accel": OPT_STR, "privileged": (bool, str, type(None)), "python": OPT_STR,
               "executable": OPT_STR, "xdist_workers": OPT_NUM}
TEST = {"clauses": OPT_LIST, "basis": OPT_DICT, "duration": OPT_NUM, "reason": OPT_STR,
        "message": OPT_STR, "transcript": OPT_LIST, "known_failure": OPT_DICT}
TRANSCRIPT = {"call": STR, "args": OPT_DICT, "errno": (int, type(None)), "errno_name": OPT_STR}
KNOWN_FAILURE = {"where": OPT_STR, "test": OPT_STR, "clause": OPT_STR, "kernel": OPT_STR,
                 "os": OPT_STR, "reason": OPT_STR, "link": OPT_STR}
VM = {"image": OPT_STR, "accel": OPT_STR, "cpus": OPT_NUM, "memory": OPT_STR,
      "boot_seconds": OPT_NUM, "wall_seconds": OPT_NUM, "console": OPT_STR}


class _Bad(Exception):
    pass


def read(path, error=ValueError) -> dict:
    """The results in path (results.json, or the results.json in a run directory), checked;
    any problem raises error(one line)."""
    path = Path(path)
    if path.is_dir():  # False for a path no file system can hold (a NUL in it)
        path = path / "results.json"
    where = shown(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise error(f"{where}: {path.stat().st_size} bytes is not a results file "
                        f"(at most {MAX_BYTES} expected)")
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise error(f"cannot read results from {where}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read results from {where}: not UTF-8 text (byte {exc.start}); "
                    "not a results.json") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = "truncated? " if exc.pos >= len(text.rstrip()) or _unclosed(text) else ""
        raise error(f"cannot read results from {where}: not valid JSON ({cut}{exc.msg} at line "
                    f"{exc.lineno} column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; huge integers
        raise error(f"cannot read results from {where}: not a results.json "
                    f"({type(exc).__name__})") from None
    problem = shape_problem(data)
    if problem:
        raise error(f"{where}: {problem}")
    return data


def _unclosed(text: str) -> bool:
    """Whether text ends inside a string or with brackets open: a file cut short."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), in_string and (escaped or ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return in_string or depth > 0


def schema_problem(data: dict) -> str | None:
    schema = data.get("schema")
    if schema == SCHEMA:
        return None
    m = _SCHEMA.fullmatch(schema) if isinstance(schema, str) else None
    ours = int(_SCHEMA.fullmatch(SCHEMA).group(1))
    if m and int(m.group(1)) > ours:
        return (f"schema {schema!r} is from a newer suite; this one reads {SCHEMA!r}: "
                "upgrade the suite to read it")
    if m:
        return f"schema {schema!r} is from an older suite; this one reads {SCHEMA!r} only"
    if schema is None:
        return "not a conformance results file (no 'schema' key)"
    return f"schema {schema!r}, expected {SCHEMA!r}: not a conformance results file"


def shape_problem(data) -> str | None:
    """What is wrong with a parsed results document, in one line, or None."""
    if not isinstance(data, dict):
        return f"not a conformance results file (a JSON object expected, not {_kind(data)})"
    problem = schema_problem(data)
    if problem:
        return problem
    for key, want in (("run", dict), ("kernel", dict), ("tests", list)):
        if not isinstance(data.get(key), want):
            return f"malformed results: {key!r} missing or not a {want.__name__}"
    for n, t in enumerate(data["tests"]):
        if not isinstance(t, dict) or not isinstance(t.get("nodeid"), str) or not t["nodeid"] \
                or t.get("outcome") not in OUTCOMES:
            return (f"malformed results: tests[{n}] needs a nodeid and an outcome in "
                    f"{', '.join(OUTCOMES)}")
    try:
        _fields(data["run"], RUN, "run")
        _fields(data["run"].get("suite") or {}, SUITE, "run.suite")
        _strings(data["run"].get("known_failures") or [], "run.known_failures")
        _fields(data["kernel"], KERNEL, "kernel")
        if "environment" in data:
            _fields(data["environment"], ENVIRONMENT, "environment", OPT_DICT)
        if "vm" in data:
            _fields(data["vm"], VM, "vm", OPT_DICT)
        for n, t in enumerate(data["tests"]):
            where = f"tests[{n}]"
            _fields(t, TEST, where)
            _strings(t.get("clauses") or [], f"{where}.clauses")
            for cid, basis in (t.get("basis") or {}).items():
                _is(basis, OPT_STR, f"{where}.basis[{cid!r}]")
            for i, call in enumerate(t.get("transcript") or []):
                _fields(call, TRANSCRIPT, f"{where}.transcript[{i}]")
            _fields(t.get("known_failure") or {}, KNOWN_FAILURE, f"{where}.known_failure")
    except _Bad as exc:
        return f"malformed results: {exc}"
    return None


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _is(value, types: tuple, where: str) -> None:
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)
                                        and int in types):
        want = " or ".join(dict.fromkeys(_kind(None if t is type(None) else t()) for t in types))
        raise _Bad(f"{where} is {_kind(value)}, expected {want}")


def _fields(obj, spec: dict, where: str, types: tuple = (dict,)) -> None:
    _is(obj, types, where)
    for key, want in spec.items():
        if obj and key in obj:
            _is(obj[key], want, f"{where}.{key}")


def _strings(values: list, where: str) -> None:
    for i, v in enumerate(values):
        _is(v, STR, f"{where}[{i}]")
