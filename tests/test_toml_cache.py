"""conformance.toml_cache: parsed TOML kept by content hash under the bytecode prefix. The cache
may only save time: the same data as tomllib, an edited text parsed again, no prefix no files,
an unwritable cache still parses, a bad text still raises."""
import hashlib
import pickle
import sys
import tomllib

import pytest

from conformance import toml_cache

TEXT = '[[clause]]\nid = "X-1"\nsince = 2024-01-02\n'


@pytest.fixture
def prefix(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    return tmp_path / toml_cache.SUBDIR


def entry(prefix, text):
    return prefix / (hashlib.sha256(text.encode()).hexdigest() + ".pickle")


def test_parses_as_tomllib_and_keeps_the_result(prefix):
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT)
    assert pickle.loads(entry(prefix, TEXT).read_bytes()) == tomllib.loads(TEXT)


def test_a_second_load_comes_from_the_cache(prefix):
    toml_cache.loads(TEXT)
    entry(prefix, TEXT).write_bytes(pickle.dumps({"from": "cache"}))
    assert toml_cache.loads(TEXT) == {"from": "cache"}


def test_an_edited_text_is_parsed_again(prefix):
    toml_cache.loads(TEXT)
    edited = TEXT.replace("X-1", "X-2")
    assert toml_cache.loads(edited)["clause"][0]["id"] == "X-2"
    assert len(list(prefix.glob("*.pickle"))) == 2


def test_a_damaged_entry_is_parsed_again(prefix):
    toml_cache.loads(TEXT)
    entry(prefix, TEXT).write_bytes(b"\x80garbage")
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT)


def test_without_a_prefix_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.chdir(tmp_path)
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_still_parses(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the cache directory's parent should be
    monkeypatch.setattr(sys, "pycache_prefix", str(blocker))
    assert toml_cache.loads(TEXT) == tomllib.loads(TEXT)


def test_a_bad_text_raises_as_tomllib_does(prefix):
    with pytest.raises(tomllib.TOMLDecodeError):
        toml_cache.loads("[[clause]\n")
    assert not prefix.exists() or list(prefix.glob("*.pickle")) == []
