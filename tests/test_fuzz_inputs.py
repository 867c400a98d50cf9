"""Fuzz the entry points a user feeds: `conformance run` options, environment knobs and pytest
options after --; results files given to compare and report; known-failures files; clause
catalogs. Whatever comes in, the answer is a clean verdict or exit 2 with one line on stderr,
never a traceback, and nothing is written outside the results (or reports) directory.

Everything runs in this process through cli.main; the run is stubbed at its seam
(conformance.commands.run.run), so no example boots a VM or starts pytest."""
import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import catalog, cli, validate
from conformance.commands import run as run_cmd
from conformance.results import known_failures

GOLDEN = Path(__file__).parent / "golden" / "results-mixed.json"
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# Values a person types by mistake, and values that are almost right.
TYPED = st.sampled_from(["", " ", "0", "-1", "1", "2", "64", "65", "256", "1e9", "1e309", "nan",
                         "inf", "-inf", "0x10", "2G", "2g", "1.5G", "255M", "256M", "2GiB", "1T",
                         "2TB", "lots", "none", "host", "../x", "/", "a b", "'", "\"", "\\",
                         "1_000", "٣", "\t", "\n", "x" * 300, "/etc/hostname", "/dev/null"])
VALUE = st.one_of(TYPED, st.text(max_size=20), st.integers().map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(str))
# what an environment variable can hold: no NUL, no lone surrogate
NO_NUL = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                 max_size=20)
RUN_OPTIONS = ["--os", "--results", "--kernel", "--accel", "--cpus", "--memory", "--vm-deadline",
               "--append", "--jobs", "--vagrant"]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def clean_exit(code: int, capsys, allowed=(0, 2)) -> None:
    """A verdict (0/1) or exit 2 with exactly one line on stderr, and no traceback."""
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in allowed, (code, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("conformance"), err


@pytest.fixture
def stub_run(monkeypatch, tmp_path):
    """cli.main in tmp_path with the run stubbed: returns the namespaces that reached it."""
    reached = []
    monkeypatch.setattr(run_cmd, "run", lambda ns, pytest_args, argv: reached.append(ns) or 0)
    monkeypatch.chdir(tmp_path)
    for name in validate.KNOBS:
        monkeypatch.delenv(name, raising=False)
    return reached


def check_reached(ns) -> None:
    """What passed validation is what the run can use."""
    assert 1 <= ns.cpus <= validate.MAX_CPUS and 0 <= ns.jobs <= validate.MAX_JOBS
    assert validate.MIN_VM_MEMORY <= validate.size_bytes(ns.memory) <= validate.MAX_VM_MEMORY
    assert 0 < ns.vm_deadline <= validate.MAX_DEADLINE
    assert all(validate.MACHINE.fullmatch(m) for m in ns.vagrant)


@FUZZ
@given(options=st.lists(st.tuples(st.sampled_from(RUN_OPTIONS), VALUE, st.booleans()),
                        max_size=4))
def test_run_options(stub_run, capsys, tmp_path, options):
    argv = ["run"]
    for name, value, joined in options:
        argv += [f"{name}={value}"] if joined else [name, value]
    before = tree(tmp_path)
    code = cli.main(argv)
    clean_exit(code, capsys)
    if code == 0:
        check_reached(stub_run[-1])
    assert tree(tmp_path) == before  # validation writes nothing, anywhere


@FUZZ
@given(knobs=st.dictionaries(st.sampled_from(sorted(validate.KNOBS)), NO_NUL | TYPED.filter(
    lambda v: "\x00" not in v), max_size=3))
def test_environment_knobs(stub_run, capsys, tmp_path, knobs):
    with pytest.MonkeyPatch.context() as mp:
        for name, value in knobs.items():
            mp.setenv(name, value)
        code = cli.main(["run"])
    clean_exit(code, capsys)
    if validate.environment_problem(knobs):  # else a known-failures file may still be bad
        assert code == 2


@FUZZ
@given(args=st.lists(st.one_of(st.sampled_from(["--sendfile2-nr", "-q", "-k", "x", "--"]),
                               st.builds(lambda v: f"--sendfile2-nr={v}", VALUE), VALUE),
                     max_size=4))
def test_pytest_options_the_plugin_owns(stub_run, capsys, args):
    code = cli.main(["run", "--", *args])
    clean_exit(code, capsys)
    if code == 0 and "--sendfile2-nr" in args:
        value = args[args.index("--sendfile2-nr") + 1]
        assert value.strip().isdigit() and 0 < int(value) < 4096


# --- results files -------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@st.composite
def mutated_results(draw) -> str:
    """The golden results.json with a few values replaced or removed, or its text cut/flipped."""
    doc = copy.deepcopy(json.loads(GOLDEN.read_text()))
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(node[key], (dict, list)) and draw(st.booleans()):
                node = node[key]
                continue
            if draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(JSON)
            break
    text = json.dumps(doc, indent=1)
    cut = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if cut == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    elif cut == "flip":
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(["\x00", "{", "]", "\"", "\udcff", "9"])) + text[i + 1:]
    return text


