"""Turn a finished LAVA job back into a run directory (results.json, junit.xml, ktap.txt,
kcidb.json) that compare, report and KCIDB submission read like any other run. INPUT is the
job log (lava-run's output, lava-server's output.yaml or /api/v0.2/jobs/ID/logs/; a directory
holding output.yaml) or a results export (/results/ID/yaml, /api/v0.2/jobs/ID/tests/). From
the log, the results.json the guest attached is used verbatim and every LAVA test case is
checked against it; from an export, the tests are rebuilt from the test cases (outcome and
clause IDs exact, node ids from the case names). Exit 0 when the run was written, 1 when it
holds failures, errors or unexpected passes, 2 on input that cannot be read."""
from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from pathlib import Path

from conformance import validate
from conformance.cli import EXIT_FAIL, EXIT_OK, UsageError
from conformance.results import model
from conformance.results.recorder import write_outputs

HELP = "turn a finished LAVA job's log or results export into a results.json run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT", help="LAVA job log or results export (YAML/JSON), "
                   "or a directory holding output.yaml")
    p.add_argument("--results", metavar="DIR", default="results", type=validate.path_text,
                   help="the run goes to DIR/<run-id>/ (default: results)")


def main(ns: argparse.Namespace, pytest_args: list[str], argv: list[str]) -> int:
    from conformance.lava import results as lava_results
    if not Path(ns.input).exists():
        raise UsageError(f"conformance lava-results: {validate.shown(ns.input)}: no such file "
                         "or directory")
    try:
        import yaml  # noqa: F401
    except ImportError:
        raise UsageError("conformance lava-results: needs PyYAML (pip install "
                         "'zerocopy-conformance[lava]')") from None
    try:
        results, attached = lava_results.convert(ns.input)
    except lava_results.LavaResultsError as exc:
        raise UsageError(f"conformance lava-results: {exc}") from None
    run_id = results["run"].get("id") or (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                                          + f"-lava-{secrets.token_hex(3)}")
    results["run"]["id"] = run_id
    out = Path(ns.results) / run_id
    try:
        out.mkdir(parents=True, exist_ok=False)
        write_outputs(out, results)
        if attached:
            (out / "lava-attachments").mkdir()
            for name, data in attached.items():
                (out / "lava-attachments" / name).write_bytes(data)
    except FileExistsError:
        raise UsageError(f"conformance lava-results: {out} exists already (this job was "
                         "read before?)") from None
    except OSError as exc:
        raise UsageError(f"conformance lava-results: cannot write {out}: "
                         f"{exc.strerror or exc}") from None
    c = model.counts(results)
    lava = results["lava"]
    how = ("the attached results.json, checked against every test case" if lava["complete"]
           else "LAVA test cases only (no results.json attached): node ids are LAVA case names")
    print(f"conformance lava-results: {len(results['tests'])} tests ({c['passed']} passed, "
          f"{c['failed']} failed, {c['skipped']} skipped, {c['xfailed']} xfailed, "
          f"{c['xpassed']} xpassed, {c['error']} errors) from {how}; results: {out}/")
    return EXIT_FAIL if c["failed"] or c["error"] or c["xpassed"] else EXIT_OK
