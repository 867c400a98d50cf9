"""TOML parsed once per content: the catalogs and the known-failure list, kept as pickles.

tomllib is pure Python: parsing the catalogs costs about 65 ms of CPU per pytest process on
the host, and each xdist worker collects, so under TCG (Python about 25x slower) every guest
worker spent seconds on it. The parsed data is kept beside the compiled modules (under
sys.pycache_prefix, i.e. PYTHONPYCACHEPREFIX, which `conformance run` sets), named by the
SHA-256 of the text, so an edited file is simply parsed again; without a prefix nothing is
cached. A guest reads what the host wrote while it booted (host.warm_bytecode collects the
suite); writing is best effort (a guest's root is read-only).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

SUBDIR = "conformance-toml"


def cache_dir() -> Path | None:
    prefix = sys.pycache_prefix
    return Path(prefix) / SUBDIR if prefix else None


def loads(text: str) -> dict[str, Any]:
    """tomllib.loads(text), from the cache when this exact text was parsed before.
    Raises tomllib.TOMLDecodeError as tomllib does."""
    where = cache_dir()
    if where is None:
        return tomllib.loads(text)
    path = where / (hashlib.sha256(text.encode()).hexdigest() + ".pickle")
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    data = tomllib.loads(text)
    _store(path, data)
    return data


def _store(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers never see a partial file
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