@FUZZ
@given(text=mutated_results(), command=st.sampled_from(["compare", "report", "report-base"]))
def test_results_files(tmp_path, capsys, text, command):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = work / "results.json"
    path.write_bytes(text.encode(errors="surrogateescape"))
    out = tmp_path / "reports"

    def outside() -> set[str]:
        return {p for p in tree(tmp_path) if not p.startswith("reports")}

    before = outside()
    argv = {"compare": ["compare", str(GOLDEN), str(path)],
            "report": ["report", str(path), "--out", str(out)],
            "report-base": ["report", str(path), "--baseline", str(GOLDEN), "--out", str(out)],
            }[command]
    clean_exit(cli.main(argv), capsys, allowed=(0, 1, 2))
    assert outside() == before  # reports go into --out only


# --- known failures and catalogs -----------------------------------------------------------------

TOML_VALUE = st.one_of(st.text(max_size=12).map(json.dumps), st.integers().map(str),
                       st.sampled_from(["true", "[]", "[1]", "{}", '"*"', '">=6.1, <6.8"',
                                        '"<=x"', '"(unclosed"', '"linux"']))
KF_KEYS = ["test", "clause", "kernel", "os", "reason", "link", "observed", "extra"]


@st.composite
def known_failures_doc(draw) -> str:
    """Entries with random keys and values, sometimes cut short or with a stray line."""
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        lines.append(draw(st.sampled_from(["[[failure]]", "[[failure]]", "[failure]", "[x]"])))
        for key in draw(st.lists(st.sampled_from(KF_KEYS), max_size=6, unique=True)):
            lines.append(f"{key} = {draw(TOML_VALUE)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text[:draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(text=known_failures_doc(), release=st.text(max_size=10))
def test_known_failures_documents(stub_run, capsys, tmp_path, text, release):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    try:
        entries = known_failures.parse(text, str(path))
    except known_failures.KnownFailuresError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        for e in entries:
            e.applies_to(release, "linux")
            e.matches("conformance/linux/test_x.py::test_y", ["LNX-X"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(known_failures.ENV_VAR, str(path))
        clean_exit(cli.main(["run"]), capsys)


CATALOG = min((catalog.SPEC_DIR / "linux").glob("*.toml")).read_text()


@FUZZ
@given(data=st.data())
def test_catalogs(data):
    lines = CATALOG.splitlines()[:60]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        key = lines[i].split("=", 1)[0].strip() if "=" in lines[i] else "id"
        lines[i] = data.draw(st.sampled_from([
            "", "[[clause]]", "[clause]", f"{key} = {data.draw(TOML_VALUE)}", lines[i] * 2]))
    try:
        clauses = catalog.parse("\n".join(lines), "linux", "cat.toml")
    except catalog.CatalogError as exc:
        assert str(exc).startswith("cat.toml")
    else:
        assert all(isinstance(c.id, str) and isinstance(c.statement, str)
                   for c in clauses.values())


def test_fuzzers_find_what_they_look_for(stub_run, capsys):
    """The fuzzers can fail: a traceback or a second line is caught by clean_exit."""
    with pytest.raises(AssertionError):
        clean_exit(1 // 1 + 1, _Capsys("", "conformance: one\nconformance: two\n"))
    with pytest.raises(AssertionError):
        clean_exit(0, _Capsys("", "Traceback (most recent call last):\n"))
    with pytest.raises(AssertionError):
        clean_exit(3, _Capsys("", ""))


class _Capsys:
    def __init__(self, out: str, err: str) -> None:
        self.captured = (out, err)

    def readouterr(self):
        return self.captured

