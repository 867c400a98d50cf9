"""One static HTML page of several runs: kernels as columns, clauses grouped by feature as rows.

A cell is the verdict of the tests that cite the clause on that run, worst first: error (a
harness or kernel error, no verdict), fail (a test failed: the kernel disagrees with the clause),
stale (a strict known failure did not happen), known (a known failure happened as recorded),
pass, skip (every test skipped), and an empty cell when no test of the clause ran there. The
title attribute (hover) gives the counts and each non-passing test with its reason; a failing
cell links to the run's markdown report of that test (`conformance report RUN` writes them to
RUN/reports/), by a path relative to the page. Runs of one kernel release are adjacent columns,
oldest first: a trend. Inline CSS, no script, nothing fetched: the page opens anywhere.
"""
from __future__ import annotations

import html
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from conformance.results import compare as cmp

# worst first; (css class, label, background colour, text colour)
VERDICTS = {
    "error": ("#f0a030", "#000"), "fail": ("#d93636", "#fff"), "stale": ("#8e44ad", "#fff"),
    "known": ("#f4d35e", "#000"), "pass": ("#2e9e4f", "#fff"), "skip": ("#c9ccd1", "#000"),
    "none": ("#ffffff", "#999"),
}
LABEL = {"error": "error", "fail": "FAIL", "stale": "XPASS", "known": "xfail", "pass": "pass",
         "skip": "skip", "none": ""}
REASONS_SHOWN = 6


@dataclass
class Run:
    results: dict
    run_dir: Path

    @property
    def release(self) -> str:
        k = self.results["kernel"]
        return f"{k.get('os') or '?'} {k.get('release') or '?'}"

    @property
    def start(self) -> str:
        return self.results["run"].get("start") or self.results["run"].get("id") or ""


def test_verdict(test: dict) -> str:
    outcome = test["outcome"]
    if outcome == "error":
        return "error"
    if outcome == "xpassed" or cmp.is_xpass_strict(test):
        return "stale"
    return {"failed": "fail", "xfailed": "known", "passed": "pass", "skipped": "skip"}[outcome]


def cell_verdict(tests: list[dict]) -> str:
    """The worst verdict among the tests of one clause on one run ('none' without tests)."""
    found = {test_verdict(t) for t in tests}
    return next((v for v in VERDICTS if v in found), "none")


