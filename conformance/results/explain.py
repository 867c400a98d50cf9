"""Whether what two runs record explains a test's lost coverage (ran in BASE, skipped, xfailed
or missing in CAND). Only the records count, never a guess:

- a different OS (kernel.os) explains every loss;
- a skip is explained by CAND running unprivileged where BASE ran as root, when the skip reason
  names what needs privilege (root, a CAP_*, EPERM);
- a skip is explained by a kernel config option it names (CONFIG_*) whose values the two runs
  record differently (kernel.config_options, kept by the recorder for every option the suite's
  probes can cite); when BASE does not record the option (an older results file), by the two
  config hashes differing, said as such; the same recorded value on both sides explains nothing,
  and the cause says so;
- a skip is explained by a different target kind (host, kernel, vagrant: run.target);
- a skip of requires(kernel="X.Y") ("requires kernel >= X.Y (...)") is explained when CAND's
  release predates X.Y and BASE's does not;
- passed -> xfailed is explained when the known-failures entry's kernel range holds for CAND's
  release and not for BASE's (the same entry on the same kernel is a test that stopped passing).
An error is never explained: it is not a verdict. A vanished test is explained only by the OS.
"""
from __future__ import annotations

import re

from conformance.results.known_failures import KnownFailuresError, in_range, parse_range
from conformance.results.provenance import CONFIG_OPTION

_PRIVILEGE = re.compile(r"\broot\b|\bCAP_[A-Z_]+\b|privilege|\bEPERM\b")
_VERSION_GATE = re.compile(r"\brequires kernel >= (\d+(?:\.\d+)*)")  # probes._check_kernel


def _value(option: str, v: str | None) -> str:
    return f"{option} not set" if v is None else f"{option}={v}"


def _config(option: str, base: dict, cand: dict) -> tuple[str | None, str | None]:
    """(explanation, note): note says why a cited option explains nothing."""
    bo = base["kernel"].get("config_options") or {}
    co = cand["kernel"].get("config_options") or {}
    if option in bo and option in co:
        if bo[option] != co[option]:
            return (f"{_value(option, bo[option])} in BASE's kernel config, "
                    f"{_value(option, co[option])} in CAND's"), None
        return None, f"{_value(option, co[option])} in both kernels' configs"
    bh, ch = base["kernel"].get("config_hash"), cand["kernel"].get("config_hash")
    if bh and ch and bh != ch:
        return (f"the skip names {option} and the kernel configs differ ({bh[:19]} -> "
                f"{ch[:19]}); the option's values are not recorded in both runs"), None
    return None, f"{option}: the two runs do not record different configs"


def _only_cand_in(spec: str, base: dict, cand: dict) -> tuple[str, str] | None:
    """(CAND's release, BASE's) when CAND's is in the kernel range and BASE's is not."""
    try:
        ranges = parse_range(spec)
    except KnownFailuresError:
        return None
    br, cr = base["kernel"].get("release") or "", cand["kernel"].get("release") or ""
    return (cr, br) if in_range(cr, ranges) and not in_range(br, ranges) else None


def _kernel_range(entry: dict | None, base: dict, cand: dict) -> str | None:
    releases = entry and entry.get("kernel") and _only_cand_in(entry["kernel"], base, cand)
    if not releases:
        return None
    return (f"known-failures entry {entry.get('where')} holds for kernels {entry['kernel']}: "
            f"CAND's {releases[0]} is in that range, BASE's {releases[1]} is not")


def explain(base_t: dict, cand_t: dict | None, base: dict, cand: dict) -> tuple[str | None, str]:
    """(explanation or None, note for the cause when something was checked and did not hold)."""
    bos, cos = base["kernel"].get("os"), cand["kernel"].get("os")
    if bos != cos:
        return f"different OS: {bos} -> {cos}", ""
    if cand_t is None or cand_t["outcome"] == "error":
        return None, ""
    if cand_t["outcome"] == "xfailed":
        return _kernel_range(cand_t.get("known_failure"), base, cand), ""
    reason = cand_t.get("reason") or ""
    benv, cenv = base.get("environment") or {}, cand.get("environment") or {}
    if benv.get("privileged") and not cenv.get("privileged") and _PRIVILEGE.search(reason):
        return "CAND ran unprivileged, BASE as root, and the skip names what needs privilege", ""
    notes = []
    for option in dict.fromkeys(CONFIG_OPTION.findall(reason)):
        why, note = _config(option, base, cand)
        if why:
            return why, ""
        notes.append(note)
    gate = _VERSION_GATE.search(reason)
    releases = gate and _only_cand_in(f"<{gate.group(1)}", base, cand)
    if releases:
        return (f"CAND's kernel {releases[0]} predates {gate.group(1)}, which the skip names; "
                f"BASE's {releases[1]} does not"), ""
    bt, ct = (r["run"].get("target") or "host" for r in (base, cand))
    if bt.partition(":")[0] != ct.partition(":")[0]:
        return f"different target kind: {bt.partition(':')[0]} -> {ct.partition(':')[0]}", ""
    return None, "; ".join(notes)
