"""The clause catalogs: schema checks, and the shipped catalogs follow them."""
import re

import pytest

from conformance import catalog

GOOD = """
[[clause]]
id = "LNX-SF-X"
feature = "sendfile"
statement = "s"
source = "sendfile(2) ERRORS"
basis = "documented"
"""


def test_parse_reads_a_clause():
    clauses = catalog.parse(GOOD, "linux")
    assert clauses["LNX-SF-X"].basis == "documented"
    assert clauses["LNX-SF-X"].untestable is None


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('basis = "documented"', ""), "missing basis"),
    (GOOD.replace('basis = "documented"', 'basis = "hearsay"'), "basis must be one of"),
    (GOOD + 'colour = "red"\n', "unknown keys colour"),
    (GOOD + GOOD, "duplicate id"),
    ("[[clause]\n", "linux.toml"),
], ids=["missing-key", "bad-basis", "unknown-key", "duplicate", "not-toml"])
def test_parse_rejects_bad_catalogs(text, message):
    with pytest.raises(catalog.CatalogError, match=message):
        catalog.parse(text, "linux", "linux.toml")


def test_unknown_os_is_refused():
    with pytest.raises(catalog.CatalogError, match="unknown OS"):
        catalog.load("plan9")


@pytest.mark.parametrize("os_name, prefix", [("linux", "LNX-"), ("freebsd", "FBSD-")])
def test_shipped_catalog_ids_are_well_formed(os_name, prefix):
    for cid, clause in catalog.load(os_name).items():
        assert re.fullmatch(prefix + r"[A-Z0-9]+(-[A-Z0-9]+)+", cid), cid
        assert clause.untestable is None or len(clause.untestable) > 20, cid


def test_linux_catalog_holds_every_sendfile_clause():
    ids = {c for c in catalog.load("linux") if c.startswith("LNX-SF-")}
    assert len(ids) == 36