def _version_key(text: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", text)]


def order_runs(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped by kernel release (by version), each group oldest first."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[r.release].append(r)
    return [sorted(groups[k], key=lambda r: r.start)
            for k in sorted(groups, key=_version_key)]


def report_links(run: Run) -> dict[str, Path]:
    """nodeid -> the report `conformance report` wrote for it in RUN/reports/."""
    links = {}
    for md in sorted((run.run_dir / "reports").glob("*.md")):
        m = re.search(r"^- \*\*Test:\*\* `([^`]+)`", md.read_text(errors="replace"), re.MULTILINE)
        if m:
            links.setdefault(m.group(1), md)
    return links


def _rel(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()


def _hover(tests: list[dict], verdict: str) -> str:
    counts = defaultdict(int)
    for t in tests:
        counts[t["outcome"]] += 1
    lines = [", ".join(f"{n} {o}" for o, n in counts.items())]
    odd = [t for t in tests if t["outcome"] != "passed"]
    for t in odd[:REASONS_SHOWN]:
        lines.append(f"{t['nodeid'].rpartition('::')[2]}: {t['outcome']}: {cmp.summary(t)}")
    if len(odd) > REASONS_SHOWN:
        lines.append(f"... and {len(odd) - REASONS_SHOWN} more")
    return "\n".join(lines)


def _cell(run: Run, tests: list[dict], links: dict[str, Path], page_dir: Path) -> str:
    v = cell_verdict(tests)
    if v == "none":
        return '<td class="v-none" title="no test of this clause ran"></td>'
    title = html.escape(_hover(tests, v), quote=True)
    text = LABEL[v]
    worst = [t for t in tests if test_verdict(t) == v]
    link = next((links[t["nodeid"]] for t in worst if t["nodeid"] in links), None)
    if link is not None:
        text = f'<a href="{html.escape(_rel(link, page_dir), quote=True)}">{text}</a>'
    return f'<td class="v-{v}" title="{title}">{text}</td>'


CSS = """
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 4px}p.meta{margin:0 0 10px;color:#555}
table{border-collapse:collapse}th,td{border:1px solid #d8dbe0;padding:2px 6px}
thead th{position:sticky;background:#f6f7f9;z-index:1;font-weight:600;white-space:nowrap}
thead tr:first-child th{top:0}thead tr:nth-child(2) th{top:24px;font-weight:400;font-size:11px}
th.clause{text-align:left;font-weight:400;white-space:nowrap;font-family:ui-monospace,monospace}
th.untestable{color:#8a8f98;font-style:italic}
tr.feature th{text-align:left;background:#e9ecf1;font-size:13px}
td{text-align:center;min-width:42px;font-size:11px}td a{color:inherit}
tr.totals td{font-weight:600;background:#fafafa;color:#222}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border:1px solid #d8dbe0}
""" + "".join(f".v-{k}{{background:{bg};color:{fg}}}" for k, (bg, fg) in VERDICTS.items())


def _head(groups: list[list[Run]]) -> list[str]:
    top = ['<tr><th rowspan="2">clause</th>']
    sub = ["<tr>"]
    for g in groups:
        top.append(f'<th colspan="{len(g)}">{html.escape(g[0].release)}</th>')
        for r in g:
            run = r.results["run"]
            env = r.results.get("environment") or {}
            when = (run.get("start") or "")[:16].replace("T", " ")
            target = (run.get("target") or "host").split(":")[0]
            tip = html.escape(f"run {run.get('id')}\n{run.get('command') or ''}", quote=True)
            accel = env.get("accel") if env.get("accel") not in (None, "none") else ""
            sub.append(f'<th title="{tip}">{html.escape(when)}<br>{html.escape(target)} '
                       f"{html.escape(accel)}</th>")
    return ["<thead>", "".join(top) + "</tr>", "".join(sub) + "</tr>", "</thead>"]


def page(runs: list[Run], clauses: dict, page_dir: Path, title: str,
         changed_only: bool = False) -> str:
    """The page; changed_only keeps the clauses whose verdict is not the same on every run."""
    groups = order_runs(runs)
    flat = [r for g in groups for r in g]
    by_run = []
    for r in flat:
        per: dict[str, list[dict]] = defaultdict(list)
        for t in r.results["tests"]:
            for cid in t.get("clauses") or []:
                per[cid].append(t)
        by_run.append(per)
    links = [report_links(r) for r in flat]
    oses = {r.results["kernel"].get("os") for r in flat}
    features: dict[tuple[str, str], list] = defaultdict(list)
    for c in sorted(clauses.values(), key=lambda c: (c.os, c.feature, c.id)):
        if c.os in oses:
            features[(c.os, c.feature)].append(c)
    body = ["<tbody>"]
    trouble = [[t for t in r.results["tests"] if not t["nodeid"].startswith("conformance/")]
               for r in flat]
    if any(trouble):
        body.append('<tr><th class="clause" title="the target\'s own entries: boot, hang, '
                    'panic, taint">kernel health</th>' + "".join(
                        _cell(r, ts, ln, page_dir) if ts else '<td class="v-pass">ok</td>'
                        for r, ts, ln in zip(flat, trouble, links)) + "</tr>")
    shown = 0
    for (os_name, feature), cs in features.items():
        if changed_only:
            cs = [c for c in cs if len({cell_verdict(per.get(c.id, [])) for per in by_run}) > 1]
        if not cs:
            continue
        shown += len(cs)
        body.append(f'<tr class="feature"><th colspan="{len(flat) + 1}">{html.escape(os_name)}'
                    f" / {html.escape(feature)} ({len(cs)} clauses)</th></tr>")
        for c in cs:
            tip = " ".join(c.statement.split()) + f"\nsource: {c.source}" + (
                f"\nuntestable: {c.untestable}" if c.untestable else "")
            kind = "clause untestable" if c.untestable else "clause"
            body.append(f'<tr><th class="{kind}" title="{html.escape(tip, quote=True)}">'
                        f"{html.escape(c.id)}</th>" + "".join(
                            _cell(r, per.get(c.id, []), ln, page_dir)
                            for r, per, ln in zip(flat, by_run, links)) + "</tr>")
    body.append('<tr class="totals"><th class="clause">tests: pass / fail / error</th>' + "".join(
        f"<td>{_counts(r)}</td>" for r in flat) + "</tr>")
    body.append("</tbody>")
    legend = "".join(f'<span class="v-{k}">{LABEL[k] or "no test"}</span>' for k in VERDICTS)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        (f'<p class="meta">{len(flat)} runs of {len(groups)} kernels, {shown} clauses'
         f"{' whose verdict differs between runs' if changed_only else ''}; hover a cell for "
         "the tests and reasons, click a linked cell for the bug report; a clause in grey "
         "italics has no test by design (hover it for why).</p>"),
        f'<p class="legend">{legend}</p>', "<table>", *_head(groups), *body, "</table>",
        "</body></html>", ""])


def _counts(run: Run) -> str:
    vs = [test_verdict(t) for t in run.results["tests"]]
    return f"{vs.count('pass')} / {vs.count('fail') + vs.count('stale')} / {vs.count('error')}"
