"""Every user-supplied value is checked where it enters: one line naming the option (or knob, or
file and line), the value and what is accepted; exit 2; nothing started, nothing written.

The run itself is stubbed at its seam (conformance.commands.run.run): a value that passes
validation reaches it, and no VM boots from here."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance import cli, validate
from conformance.commands import run as run_cmd
from conformance.results import model

GOLDEN = Path(__file__).parent / "golden" / "results-mixed.json"


@pytest.fixture
def started(monkeypatch):
    """What reached the run (the namespaces); nothing runs."""
    calls = []
    monkeypatch.setattr(run_cmd, "run", lambda ns, pytest_args, argv: calls.append(ns) or 0)
    return calls


def one_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# (argv, what the one line must contain): the ten wrong invocations of issue 19 and the rest
BAD = [
    (["run", "--memory", "lots"], "argument --memory: 'lots' is not a memory size"),
    (["run", "--memory", "1K"], "from 256M to 1T"),
    (["run", "--memory", "-2G"], "argument --memory"),
    (["run", "--vm-deadline=-5"], "argument --vm-deadline: '-5' is not a duration"),
    (["run", "--vm-deadline", "nan"], "more than 0"),
    (["run", "--vm-deadline", "inf"], "more than 0"),
    (["run", "--jobs", "0"], "argument --jobs: '0' is not a number of VMs at once"),
    (["run", "--jobs", "2.5"], "a whole number from 1 to 64"),
    (["run", "--cpus", "0"], "argument --cpus: '0' is not a vCPU count"),
    (["run", "--cpus", "many"], "a whole number from 1 to 255"),
    (["run", "--append", "console=ttyS0 'x"], "balanced quotes"),
    (["run", "--append", "a\nb"], "printable"),
    (["run", "--append", "x" * 2000], "at most 1024 bytes"),
    (["run", "--vagrant", "../../etc"], "argument --vagrant: '../../etc' is not a Vagrant machine"),
    (["run", "--vagrant", "-x"], "expected one argument"),
    (["run", "--kernel", "/nonexistent/bzImage"],
     "argument --kernel: kernel image /nonexistent/bzImage: no such file"),
    (["run", "--kernel", "/etc/hostname"], "not a kernel image"),
    (["run", "--results", ""], "argument --results: '' is not a path"),
    (["run", "--results", "/etc/hostname/sub"],
     "results directory '/etc/hostname/sub' (--results) is not writable"),
    (["run", "--os", "plan9"], "invalid choice: 'plan9'"),
    (["run", "--accel", "fast"], "invalid choice: 'fast'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["run", "--", "--sendfile2-nr=0"], "--sendfile2-nr '0': expected a positive syscall number"),
    (["run", "--", "--sendfile2-nr", "x"], "--sendfile2-nr 'x': expected a positive"),
    (["run", "--", "--sendfile2-nr=-467"], "--sendfile2-nr '-467'"),
    (["run", "--", "-q", "--sendfile2-nr"], "--sendfile2-nr needs a value"),
    (["run", "--", "--conformance-results=/tmp"], "set by `conformance run` itself"),
    (["compare", "/nonexistent", "/nonexistent"], "cannot read results from /nonexistent"),
    (["report", "/etc/hostname"], "not valid JSON"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(a, m, id=" ".join(a)[:60]) for a, m in BAD])
def test_bad_value_is_one_line_and_exit_2(started, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in one_line(capsys)
    assert started == []  # nothing reached the run


@pytest.mark.parametrize("given, kept", [
    ("2G", "2G"), ("1536M", "1536M"), ("1.5G", "1536M"), ("2048", "2G"), ("4gib", "4G"),
    ("256M", "256M"), (" 1T ", "1024G"),
], ids=lambda v: v.strip())
def test_memory_sizes_are_normalised_for_qemu(given, kept):
    assert validate.memory(given) == kept


def test_good_values_reach_the_run(started, tmp_path):
    argv = ["run", "--results", str(tmp_path / "r"), "--memory", "1.5G", "--cpus", "4",
            "--jobs", "2", "--vm-deadline", "90.5", "--append", "quiet loglevel=3",
            "--", "-q", "--sendfile2-nr=467"]
    assert cli.main(argv) == 0
    (ns,) = started
    assert (ns.memory, ns.cpus, ns.jobs, ns.vm_deadline, ns.append) == \
        ("1536M", 4, 2, 90.5, "quiet loglevel=3")
    assert not (tmp_path / "r").exists()  # validation creates nothing


@pytest.mark.parametrize("name, value, accepted", [
    ("CONFORMANCE_SLOW_FACTOR", "fast", "a number from 1 to 100"),
    ("CONFORMANCE_SLOW_FACTOR", "0.5", "a number from 1 to 100"),
    ("CONFORMANCE_SLOW_FACTOR", "nan", "a number from 1 to 100"),
    ("CONFORMANCE_SENDFILE2_NR", "-1", "a positive syscall number"),
    ("CONFORMANCE_SENDFILE2_NR", "467a", "a positive syscall number"),
    ("CONFORMANCE_KCIDB_ORIGIN", "My Lab", "a KCIDB origin"),
    ("CONFORMANCE_NETNS_DIR", "relative/dir", "an existing directory"),
    ("CONFORMANCE_KNOWN_FAILURES", "/nonexistent.toml", "/nonexistent.toml does not"),
], ids=lambda v: v if v.startswith("CONF") else None)
def test_bad_environment_knob_is_one_line(started, capsys, monkeypatch, name, value, accepted):
    monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"conformance run: environment {name}={value!r}: expected ")
    assert accepted in line and started == []


def test_empty_knob_means_unset(started, monkeypatch):
    monkeypatch.setenv("CONFORMANCE_SLOW_FACTOR", "")
    assert cli.main(["run"]) == 0


KF_HEADER = '[[failure]]\ntest = "x::y"\nreason = "r"\nlink = "l"\nobserved = "E"\n'


@pytest.mark.parametrize("text, message", [
    (KF_HEADER + "kernel = '6.1'\n", "needs one of"),
    (KF_HEADER + "colour = 'red'\n", "unknown keys colour"),
    ("\n\n" + KF_HEADER.replace('reason = "r"\n', ""), "missing reason"),
    (KF_HEADER + "os = 1\n", "os must be strings"),
    ("failure = 3\n", "'failure' must be an array of tables"),
    ("failure = [1, 2]\n", "'failure' must be an array of tables"),
    ("[[failure]\n", "known"),
], ids=["range", "unknown-key", "missing", "type", "not-array", "not-tables", "toml"])
def test_bad_known_failures_file_names_file_line_and_key(started, capsys, monkeypatch,
                                                         tmp_path, text, message):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    monkeypatch.setenv("CONFORMANCE_KNOWN_FAILURES", str(path))
    assert cli.main(["run"]) == 2
    line = one_line(capsys)
    assert str(path) in line and (message in line or message == "known"), line
    if "[[failure]]" in text and message != "known":
        header = text.splitlines().index("[[failure]]") + 1
        assert f"{path}:{header}:" in line


def write(tmp_path, name, text) -> str:
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return str(path)


def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("make, message", [
    (lambda: GOLDEN.read_text()[:-200], "not valid JSON (truncated?"),
    (lambda: b"\xff\xfe{}", "not UTF-8 text"),
    (lambda: "[" * 100000, "not a results.json"),
    (lambda: "[]", "a JSON object expected, not a list"),
    (lambda: json.dumps({**golden(), "schema": "conformance-results/9"}),
     "schema 'conformance-results/9' is from a newer suite"),
    (lambda: json.dumps({**golden(), "schema": "conformance-results/0"}), "an older suite"),
    (lambda: json.dumps({**golden(), "schema": "junit"}), "not a conformance results file"),
    (lambda: json.dumps({k: v for k, v in golden().items() if k != "schema"}), "no 'schema'"),
    (lambda: json.dumps({**golden(), "kernel": []}), "'kernel' missing or not a dict"),
    (lambda: json.dumps({**golden(), "run": {**golden()["run"], "suite": "x"}}),
     "run.suite is a string, expected an object or null"),
    (lambda: json.dumps({**golden(), "tests": [{**golden()["tests"][0], "clauses": [1]}]}),
     "tests[0].clauses[0] is a number, expected a string"),
    (lambda: json.dumps({**golden(), "tests": [{**golden()["tests"][0], "outcome": "meh"}]}),
     "tests[0] needs a nodeid and an outcome"),
], ids=["truncated", "binary", "deep", "list", "newer", "older", "other-schema", "no-schema",
        "kernel-list", "suite-string", "clause-number", "outcome"])
@pytest.mark.parametrize("command", ["compare", "report"])
def test_bad_results_file_is_one_line(tmp_path, capsys, make, message, command):
    path = write(tmp_path, "results.json", make())
    argv = ["compare", str(GOLDEN), path] if command == "compare" else \
        ["report", path, "--out", str(tmp_path / "reports")]
    assert cli.main(argv) == 2
    line = one_line(capsys)
    assert line.startswith(f"conformance {command}: ") and message in line, line
    assert not (tmp_path / "reports").exists()


def test_the_suite_reads_its_own_results():
    assert model.load(GOLDEN)["schema"] == "conformance-results/1"


@pytest.mark.parametrize("text, message", [
    ('clause = "x"\n', "an array of [[clause]] tables"),
    ('[[clauses]]\nid = "A"\n', "an array of [[clause]] tables"),
    ('\n[[clause]]\nid = ["A"]\nfeature = "f"\nstatement = "s"\nsource = "m"\nbasis = "source"\n',
     ":2: clause #1"),
])
def test_bad_catalog_names_file_and_line(text, message):
    from conformance import catalog
    with pytest.raises(catalog.CatalogError, match="^cat.toml") as exc:
        catalog.parse(text, "linux", "cat.toml")
    assert message in str(exc.value) and "\n" not in str(exc.value)


# Stand-in for Vagrant: Vagrant.configure yields an object that takes any call, so the
# Vagrantfile's knob checks run without vagrant.
VAGRANT_STANDIN = """\
class Anything
  def method_missing(*_args, **_kw)
    yield self if block_given?
    self
  end
  def respond_to_missing?(*) = true
