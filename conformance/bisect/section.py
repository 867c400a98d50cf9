"""What a bisect says: bisect.json (the record), bisect.md (the answer, then every step with its
results directory) and the "First bad" section that goes into the markdown regression reports.

The record: {"form": "images" | "git", "fixed", "terms": [old, new], "tests": [nodeid...],
"good", "bad", "candidates": [...] (images), "first", "maybe": [...], "problem", "show" (git:
`git show --stat`), "command", "steps": [{"candidate", "subject", "state", "reason", "tests",
"results", "seconds"}]}.
"""
from __future__ import annotations

import json
from pathlib import Path

from conformance.bisect.verdict import NEW, OLD


def state_name(record: dict, state: str) -> str:
    old, new = record["terms"]
    return {OLD: old, NEW: new}.get(state, state)


def heading(record: dict) -> str:
    return f"First {record['terms'][1]}"


def answer(record: dict) -> str:
    """One line: the first new image or commit, or why there is none."""
    what = "image" if record["form"] == "images" else "commit"
    new = record["terms"][1]
    if record.get("first"):
        subject = _subject(record, record["first"])
        return f"first {new} {what}: {record['first']}" + (f" ({subject})" if subject else "")
    if record.get("maybe"):
        return (f"no single answer: skipped steps hide the boundary; the first {new} {what} is "
                f"one of: {', '.join(record['maybe'])}")
    return f"no answer: {record.get('problem') or 'the bisect did not finish'}"


def _subject(record: dict, candidate: str) -> str:
    return next((s.get("subject") or "" for s in record["steps"]
                 if s["candidate"] == candidate), "")


def last_old(record: dict) -> str | None:
    """The last candidate seen in the old state just before the first new one (images: by
    position; git: the first new commit's parent, when it was tested)."""
    if record["form"] == "images" and record.get("first") in record.get("candidates", []):
        olds = {s["candidate"] for s in record["steps"] if s["state"] == OLD}
        before = record["candidates"][:record["candidates"].index(record["first"])]
        return next((c for c in reversed(before) if c in olds), None)
    return None


def steps_table(record: dict) -> list[str]:
    out = ["| # | candidate | verdict | why | results |", "|---|---|---|---|---|"]
    for n, s in enumerate(record["steps"], 1):
        cand = s["candidate"][:12] if record["form"] == "git" else s["candidate"]
        if s.get("subject"):
            cand += f" {s['subject']}"
        why = s["reason"].replace("|", "\\|").replace("\n", " ")
        out.append(f"| {n} | `{cand}` | {state_name(record, s['state'])} | {why} | "
                   f"{s.get('results') or '-'} |")
    return out


def first_bad_section(record: dict, level: int = 2) -> list[str]:
    """The markdown section added to a regression report (and the body of bisect.md)."""
    h = "#" * level
    out = [f"{h} {heading(record)}", "", f"- **Answer:** {answer(record)}"]
    prev = last_old(record)
    if prev:
        out.append(f"- **Last {record['terms'][0]}:** {prev}")
    out += [f"- **Range:** {record['terms'][0]} {record['good']}, {record['terms'][1]} "
            f"{record['bad']}" + (f", {len(record['candidates'])} images in order"
                                  if record["form"] == "images" else ""),
            "- **Tests bisected:** " + ", ".join(f"`{t}`" for t in record["tests"]),
            f"- **Command:** `{record['command']}`",
            "", "Every step (a skip is never a verdict: an error, a taint, no boot, no build):", "",
            *steps_table(record)]
    if record.get("show"):
        out += ["", "```", *record["show"].rstrip("\n").splitlines(), "```"]
    return out


def write(out_dir: Path, record: dict) -> tuple[Path, Path]:
    """bisect.json and bisect.md in out_dir."""
    js, md = out_dir / "bisect.json", out_dir / "bisect.md"
    js.write_text(json.dumps(record, indent=1) + "\n")
    md.write_text("\n".join([f"# conformance bisect: {answer(record)}", "",
                             *first_bad_section(record)]) + "\n")
    return js, md


def add_to_reports(report_dir: Path, record: dict) -> list[Path]:
    """Append the section to each report in report_dir whose test was bisected (its
    '- **Test:** `NODEID`' line); a report that has the section already is left alone."""
    changed = []
    for path in sorted(report_dir.glob("*.md")):
        text = path.read_text()
        if f"\n## {heading(record)}\n" in text:
            continue
        if any(f"- **Test:** `{t}`" in text for t in record["tests"]):
            path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(first_bad_section(record))
                            + "\n")
            changed.append(path)
    return changed
