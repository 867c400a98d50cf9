"""Run inside the LAVA guest by the test definition (lava/zerocopy-conformance.yaml) after
`conformance run`: report every test of RUN_DIR/results.json to LAVA and print the attachments.

    python -m conformance.lava.report RUN_DIR

- one `lava-test-case NAME --result R --measurement SECONDS --units seconds` per test;
- in test set "clauses", one `lava-test-reference NAME --result R --reference
  urn:zerocopy-conformance:OUTCOME:CLAUSE,...` per test (names.py has the mapping);
- results.json, junit.xml and kcidb.json on the console between marker lines, gzip + base64
  (the kernel's console log level is lowered while they print, so no kernel message splits
  a line), for `conformance lava-results` to take back out of the job log.
Exit 0 when everything was reported, 2 when RUN_DIR holds no readable results (then one
`conformance-results` test case with result fail says so).
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conformance.lava import names
from conformance.results import model

LINE = 76
PRINTK = Path("/proc/sys/kernel/printk")
TOOL_DEADLINE = 60.0  # seconds for one lava-test-* call (a shell script writing two files)


def unique_names(tests: list[dict]) -> list[str]:
    """case_name per test; names two node ids share get the digest form (still unique)."""
    plain = [names.case_name(t["nodeid"]) for t in tests]
    seen = Counter(plain)
    out = []
    for t, name in zip(tests, plain):
        if seen[name] > 1:
            digest = hashlib.sha256(t["nodeid"].encode()).hexdigest()[:16]
            name = f"{name[:names.MAX_NAME - 17]}.{digest}"
        out.append(name)
    return out


def calls(results: dict) -> list[list[str]]:
    """The lava-test-* command lines that report results, in order."""
    tests = results["tests"]
    case_names = unique_names(tests)
    out = []
    for t, name in zip(tests, case_names):
        out.append(["lava-test-case", name, "--result", names.result(t),
                    "--measurement", f"{float(t.get('duration') or 0.0):.6f}", "--units",
                    "seconds"])
    out.append(["lava-test-set", "start", names.CLAUSE_SET])
    for t, name in zip(tests, case_names):
        out.append(["lava-test-reference", name, "--result", names.result(t), "--reference",
                    names.reference(t)])
    out.append(["lava-test-set", "stop"])
    return out


def attachment_lines(name: str, data: bytes) -> list[str]:
    packed = base64.b64encode(gzip.compress(data, mtime=0)).decode()
    body = [packed[i:i + LINE] for i in range(0, len(packed), LINE)]
    head = (f"{names.ATTACH_BEGIN} name={name} size={len(data)} "
            f"sha256={hashlib.sha256(data).hexdigest()} encoding=gzip+base64 lines={len(body)}")
    return [head, *body, f"{names.ATTACH_END} name={name}"]


def _run(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, timeout=TOOL_DEADLINE, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"conformance lava report: {cmd[0]}: {exc}", file=sys.stderr)
        return False


def print_attachments(run_dir: Path) -> None:
    saved = None
    try:
        saved = PRINTK.read_text()
        PRINTK.write_text("1")  # console messages off while the attachments print
    except OSError:
        saved = None
    try:
        for name in names.ATTACHMENTS:
            path = run_dir / name
            if path.is_file():
                print("\n".join(attachment_lines(name, path.read_bytes())), flush=True)
    finally:
        if saved is not None:
            PRINTK.write_text(saved.split()[0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.lava.report",
                                description=__doc__.splitlines()[0])
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory conformance run wrote")
    p.add_argument("--no-attach", action="store_true", help="do not print the attachments")
    ns = p.parse_args(argv)
    run_dir = Path(ns.run_dir)
    try:
        results = model.load(run_dir)
    except model.ResultsError as exc:
        print(f"conformance lava report: {exc}", file=sys.stderr)
        _run(["lava-test-case", "conformance-results", "--result", "fail"])
        return 2
    failed = [c for c in calls(results) if not _run(c)]
    if not ns.no_attach:
        print_attachments(run_dir if run_dir.is_dir() else run_dir.parent)
    if failed:
        print(f"conformance lava report: {len(failed)} lava-test-* call(s) failed, the first: "
              f"{' '.join(failed[0])}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
