"""Feature probes and requirement checks, decided before a test body runs.

A probe answers one of three things, and the plugin caches the answer once per pytest session:
- None: the feature is present;
- a reason (str): the feature is absent, and the reason quotes the evidence of absence (the
  config option unset, the module missing, EAFNOSUPPORT for a family, a release older than the
  one that brought an always-built-in interface); the tests that need it skip with it;
- Broken(reason, test): the feature should be there (it cannot be configured out, or the
  config says it is built) but the probe met a refusal: a regression. The dedicated `test`
  fails for it; the tests that need the feature skip naming that test, or, when it is not part
  of the run, fail at setup so the regression cannot hide behind skips.
Anything else a probe meets (an unexpected errno, an exception) propagates: the tests that need
the feature are ERRORs, never skips.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Broken:
    """A refusal where the interface must exist; `test` names the test that fails for it
    (a node id without its parameters, e.g. "test_msg_zerocopy_setup.py::test_x")."""
    reason: str
    test: str

    def __str__(self) -> str:
        return self.reason


Probe = Callable[[], "str | Broken | None"]
PROBES: dict[str, Probe] = {}


def probe(name: str) -> Callable[[Probe], Probe]:
    """Register a probe under name (in a module of this package, one module per area)."""
    def register(fn: Probe) -> Probe:
        old = PROBES.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__,
                                                                        fn.__qualname__):
            raise ValueError(f"probe {name!r} registered twice "
                             f"({old.__module__} and {fn.__module__})")
        PROBES[name] = fn
        return fn
    return register


def load_all() -> None:
    """Import every probe module of this package (each registers its probes on import)."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def release_tuple(release: str | None = None) -> tuple[int, ...]:
    """'6.18.44-fc-v595' -> (6, 18, 44)."""
    release = release or platform.release()
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        return ()
    return tuple(int(p) for p in m.groups() if p is not None)


def _check_os(want: str) -> str | None:
    have = platform.system().lower()
    return None if have == want else f"requires OS {want} (running {have})"


def _check_root(want: bool) -> str | None:
    if want and os.geteuid() != 0:
        return f"requires root (euid {os.geteuid()})"
    return None


def older_than(since: str, what: str) -> str | None:
    """Evidence of absence by release, for interfaces always built in from `since`: the reason
    when the running kernel is older, else None."""
    have = release_tuple()
    if have and have < release_tuple(since):
        return f"{what} arrived in {since}; running {platform.release()}"
    return None


def _check_kernel(spec: str, because: str) -> str | None:
    """spec '5.12': the running Linux release must be at least 5.12 (because: the commit)."""
    want = release_tuple(spec)
    have = release_tuple()
    if have and have >= want:
        return None
    return f"requires kernel >= {spec} ({because}); running {platform.release()}"


def evaluate(kwargs: dict, probe_answer: Callable[[str], str | None]) -> str | None:
    """Evaluate one requires(...) marker: None when satisfied, else the skip reason.

    Keywords: os="linux"|"freebsd", root=True, feature="NAME" (or a tuple of names),
    kernel="X.Y" with because="commit ..." (only where no probe can tell).
    """
    unknown = set(kwargs) - {"os", "root", "feature", "kernel", "because"}
    if unknown:
        raise ValueError(f"requires(): unknown keywords {sorted(unknown)}")
    if "os" in kwargs and (reason := _check_os(kwargs["os"])):
        return reason
    if "root" in kwargs and (reason := _check_root(kwargs["root"])):
        return reason
    if "kernel" in kwargs:
        if not kwargs.get("because"):
            raise ValueError("requires(kernel=...) must cite the commit in because=...")
        if reason := _check_kernel(kwargs["kernel"], kwargs["because"]):
            return reason
    features = kwargs.get("feature", ())
    if features:
        load_all()
    for name in (features,) if isinstance(features, str) else features:
        if name not in PROBES:
            raise ValueError(f"requires(): no probe named {name!r}")
        if reason := probe_answer(name):
            return f"requires feature {name}: {reason}"
    return None
