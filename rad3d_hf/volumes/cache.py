"""An opt-in on-disk cache of preprocessed volumes: a served entry always belongs to the bytes now on disk.

Each entry is two files named by a SHA-256 key of the source's resolved path and every transform parameter:
``<key>.npy`` (written with ``allow_pickle=False`` and read the same way, so nothing is ever unpickled) and
``<key>.json``, the sidecar, which records what the entry was made from and what it holds:

- ``source_digest``: an XXH3-128 digest of the source file's bytes, taken before the volume is read and again after
  it was preprocessed. An entry is stored only when both agree (a file that changed meanwhile is preprocessed again),
  and it is served only when the digest of the file as it is now agrees too, so a file rewritten with its size and
  modification time restored is never served stale. **Cost**: every lookup reads the source once more to hash it:
  0.19 s for a 150 MB file from the page cache on the project's 2-core machine (XXH3 itself runs at several GB/s;
  reading the bytes dominates); a miss hashes it twice. A hit still saves inflating and resizing the volume.
- ``payload_digest``, ``shape`` and ``dtype``: the stored array is checked against them, and for finite values, when
  read; an entry that fails any check (or whose sidecar is not a JSON object) is recomputed with a warning naming it.

Writes go to a temporary file in the entry's folder followed by ``os.replace``, which is atomic: DataLoader workers
that compute the same entry at once each write a whole file and one of them wins; a reader never sees a partial entry.
Temporary files are named after their writer's host and process id, and a later fill removes those whose writer is
no longer running (or that are older than a day), so a killed worker leaves nothing behind for long. An entry that
cannot be written (the cache folder deleted under a running worker, a full disk) is not stored, with a warning; the
preprocessed volume is still returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from rad3d_hf import __version__
from rad3d_hf.atomic_files import write_atomically
from rad3d_hf.volumes.errors import VolumeError

_BLOCK = 4 << 20
_STALE_AFTER_S = 24 * 3600
_HOST = os.uname().nodename.replace(".", "_").replace("-", "_") if hasattr(os, "uname") else "host"


def source_digest(path: str | os.PathLike[str]) -> str:
    """The XXH3-128 digest of a file's bytes, as recorded in a cache sidecar."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return "xxh3_128:" + digest.hexdigest()


def payload_digest(array: np.ndarray) -> str:
    """The XXH3-128 digest of an array's C-ordered bytes."""
    return "xxh3_128:" + xxhash.xxh3_128(np.ascontiguousarray(array).data).hexdigest()


