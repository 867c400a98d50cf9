"""The running kernel's build configuration, as evidence of absence for the probes.

A probe may call a feature absent only with evidence: the option unset in the kernel's config,
or (for a modular option) the module missing from /lib/modules/<release>. This module reads
both, from the places a kernel publishes them:
- /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-<release> (distribution kernels);
- /lib/modules/<release>/modules.builtin and modules.dep (built in / loadable modules).
Each answer says where it came from, so a skip reason can quote its evidence.
"""
from __future__ import annotations

import functools
import gzip
import platform
from pathlib import Path
from typing import NamedTuple


class OptionState(NamedTuple):
    value: str | None      # "y", "m", a string, or None when unset
    evidence: str          # where it was read, e.g. "/proc/config.gz"

    @property
    def enabled(self) -> bool:
        return self.value in ("y", "m")

    def describe(self, option: str) -> str:
        state = f"{option}={self.value}" if self.value else f"{option} is not set"
        return f"{state} ({self.evidence})"


def parse_config(text: str) -> dict[str, str | None]:
    """A kernel .config as {option: value}; '# CONFIG_X is not set' lines map to None."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value.strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[2:-len(" is not set")]] = None
    return out


@functools.cache
def running_config(release: str | None = None) -> tuple[dict[str, str | None], str] | None:
    """The running kernel's config and where it was read, or None when no copy is readable."""
    release = release or platform.release()
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{release}")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode(errors="replace")
        return parse_config(text), str(path)
    return None


def option(name: str) -> OptionState | None:
    """The state of CONFIG_NAME in the running kernel's config, or None when no config is
    readable (then nothing can be concluded from the config)."""
    found = running_config()
    if found is None:
        return None
    config, where = found
    return OptionState(config.get(name), where)


def module_file(module: str, release: str | None = None) -> str | None:
    """Where /lib/modules/<release> lists module (built in or loadable), or None when its lists
    are readable and do not name it. Raises FileNotFoundError when there are no lists."""
    base = Path("/lib/modules") / (release or platform.release())
    wanted = {f"{module}.ko", f"{module.replace('_', '-')}.ko"}
    found_lists = False
    for listing in ("modules.builtin", "modules.dep"):
        try:
            text = (base / listing).read_text(errors="replace")
        except OSError:
            continue
        found_lists = True
        for line in text.splitlines():
            path = line.split(":", 1)[0]
            name = path.rsplit("/", 1)[-1]
            for suffix in (".xz", ".zst", ".gz"):
                name = name.removesuffix(suffix)
            if name in wanted:
                return f"{base / listing}: {path}"
    if not found_lists:
        raise FileNotFoundError(f"no modules.builtin or modules.dep under {base}")
    return None


def absent_evidence(config_option: str, module: str | None = None) -> str | None:
    """Evidence that the kernel was built without config_option: a sentence quoting the config
    (and the module lists, for a modular option), or None when the evidence is missing or says
    the option is there."""
    state = option(config_option)
    if state is not None:
        return None if state.enabled else state.describe(config_option)
    if module is None:
        return None
    try:
        where = module_file(module)
    except FileNotFoundError:
        return None
    if where is None:
        base = Path("/lib/modules") / platform.release()
        return (f"no kernel config readable, and {module} is neither built in nor a module "
                f"({base}/modules.builtin, modules.dep)")
    return None
