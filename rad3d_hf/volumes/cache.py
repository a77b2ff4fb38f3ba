"""An opt-in on-disk cache of preprocessed volumes, keyed by the source file and the transform's parameters.

Each entry is two files named by a SHA-256 key: ``<key>.npy`` (written with ``allow_pickle=False`` and read the same
way, so nothing is ever unpickled) and ``<key>.json`` (what the entry was made from). The key covers the source's
resolved path, size and modification time and every transform parameter, so changing a parameter or the file makes a
new entry instead of reusing a stale one. Writes go to a temporary file in the same folder followed by ``os.replace``,
which is atomic: DataLoader workers that compute the same entry at once each write a whole file and one of them
wins; a reader never sees a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rad3d_hf import __version__


class PreprocessedCache:
    """A folder of preprocessed volumes; pass it as ``M3DTransform(cache=PreprocessedCache(folder))``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"PreprocessedCache({str(self.directory)!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Counters are per process; a worker starts its own.
        return {"directory": self.directory, "hits": 0, "misses": 0}

    def key(self, source: str | os.PathLike[str], params: Mapping[str, Any]) -> str:
        """The entry name for ``source`` preprocessed with ``params``."""
        path = Path(source).resolve()
        stat = path.stat()
        identity = {
            "source": str(path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "params": params,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def paths(self, key: str) -> tuple[Path, Path]:
        folder = self.directory / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def get(self, source: str | os.PathLike[str], params: Mapping[str, Any]) -> np.ndarray | None:
        """The cached array, or None when there is no complete, matching entry."""
        array_path, meta_path = self.paths(self.key(source, params))
        if not (array_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(array_path, allow_pickle=False)
        except (OSError, ValueError) as error:
            warnings.warn(f"ignoring unreadable cache entry {array_path}: {error}", stacklevel=2)
            return None
        if meta.get("params") != json.loads(json.dumps(params)) or list(array.shape) != meta.get("shape"):
            warnings.warn(f"ignoring cache entry {array_path}: it does not match its sidecar", stacklevel=2)
            return None
        return array

    def put(self, source: str | os.PathLike[str], params: Mapping[str, Any], array: np.ndarray) -> Path:
        """Store ``array`` for ``source`` and ``params`` atomically; returns the ``.npy`` path."""
        key = self.key(source, params)
        array_path, meta_path = self.paths(key)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "source": str(Path(source).resolve()),
            "params": params,
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "rad3d_hf": __version__,
        }
        # Array first, sidecar second: an entry counts only when both exist, so a crash in between leaves a miss.
        _atomic_write(array_path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta, indent=1, sort_keys=True).encode()))
        return array_path

    def get_or_compute(
        self, source: str | os.PathLike[str], params: Mapping[str, Any], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The cached array for ``source`` and ``params``, computing and storing it on a miss."""
        cached = self.get(source, params)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        array = compute()
        self.put(source, params, array)
        return array


def _atomic_write(path: Path, write: Callable[[Any], object]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
