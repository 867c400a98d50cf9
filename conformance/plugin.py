"""The conformance pytest plugin (loaded through the `pytest11` entry point).

- markers `clause(*ids)` and `requires(**what)`, with --strict-markers;
- every test under a conformance suite directory must cite known clause IDs, or collection fails;
- requirements are decided before the test body runs, with feature probes cached per session;
- a default per-test deadline (pytest-timeout, signal method) for suite tests;
- a per-test syscall transcript, shown with failures and kept in the results;
- results.json and junit.xml when --conformance-results is given.
"""
from __future__ import annotations

import json
import os
import pkgutil
from pathlib import Path

import pytest

import conformance.fixtures
from conformance import catalog, hypothesis_profiles, probes
from conformance.abi import transcript
from conformance.results import known_failures

# Every module of conformance.fixtures is a fixture plugin: a new module needs no edit here.
pytest_plugins = sorted(f"conformance.fixtures.{m.name}"
                        for m in pkgutil.iter_modules(conformance.fixtures.__path__))

# Seconds a suite test may run before pytest-timeout fails it (override with --timeout).
DEFAULT_TEST_DEADLINE = 120
SUITE_PACKAGE_DIR = Path(__file__).parent
_PROBE_CACHE = pytest.StashKey[dict]()
_RUN_TESTS = pytest.StashKey[list]()
_RECORDER = "conformance-results-recorder"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption("--conformance-results", metavar="DIR", default=None,
                    help="write results.json and junit.xml into DIR")
    group.addoption("--conformance-run-id", default=None, help="run id recorded in results.json")
    group.addoption("--conformance-target", default="host", help="target recorded in results.json")
    group.addoption("--conformance-accel", default="none", help="kvm | tcg | none, recorded")
    group.addoption("--conformance-command", default=None,
                    help="the command line recorded in results.json (set by `conformance run`)")
    group.addoption("--conformance-examples", default=None,
                    choices=sorted(hypothesis_profiles.SCALE),
                    help="property tests' example counts: quick (default), full (as written), "
                         f"nightly (also ${hypothesis_profiles.ENV}); recorded in results.json")
    group.addoption("--conformance-formats", choices=("all", "json"), default="all",
                    help="all: results.json, junit.xml, ktap.txt, kcidb.json (default); json: "
                         "results.json only (a VM guest's: the host renders the rest after "
                         "merging, natively rather than under TCG)")
    group.addoption("--conformance-clause-map", metavar="FILE", default=None,
                    help="write {nodeid: [clause ids]} and collection problems to FILE as JSON")
    parser.addini("conformance_suite_dirs", type="paths",
                  help="directories whose tests must cite clauses (default: the installed "
                       "conformance/linux and conformance/freebsd)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clause(*ids): the catalog clause IDs (conformance/spec/<os>/*.toml) a test checks")
    config.addinivalue_line(
        "markers", "requires(os=, root=, feature=, kernel=, because=): what a test needs; "
                   "a missing requirement skips it before the body runs, naming what is missing")
    config.addinivalue_line(
        "markers", "slow(reason): a test that takes seconds (reason says why); xdist workers run "
                   "it, and the property tests, first so it does not finish last; never deselected")
    config.stash[_PROBE_CACHE] = {}
    hypothesis_profiles.choose(config.getoption("conformance_examples", None))
    if config.getoption("conformance_results"):
        from conformance import kernel_health
        kernel_health.register(config)  # tests[].kernel_log: warnings/taint around each test
    if config.getoption("conformance_results") and not hasattr(config, "workerinput"):
        from conformance.results.journal import JOURNAL, Journal
        from conformance.results.recorder import Recorder
        recorder = Recorder(config)
        config.pluginmanager.register(recorder, _RECORDER)
        config.pluginmanager.register(Journal(recorder.out_dir / JOURNAL, recorder))


def _timeout_configured(config: pytest.Config) -> bool:
    """True when the user set a deadline (pytest-timeout's option, environment or ini)."""
    return (config.getoption("timeout", None) is not None or bool(os.environ.get("PYTEST_TIMEOUT"))
            or bool(config.getini("timeout")))


def suite_dirs(config: pytest.Config) -> list[Path]:
    dirs = config.getini("conformance_suite_dirs")
    return [Path(d) for d in dirs] if dirs else [SUITE_PACKAGE_DIR / "linux",
                                                 SUITE_PACKAGE_DIR / "freebsd"]


def _in_suite(item: pytest.Item, dirs: list[Path], seen: dict[Path, bool]) -> bool:
    """Whether item's file lies under one of dirs (resolved); seen memoises per file, since
    resolving paths for each of the 360 items cost seconds per guest worker under TCG."""
    if item.path not in seen:
        path = Path(item.path).resolve()
        seen[item.path] = any(path.is_relative_to(d) for d in dirs)
    return seen[item.path]


