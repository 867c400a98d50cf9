"""How many examples the suite's property tests draw: one profile per use, recorded in results.

Each property test states its own example count for a full run (`max_examples=examples(150)`);
the profile scales it:
- quick   (the default): a host or VM run whose answer is wanted in seconds, 1/3 of the count;
- full:   the counts as written in the tests;
- nightly: 4x, for a scheduled run with time to spare.
Chosen with --conformance-examples=NAME or $CONFORMANCE_EXAMPLES (the option wins); the plugin
sets it in pytest_configure, before the test modules are imported, so examples() is read at
collection. results.json records the profile and each property test's example count
(environment.hypothesis), so two runs with different counts are not compared blindly.
"""
from __future__ import annotations

import os

ENV = "CONFORMANCE_EXAMPLES"
SCALE = {"quick": 1 / 3, "full": 1.0, "nightly": 4.0}
DEFAULT = "quick"
MINIMUM = 10  # fewer examples than this no longer explores a strategy of several parts

_chosen: str | None = None


class ProfileError(ValueError):
    """An unknown profile name (the caller turns it into a usage error)."""


def check(name: str) -> str:
    if name not in SCALE:
        raise ProfileError(f"unknown example profile {name!r} (choose {', '.join(SCALE)})")
    return name


def choose(name: str | None) -> str:
    """Set this process's profile: name, else $CONFORMANCE_EXAMPLES, else DEFAULT."""
    global _chosen
    _chosen = check(name or os.environ.get(ENV) or DEFAULT)
    return _chosen


def current() -> str:
    return _chosen or check(os.environ.get(ENV) or DEFAULT)


def examples(full: int) -> int:
    """The example count for a test that draws `full` examples in a full run."""
    return max(min(full, MINIMUM), round(full * SCALE[current()]))


def test_examples(items) -> dict[str, int]:
    """{node id: max_examples} for the hypothesis tests among the collected items (the settings
    hypothesis attaches to the test function; absent for other tests)."""
    counts = {}
    for item in items:
        obj = getattr(item, "obj", None)
        settings = getattr(obj, "_hypothesis_internal_use_settings", None)
        if getattr(obj, "is_hypothesis_test", False) and settings is not None:
            counts[item.nodeid] = settings.max_examples
    return counts
