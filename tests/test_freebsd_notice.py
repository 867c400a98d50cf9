"""A run of the FreeBSD suite says first that its verdicts on source-only clauses are
disagreements with a reading until a FreeBSD kernel confirms them (issue 14); other runs do not."""
import argparse

import pytest

from conformance.commands import run as run_cmd


class Stop(Exception):
    """Raised by the stand-in target: the test only looks at what was printed before it ran."""


def start(monkeypatch, capsys, os_name: str) -> list[str]:
    def target(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(run_cmd, "run_host", target)
    ns = argparse.Namespace(os=os_name, vagrant=[], kernel=[], results="unused")
    with pytest.raises(Stop):
        run_cmd.run(ns, [], [])
    return capsys.readouterr().out.splitlines()


def test_a_freebsd_run_prints_the_notice_first(monkeypatch, capsys):
    lines = start(monkeypatch, capsys, "freebsd")
    assert lines[:1] == [run_cmd.FREEBSD_NOTICE]
    assert "differs from our reading" in lines[0] and "FreeBSD kernel" in lines[0]


def test_a_linux_run_does_not(monkeypatch, capsys):
    assert run_cmd.FREEBSD_NOTICE not in start(monkeypatch, capsys, "linux")
