"""The LAVA test definition, the jobs `conformance lava-job` writes and the local device
dictionary validate against LAVA's own schemas (lava_common.schemas from lava-common, Debian's
lava-common 2023.01), and those schemas reject what LAVA would reject. lava_common is imported
here when it is importable, else through the system python3 that Debian's package installs it
for; the tests skip only when neither has lava_common."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli

yaml = pytest.importorskip("yaml", reason="PyYAML (the `lava` extra) is not installed")

REPO = Path(__file__).resolve().parent.parent
TESTDEF = REPO / "lava" / "zerocopy-conformance.yaml"
DEVICE = REPO / "lava" / "device-qemu-tcg.yaml"
SYSTEM_PYTHON = "/usr/bin/python3"
VALIDATOR = r"""
import json, sys
from voluptuous import Invalid
from lava_common.schemas import validate as job
from lava_common.schemas.device import validate as device
from lava_common.schemas.test.testdef import validate as testdef
out = []
for kind, doc in json.load(sys.stdin):
    try:
        {"job": lambda d: job(d, strict=True), "device": device, "testdef": testdef}[kind](doc)
        out.append(None)
    except Invalid as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


def _validator() -> list[str] | None:
    try:
        import lava_common.schemas  # noqa: F401
        return [sys.executable]
    except ImportError:
        pass
    if shutil.which(SYSTEM_PYTHON) and subprocess.run(
            [SYSTEM_PYTHON, "-c", "import lava_common.schemas.test.testdef"],
            capture_output=True, timeout=60, check=False).returncode == 0:
        return [SYSTEM_PYTHON]
    return None


PYTHON = _validator()
needs_lava = pytest.mark.skipif(PYTHON is None, reason="lava_common (Debian package lava-common)"
                                " is not importable here or by /usr/bin/python3")


def problems(*docs: tuple[str, dict]) -> list[str | None]:
    """LAVA's verdict on each (kind, document): None when valid, else its message."""
    done = subprocess.run([*PYTHON, "-c", VALIDATOR], input=json.dumps(docs), text=True,
                          capture_output=True, timeout=120, check=True)
    return json.loads(done.stdout)


def job_yaml(tmp_path, capsys, *extra: str) -> dict:
    out = tmp_path / "job.yaml"
    assert cli.main(["lava-job", "--kernel", "/boot/vmlinuz-test", "--initrd",
                     "https://example.org/initrd.img", "--rootfs", str(tmp_path / "rootfs.ext4"),
                     "--modules", "https://example.org/modules.tar.xz", "-o", str(out),
                     *extra]) == 0
    capsys.readouterr()
    return yaml.safe_load(out.read_text())


@needs_lava
def test_test_definition_validates():
    assert problems(("testdef", yaml.safe_load(TESTDEF.read_text()))) == [None]


@needs_lava
def test_local_device_dictionary_validates():
    assert problems(("device", yaml.safe_load(DEVICE.read_text()))) == [None]


@needs_lava
@pytest.mark.parametrize("source", [
    ["--testdef-git", "https://example.org/zerocopy-conformance.git", "--revision", "v0.1.0"],
    ["--testdef-url", "https://example.org/suite.tar.gz", "--wheelhouse", "wheels"],
], ids=["git", "url"])
def test_generated_jobs_validate(tmp_path, capsys, source):
    job = job_yaml(tmp_path, capsys, *source, "--run-args", "--accel tcg",
                   "--pytest-args", "-q -k sendfile", "--accel", "kvm")
    assert problems(("job", job)) == [None]
    rootfs = job["actions"][0]["deploy"]["images"]["rootfs"]
    assert rootfs["url"].startswith("file:///") and rootfs["format"] == "ext4"
    assert rootfs["overlays"]["modules"]["compression"] == "xz"
    definition = job["actions"][2]["test"]["definitions"][0]
    assert definition["path"] == "lava/zerocopy-conformance.yaml"
    assert definition["parameters"]["PYTEST_ARGS"] == "-q -k sendfile"


@needs_lava
def test_lavas_schemas_reject_broken_documents(tmp_path, capsys):
    """The schemas can fail: what these tests pass is checked, not waved through."""
    job = job_yaml(tmp_path, capsys, "--testdef-git", "https://example.org/x.git")
    no_images = json.loads(json.dumps(job))
    del no_images["actions"][0]["deploy"]["images"]
    bad_name = json.loads(json.dumps(job))
    bad_name["actions"][2]["test"]["definitions"][0]["name"] = "zerocopy conformance"
    testdef = yaml.safe_load(TESTDEF.read_text())
    testdef["metadata"]["format"] = "Lava-Test Test Definition 2.0"
    device = yaml.safe_load(DEVICE.read_text())
    del device["constants"]
    verdicts = problems(("job", no_images), ("job", bad_name), ("testdef", testdef),
                        ("device", device))
    assert all(verdicts), verdicts


def test_lava_job_rejects_bad_options(tmp_path, capsys):
    base = ["lava-job", "--kernel", "k", "--rootfs", "r"]
    assert cli.main(base) == 2  # no test definition source
    assert cli.main([*base, "--testdef-git", "g", "--run-args", "'unclosed"]) == 2
    assert cli.main([*base, "--testdef-git", "g", "--timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert "--run-args" in err and "--timeout 0" in err
