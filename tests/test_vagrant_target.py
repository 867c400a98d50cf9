"""The vagrant target's host side, with a stand-in `vagrant` that replays what the real one
printed here (tests/data/vagrant/): machine states, the guest probe, and a recorded guest
results directory from the offline Debian box. Checks the fail-soft messages when vagrant or a
machine is missing, that nothing waits past a deadline, and that guest results come back and
merge into the combined table. No VM, no root."""
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from conformance import cli
from conformance.targets import vagrant, vagrant_results

DATA = Path(__file__).parent / "data" / "vagrant"
GUEST = DATA / "guest-linux"          # results directory recorded in a real guest run
GUEST_RELEASE = json.loads((GUEST / "results.json").read_text())["kernel"]["release"]

# Stand-in for vagrant: STATUS_FILE is what `status --machine-readable` prints, PROBE_FILE what
# the guest probe prints, GUEST_DIR what `tar -cf - .` sends back; RUN_EXIT is the guest run's
# exit; SLEEP_IN makes that subcommand hang (for the deadlines). Each call is logged.
FAKE = """\
#!/bin/sh
echo "$1" >> "$FAKE_LOG"
[ "$1" = "$SLEEP_IN" ] && exec sleep 30
case "$1" in
status) cat "$STATUS_FILE"; case "$*" in *nosuch*) exit 1;; esac ;;
rsync) exit 0 ;;
ssh)
    case "$5" in
    *"uname -s"*) cat "$PROBE_FILE" ;;
    "tar -C"*) [ -n "$GUEST_DIR" ] && exec tar -C "$GUEST_DIR" -cf - . ; exit 2 ;;
    "rm -rf"*) exit 0 ;;
    *) echo "guest: pytest ran"; exit "${RUN_EXIT:-0}" ;;
    esac ;;
*) exit 64 ;;
esac
"""