end
module Vagrant
  def self.configure(_v)
    yield Anything.new
  end
end
load ARGV[0]
puts "loaded"
"""
VAGRANTFILE = Path(__file__).parent.parent / "vagrant" / "Vagrantfile"


@pytest.mark.skipif(not shutil.which("ruby"), reason="ruby is not installed (shutil.which)")
@pytest.mark.parametrize("name, value, accepted", [
    ("CONFORMANCE_VM_CPUS", "lots", "a whole number from 1 to 255"),
    ("CONFORMANCE_VM_MEMORY", "2G", "a whole number from 256 to 1048576"),
    ("CONFORMANCE_BOOT_TIMEOUT", "-1", "a whole number from 1 to 86400"),
    ("CONFORMANCE_LIBVIRT_DRIVER", "xen", "one of kvm, qemu"),
    ("CONFORMANCE_LINUX_BOX", "a b", "a box name"),
    ("CONFORMANCE_LINUX_KERNEL", "/nonexistent", "an existing file on the host"),
    ("CONFORMANCE_WHEELHOUSE", "/etc/hostname", "an existing directory on the host"),
    ("CONFORMANCE_LINUX_CMDLINE", "a\nb", "a one-line kernel command line"),
    ("CONFORMANCE_VM_CPUS", "4", None),
], ids=lambda v: v if isinstance(v, str) and v.startswith("CONF") else None)
def test_vagrantfile_knobs_are_checked(tmp_path, name, value, accepted):
    standin = tmp_path / "standin.rb"
    standin.write_text(VAGRANT_STANDIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    done = subprocess.run(["ruby", str(standin), str(VAGRANTFILE)], env={**env, name: value},
                          capture_output=True, text=True, timeout=60, check=False)
    if accepted is None:
        assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr
        return
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"vagrant/Vagrantfile: {name}={json.dumps(value)}: expected {accepted}"
        + ("" if accepted != "a box name" else " such as debian/bookworm64")]


def test_a_run_in_which_no_test_ran_is_not_a_pass(capsys):
    """Nothing collected, everything deselected, or a guest pytest that stopped before its first
    test: exit 2 with one line, never 0."""
    from conformance.commands import run as run_cmd
    empty = {"run": {"target": "kernel"}, "kernel": {"os": "linux", "release": "6.1"},
             "tests": []}
    assert run_cmd.verdict(empty) == 2
    assert "no test ran on kernel" in capsys.readouterr().err
    one = dict(empty, tests=[{"nodeid": "t", "outcome": "skipped"}])
    assert run_cmd.verdict(one) == 0
