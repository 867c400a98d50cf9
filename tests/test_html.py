"""`conformance matrix`: the kernels x clauses page. The verdict of a cell is the worst of its
tests; runs of one release line up oldest first (a trend); every link is relative and leads to
the report of the failing test; the page is self-contained (no script, nothing fetched). Then the
page is rendered in headless Chromium (Debian's `chromium`; skipped with the reason when it is
not installed): no console message, a DOM with every cell, and a screenshot that is not blank.
The console check is shown to catch a page that logs an error."""
from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import catalog, cli
from conformance.results import compare, report
from conformance.results.html import cell_verdict

GOLDEN = Path(__file__).parent / "golden"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_DEADLINE = 120.0
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")


def _t(outcome: str, message: str | None = None) -> dict:
    return {"nodeid": "conformance/linux/t.py::x", "outcome": outcome, "message": message}


@pytest.mark.parametrize("outcomes,want", [
    pytest.param(["passed", "failed", "error"], "error", id="error-first"),
    pytest.param(["passed", "failed", "xfailed"], "fail", id="fail-over-known"),
    pytest.param(["passed", "xpassed"], "stale", id="xpassed"),
    pytest.param(["passed", "xfailed"], "known", id="known"),
    pytest.param(["passed", "skipped"], "pass", id="pass-over-skip"),
    pytest.param(["skipped", "skipped"], "skip", id="all-skipped"),
    pytest.param([], "none", id="no-test"),
])
def test_a_cell_shows_the_worst_verdict_of_its_tests(outcomes, want):
    assert cell_verdict([_t(o) for o in outcomes]) == want


def test_a_strict_xpass_is_stale_not_fail():
    assert cell_verdict([_t("failed", "[XPASS(strict)] known failure x")]) == "stale"


def make_runs(tmp_path: Path) -> list[Path]:
    """Two nights of the base kernel and one of the mixed one (with its reports)."""
    dirs = []
    base = json.loads((GOLDEN / "results-base.json").read_text())
    for n, (name, data) in enumerate([("base-night2", base), ("mixed", None),
                                      ("base-night1", base)]):
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        data = copy.deepcopy(data) if data else json.loads(
            (GOLDEN / "results-mixed.json").read_text())
        data["run"]["start"] = f"2026-01-0{3 - n}T00:00:00+00:00"
        data["run"]["id"] = name
        (d / "results.json").write_text(json.dumps(data))
        dirs.append(d)
    mixed = compare.read(dirs[1])
    report.write_all(mixed, dirs[1] / "reports", catalog.load_all())
    return dirs


def make_page(tmp_path: Path, *extra: str) -> Path:
    dirs = make_runs(tmp_path)
    out = tmp_path / "site" / "matrix.html"
    out.parent.mkdir()
    assert cli.main(["matrix", *map(str, dirs), "--out", str(out), *extra]) == 0
    return out


class Cells(HTMLParser):
    """The page's structure: tags opened and closed, cells, links and what they point to."""
    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self):
        super().__init__()
        self.stack, self.cells, self.links, self.heads, self.bad = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "td":
            self.cells.append(a)
        if tag == "a":
            self.links.append(a["href"])
        if tag in ("script", "iframe", "object", "embed") or "src" in a:
            self.bad.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.bad.append(f"/{tag}")

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "th" and re.match(r"\d{4}-\d\d-\d\d", data):
            self.heads.append(data)


def test_page_is_well_formed_self_contained_and_links_to_the_reports(tmp_path):
    page = make_page(tmp_path)
    parsed = Cells()
    parsed.feed(page.read_text())
    assert not parsed.bad and not parsed.stack
    assert parsed.links, "a failing cell links to its report"
    for href in parsed.links:
        assert not re.match(r"[a-z]+:", href), f"{href}: not a relative link"
        assert (page.parent / href).is_file(), f"{href}: no such report"
        assert "/reports/" in href
    classes = {c.get("class") for c in parsed.cells}
    assert {"v-fail", "v-error", "v-known", "v-stale", "v-pass", "v-skip", "v-none"} <= classes


def test_runs_of_one_release_line_up_oldest_first(tmp_path):
    text = make_page(tmp_path).read_text()
    parsed = Cells()
    parsed.feed(text)
    # 6.12.9 (two nights, given newest first) before 6.18.44, each night a column of its own
    assert parsed.heads == ["2026-01-01 00:00", "2026-01-03 00:00", "2026-01-02 00:00"]
    groups = re.findall(r'<th colspan="(\d+)">(linux [^<]+)</th>', text.split("</thead>")[0])
    assert groups == [("2", "linux 6.12.9-test"), ("1", "linux 6.18.44-test")]


def test_hover_gives_the_reason_of_each_failing_test(tmp_path):
    text = make_page(tmp_path).read_text()
    m = re.search(r'<td class="v-fail" title="([^"]*)"', text)
    assert m and "failed" in m.group(1)
    assert "expected EINVAL" in text or "AssertionError" in text


def test_changed_keeps_only_the_clauses_that_differ(tmp_path):
    full = make_page(tmp_path).read_text()
    changed = make_page(tmp_path / "c", "--changed").read_text()
    rows = re.compile(r'<tr><th class="clause"')
    assert 0 < len(rows.findall(changed)) < len(rows.findall(full))
    assert "LNX-SF-EBADF-IN-INVALID" in changed  # passed on base, failed on mixed


def test_a_bad_results_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text("{")
    assert cli.main(["matrix", str(bad), "--out", str(tmp_path / "m.html")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --- in a real browser -----------------------------------------------------------------------

def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}", *args,
         page.resolve().as_uri()],
        check=False, capture_output=True, text=True, timeout=CHROMIUM_DEADLINE, stdin=subprocess.DEVNULL)


def console_messages(stderr: str) -> list[str]:
    """What the page logged (Chromium logs each console message as ':CONSOLE')."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB/RGBA PNG (standard library only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype = head[:4]
    assert depth == 8 and ctype in (2, 6), f"PNG depth {depth} colour type {ctype}"
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)]


@needs_chromium
def test_console_check_catches_a_page_that_logs_an_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefined_fn()</script>")
    run = chromium(tmp_path, page, "--dump-dom")
    assert any("undefined_fn" in m for m in console_messages(run.stderr)), run.stderr[-2000:]


@needs_chromium
def test_page_renders_in_chromium_without_console_messages_and_not_blank(tmp_path):
    page = make_page(tmp_path)
    dom = chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0 and not console_messages(dom.stderr), dom.stderr[-2000:]
    parsed = Cells()
    parsed.feed(dom.stdout)
    assert len(parsed.cells) == page.read_text().count("<td")
    shot = tmp_path / "shot.png"
    run = chromium(tmp_path, page, "--window-size=1000,700", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 700)
    colours = set(pixels)
    white = sum(1 for p in pixels if p == b"\xff\xff\xff")
    assert len(colours) > 20 and white < 0.9 * len(pixels), (len(colours), white)
    for verdict_rgb in (b"\xd9\x36\x36", b"\x2e\x9e\x4f"):  # FAIL red and pass green are drawn
        assert verdict_rgb in colours