@pytest.fixture
def fake_vagrant(tmp_path, monkeypatch):
    """A repository dir with a Vagrantfile and the stand-in vagrant first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "vagrant"
    exe.write_text(FAKE)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Vagrantfile").write_text("# stand-in\n")
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "VAGRANT_CWD": str(repo),
           "FAKE_LOG": str(tmp_path / "calls.log"), "STATUS_FILE": str(DATA / "status-running.txt"),
           "PROBE_FILE": str(DATA / "probe-linux.txt"), "GUEST_DIR": str(GUEST),
           "SLEEP_IN": "", "RUN_EXIT": "0"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def calls(tmp_path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_missing_vagrant_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["run", "--vagrant", "linux"]) == 2
    err = capsys.readouterr().err
    assert "vagrant is not installed" in err and "apt-get install vagrant" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_vagrantfile_is_named(fake_vagrant, monkeypatch):
    monkeypatch.setenv("VAGRANT_CWD", str(fake_vagrant))
    with pytest.raises(vagrant.Unavailable, match="no Vagrantfile in"):
        vagrant.find_vagrant()


def test_tox_env_without_vagrant_reports_and_passes(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert vagrant.main([]) == 0
    assert "vagrant is not installed" in capsys.readouterr().out


def test_recorded_states_parse():
    states, error = vagrant.parse_status((DATA / "status-not-created.txt").read_text())
    assert states == {m: ("not_created", "libvirt") for m in ("freebsd", "freebsd14", "linux")}
    assert error is None
    states, error = vagrant.parse_status((DATA / "status-unknown-machine.txt").read_text())
    assert states == {} and "'nosuch' was not found" in error


def test_stopped_machine_says_how_to_start_it(fake_vagrant, monkeypatch, capsys):
    monkeypatch.setenv("STATUS_FILE", str(DATA / "status-not-created.txt"))
    assert cli.main(["run", "--vagrant", "linux", "--vagrant", "freebsd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "'linux' is not running (state: not created)" in err[0]
    assert "`vagrant up linux`" in err[0] and "`vagrant up freebsd`" in err[1]
    assert "ssh" not in calls(fake_vagrant), "nothing ran in a guest"


def test_unknown_machine_is_reported_in_one_line(fake_vagrant, monkeypatch, capsys):
    monkeypatch.setenv("STATUS_FILE", str(DATA / "status-unknown-machine.txt"))
    assert cli.main(["run", "--vagrant", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "'nosuch' was not found configured" in err and len(err.strip().splitlines()) == 1


def test_tox_env_lists_stopped_machines_and_passes(fake_vagrant, monkeypatch, capsys):
    monkeypatch.setenv("STATUS_FILE", str(DATA / "status-not-created.txt"))
    assert vagrant.main([]) == 0
    out = capsys.readouterr().out
    for m in ("freebsd", "freebsd14", "linux"):
        assert f"`vagrant up {m}`" in out
    assert "no Vagrant machine is running" in out


def test_unprovisioned_guest_says_vagrant_provision(fake_vagrant, tmp_path, monkeypatch):
    probe = tmp_path / "probe.txt"
    probe.write_text((DATA / "probe-linux.txt").read_text().replace("venv=yes", "venv=no"))
    monkeypatch.setenv("PROBE_FILE", str(probe))
    with pytest.raises(vagrant.Unavailable, match="not provisioned .*`vagrant provision linux`"):
        vagrant.prepare(vagrant.find_vagrant(), "linux")


def test_a_hanging_vagrant_is_stopped_at_its_deadline(fake_vagrant, monkeypatch):
    monkeypatch.setenv("SLEEP_IN", "status")
    monkeypatch.setattr(vagrant, "STATUS_DEADLINE", 1.0)
    with pytest.raises(vagrant.Unavailable, match="did not answer within 1s"):
        vagrant.check_running(vagrant.find_vagrant(), "linux")


def test_probe_maps_virtualisation_to_accel():
    guest = vagrant.parse_probe("linux", (DATA / "probe-linux.txt").read_text())
    assert (guest.os, guest.release, guest.accel, guest.sudo) == ("linux", GUEST_RELEASE, "tcg",
                                                                 True)
    bsd = vagrant.parse_probe("freebsd", "os=FreeBSD\nrelease=15.0-RELEASE\nvirt=kvm\n"
                                         "venv=yes\nsrc=yes\nsudo=yes\n")
    assert (bsd.os, bsd.accel) == ("freebsd", "kvm")


def test_guest_script_runs_the_guest_suite_as_root():
    guest = vagrant.Guest("freebsd", "freebsd", "15.0-RELEASE", "kvm", True)
    script = vagrant.guest_script(guest, "r1", ["conformance", "run"], ["-k", "a b"])
    assert "/opt/conformance/venv/bin/python -m pytest" in script
    assert "/vagrant/conformance/freebsd " in script and "--conformance-results=" in script
    assert "--conformance-target=vagrant:freebsd" in script and "'a b'" in script
    assert "sudo -n env HYPOTHESIS_STORAGE_DIRECTORY=" in script and script.endswith("exit $rc")


def test_guest_results_come_back_and_join_the_combined_table(fake_vagrant, tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main(["run", "--results", str(out), "--vagrant", "linux"])
    recorded = json.loads((GUEST / "results.json").read_text())
    (run,) = out.iterdir()
    results = json.loads((run / "results.json").read_text())
    assert results["kernel"]["release"] == GUEST_RELEASE
    assert results["run"]["target"] == "vagrant:linux"
    assert [t["nodeid"] for t in results["tests"]] == [t["nodeid"] for t in recorded["tests"]]
    assert results["vagrant"]["machine"] == "linux" and results["vagrant"]["exit_code"] == 0
    assert (run / "junit.xml").exists() and "guest: pytest ran" in (run / "guest.log").read_text()
    stdout = capsys.readouterr().out
    row = next(line for line in stdout.splitlines() if line.startswith("vagrant linux"))
    assert GUEST_RELEASE in row and " tcg " in row
    failed = sum(t["outcome"] in ("failed", "error", "xpassed") for t in recorded["tests"])
    assert code == (1 if failed else 0)
    # status, rsync, probe, the run, tar back, remove the guest copy
    assert calls(fake_vagrant) == ["status", "rsync", "ssh", "ssh", "ssh", "ssh"]


def test_a_guest_run_without_results_is_an_error_with_the_log(fake_vagrant, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("GUEST_DIR", "")
    monkeypatch.setenv("RUN_EXIT", "3")
    out = tmp_path / "results"
    assert cli.main(["run", "--results", str(out), "--vagrant", "linux"]) == 1
    (run,) = out.iterdir()
    (entry,) = json.loads((run / "results.json").read_text())["tests"]
    assert entry["nodeid"] == "vagrant/linux::run" and entry["outcome"] == "error"
    assert "exited 3" in entry["message"] and "guest: pytest ran" in entry["message"]


def test_a_guest_run_past_its_deadline_is_an_error(fake_vagrant, tmp_path, monkeypatch):
    v = vagrant.find_vagrant()
    provider, guest = vagrant.prepare(v, "linux")
    monkeypatch.setenv("SLEEP_IN", "ssh")
    results = vagrant.run_machine(v, guest, provider, tmp_path, "r1", ["conformance"], [], 1.0,
                                  lambda line: None)
    (entry,) = results["tests"]
    assert entry["outcome"] == "error" and "did not finish within 1s" in entry["message"]
    assert results["vagrant"]["timed_out"] is True


def test_unpack_keeps_only_files_inside_the_run_dir(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "results.json").write_text("{}")
    (src / "link").symlink_to("/etc/passwd")
    tar_path = tmp_path / "t.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(src / "results.json", arcname="./results.json")
        tar.add(src / "link", arcname="./link")
        tar.add(src / "results.json", arcname="../escape.json")
    out = tmp_path / "out"
    out.mkdir()
    assert vagrant_results.unpack(tar_path.read_bytes(), out) == ["results.json"]
    assert not (tmp_path / "escape.json").exists() and not (out / "link").exists()