def clause_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("clause"):
        ids.extend(i for i in mark.args if i not in ids)
    return ids


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    known = catalog.load_all()
    dirs = [d.resolve() for d in suite_dirs(config)]
    seen: dict[Path, bool] = {}
    add_deadline = not _timeout_configured(config)
    problems: list[str] = []
    mapping: dict[str, list[str]] = {}
    for item in items:
        ids = clause_ids(item)
        in_suite = _in_suite(item, dirs, seen)
        if in_suite and not ids:
            problems.append(f"{item.nodeid}: conformance test cites no clause "
                            f"(add @pytest.mark.clause(...))")
        for unknown in (i for i in ids if i not in known):
            problems.append(f"{item.nodeid}: unknown clause ID {unknown!r} "
                            f"(not in conformance/spec/<os>/*.toml)")
        untestable = [i for i in ids if i in known and known[i].untestable]
        for cid in untestable:
            problems.append(f"{item.nodeid}: clause {cid} is marked untestable in the catalog "
                            f"but has a test; drop one of the two")
        if ids:
            mapping[item.nodeid] = ids
            item.user_properties.append(("clauses", ids))
            item.user_properties.append(
                ("basis", {i: known[i].basis for i in ids if i in known}))
        if in_suite and add_deadline and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_DEADLINE, method="signal"))
    map_file = config.getoption("conformance_clause_map")
    if map_file:
        Path(map_file).write_text(json.dumps({"tests": mapping, "problems": problems}, indent=1))
    if problems:
        raise pytest.UsageError("clause check failed:\n  " + "\n  ".join(problems))
    by_id = {item.nodeid: item for item in items}
    examples = hypothesis_profiles.test_examples(items)
    for nodeid, count in examples.items():
        by_id[nodeid].user_properties.append(("hypothesis_examples", count))
    known_failures.apply(items)  # conformance/data/known-failures.toml: strict xfails
    if hasattr(config, "workerinput"):  # an xdist worker: every worker collects the same order
        items[:] = longest_first(items, examples)


def longest_first(items: list[pytest.Item], examples: dict[str, int]) -> list[pytest.Item]:
    """items with the `slow` tests, then the property tests, first (each set in collection
    order). xdist hands tests out in collection order, so a 30 s test collected late (the
    MAX_RW_COUNT transfer under TCG) kept one worker busy after the other had finished."""
    def rank(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("slow") else 1 if item.nodeid in examples else 2
    return sorted(items, key=rank)  # stable


def pytest_collection_finish(session: pytest.Session) -> None:
    # What this run will execute (after -k/-m deselection): a Broken probe's dedicated test
    # must be among it for the tests that need the feature to skip rather than fail.
    session.config.stash[_RUN_TESTS] = [item.nodeid for item in session.items]


def _probe_answer(config: pytest.Config, name: str) -> str | None:
    """The cached answer of probe `name`: None or an absence reason (skip). A probe that raised
    raises again for every test needing it (ERROR); a Broken answer skips naming the test that
    fails for it, or fails at setup when that test is not part of the run."""
    cache = config.stash[_PROBE_CACHE]
    if name not in cache:
        try:
            cache[name] = probes.PROBES[name]()
        except Exception as exc:  # noqa: BLE001 (kept and re-raised for each dependent test)
            cache[name] = exc
    answer = cache[name]
    if isinstance(answer, BaseException):
        raise RuntimeError(  # noqa: TRY004 (a probe that raised: the tests needing it ERROR)
            f"probe {name} failed: {type(answer).__name__}: {answer}") from answer
    if isinstance(answer, probes.Broken):
        failing = [n for n in config.stash.get(_RUN_TESTS, []) if answer.test in n]
        if not failing:
            pytest.fail(f"feature {name} is broken on this kernel: {answer.reason} (the test "
                        f"that reports it, {answer.test}, is not part of this run)", pytrace=False)
        return (f"broken on this kernel: {answer.reason}; the regression is reported by "
                f"{answer.test} (FAILED)")
    return answer


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    transcript.begin()
    for mark in item.iter_markers("requires"):
        if mark.args:
            raise pytest.UsageError(f"{item.nodeid}: requires() takes keywords only")
        reason = probes.evaluate(mark.kwargs, lambda n: _probe_answer(item.config, n))
        if reason:
            pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    known_failures.enforce_observed(item, call, report)  # a known failure must fail as observed
    current = transcript._current
    if current is None:
        return
    props = [p for p in report.user_properties if p[0] != "transcript"]
    props.append(("transcript", current.to_json()))
    report.user_properties = props
    if report.failed and current.entries:
        report.sections.append(("syscall transcript", current.format()))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location) -> None:
    transcript.end()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist controller that ran no test itself never imported hypothesis, but hypothesis's
    terminal summary imports it to look for observability files only a process that ran
    property tests can have written: 0.5 s on the host, about 12 s under TCG, after the last
    test. When no statistics were asked for and no report carries a failing example (the two
    things that summary prints from reports), it has nothing to say: unregister it."""
    import sys
    config = session.config
    plugin = config.pluginmanager.get_plugin("hypothesispytest")
    if (plugin is None or hasattr(config, "workerinput") or "hypothesis" in sys.modules
            or config.getoption("hypothesis_show_statistics", False)):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    reports = [r for rs in getattr(reporter, "stats", {}).values() for r in rs]
    if not any("_hypothesis_failing_examples" in getattr(r, "__dict__", {}) for r in reports):
        config.pluginmanager.unregister(plugin)


def pytest_terminal_summary(terminalreporter) -> None:
    known_failures.terminal_summary(terminalreporter)  # XPASS and entries that matched nothing