class PreprocessedCache:
    """A folder of preprocessed volumes; pass it as ``M3DTransform(cache=PreprocessedCache(folder))``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0
        self._swept = False

    def __repr__(self) -> str:
        return f"PreprocessedCache({str(self.directory)!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Counters are per process; a worker starts its own (and sweeps stale temporary files once).
        return {"directory": self.directory, "hits": 0, "misses": 0, "_swept": False}

    def key(self, source: str | os.PathLike[str], params: Mapping[str, Any]) -> str:
        """The entry name for ``source`` preprocessed with ``params`` (the content is checked by the sidecar)."""
        identity = {"source": str(Path(source).resolve()), "params": params}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def paths(self, key: str) -> tuple[Path, Path]:
        folder = self.directory / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def get(self, source: str | os.PathLike[str], params: Mapping[str, Any]) -> np.ndarray | None:
        """The cached array, or None when there is no complete entry matching the file's current bytes."""
        return self._lookup(source, params, source_digest(source))

    def put(
        self,
        source: str | os.PathLike[str],
        params: Mapping[str, Any],
        array: np.ndarray,
        *,
        digest: str | None = None,
    ) -> Path:
        """Store ``array`` for ``source`` (whose bytes hash to ``digest``, hashed now if not given) and ``params``
        atomically; returns the ``.npy`` path. OSError when the entry cannot be written."""
        resolved = Path(source).resolve()
        array_path, meta_path = self.paths(self.key(source, params))
        meta = {
            "source": str(resolved),
            "source_digest": digest or source_digest(resolved),
            "params": params,
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "payload_digest": payload_digest(array),
            "rad3d_hf": __version__,
        }
        if not self._swept:
            self._swept = True
            self.remove_stale_temporary_files()
        # Array first, sidecar second: an entry counts only when both exist, so a crash in between leaves a miss.
        array_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(array_path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta, indent=1, sort_keys=True).encode()))
        return array_path

    def get_or_compute(
        self, source: str | os.PathLike[str], params: Mapping[str, Any], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """The cached array for ``source`` and ``params``, computing and storing it on a miss.

        The file is hashed before and after ``compute``: if it changed meanwhile, the volume is computed again from
        the new bytes (a VolumeError if it keeps changing), so neither the result nor the entry mixes versions."""
        before = source_digest(source)
        cached = self._lookup(source, params, before)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        array = compute()
        after = source_digest(source)
        if after != before:
            warnings.warn(f"{source} changed while it was being preprocessed; preprocessing it again", stacklevel=2)
            before, array = after, compute()
            if source_digest(source) != before:
                raise VolumeError.for_file(source, "keeps changing while it is being read")
        try:
            self.put(source, params, array, digest=before)
        except OSError as error:
            warnings.warn(f"cache entry for {source} not stored in {self.directory}: {error}", stacklevel=2)
        return array

    def remove_stale_temporary_files(self) -> int:
        """Remove temporary files left by writers that are no longer running (or older than a day); their count."""
        removed = 0
        for temporary in self.directory.glob("*/.*.tmp"):
            if _is_stale(temporary):
                try:
                    temporary.unlink()
                    removed += 1
                except FileNotFoundError:  # another process removed it first
                    continue
        return removed

    def _lookup(self, source: str | os.PathLike[str], params: Mapping[str, Any], digest: str) -> np.ndarray | None:
        array_path, meta_path = self.paths(self.key(source, params))
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, ValueError) as error:
            _warn_ignored(meta_path, f"its sidecar is unreadable or not JSON ({error})")
            return None
        if not isinstance(meta, dict):
            _warn_ignored(meta_path, f"its sidecar is not a JSON object (a {type(meta).__name__})")
            return None
        if meta.get("params") != json.loads(json.dumps(params)) or meta.get("source") != str(Path(source).resolve()):
            _warn_ignored(array_path, "it does not match its sidecar")
            return None
        if meta.get("source_digest") != digest:
            return None  # made from other bytes than the file now holds: a plain miss, overwritten by the next put
        try:
            array = np.load(array_path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as error:
            _warn_ignored(array_path, f"unreadable cache entry ({error})")
            return None
        if list(array.shape) != meta.get("shape") or str(array.dtype) != meta.get("dtype"):
            _warn_ignored(array_path, f"its {array.dtype} {array.shape} array does not match its sidecar")
            return None
        if payload_digest(array) != meta.get("payload_digest"):
            _warn_ignored(array_path, "its payload does not match the checksum in its sidecar")
            return None
        if array.dtype.kind == "f" and array.size and not (np.isfinite(array.min()) and np.isfinite(array.max())):
            _warn_ignored(array_path, "it holds non-finite values")
            return None
        return array


def _warn_ignored(path: Path, why: str) -> None:
    warnings.warn(f"ignoring cache entry {path} and preprocessing again: {why}", stacklevel=3)


def _is_stale(temporary: Path) -> bool:
    """Whether a temporary file's writer (named in the file name) is gone, or the file is older than a day."""
    try:
        age = time.time() - temporary.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > _STALE_AFTER_S:
        return True
    # ".<entry>.<host>-<pid>-<random>.tmp"
    writer = temporary.name[: -len(".tmp")].rsplit(".", 1)[-1].split("-")
    if len(writer) < 3 or writer[0] != _HOST or not writer[1].isdigit():
        return False  # another host's writer, or not ours: only age can tell
    try:
        os.kill(int(writer[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _atomic_write(path: Path, write: Callable[[Any], object]) -> None:
    # the writer's host and pid in the temporary name: what _is_stale reads
    write_atomically(path, write, tag=f"{_HOST}-{os.getpid()}-")
