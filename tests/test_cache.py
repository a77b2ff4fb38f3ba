"""PreprocessedCache: hits, invalidation by parameter and by file, atomic writes, workers, never unpickling."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rad3d_hf import M3DTransform
from rad3d_hf.volumes.cache import PreprocessedCache
from tests.volume_fixtures import ct_like, write_nifti

SIZE = (6, 10, 8)


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.npy"))


def test_hit_after_miss_gives_the_same_array(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache = PreprocessedCache(tmp_path / "cache")
    transform = M3DTransform(size=SIZE, cache=cache)
    first = transform(path)
    second = transform(path)
    assert (cache.misses, cache.hits) == (1, 1)
    assert np.array_equal(first, second) and np.array_equal(first, M3DTransform(size=SIZE)(path))
    [entry] = _entries(tmp_path / "cache")
    sidecar = json.loads(entry.with_suffix(".json").read_text())
    assert sidecar["params"] == transform.params() and sidecar["source"] == str(path.resolve())
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_parameter_change_invalidates(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache = PreprocessedCache(tmp_path / "cache")
    plain = M3DTransform(size=SIZE, cache=cache)(path)
    windowed = M3DTransform(size=SIZE, window=(-500, 500), cache=cache)(path)
    uncropped = M3DTransform(size=SIZE, crop_foreground=False, cache=cache)(path)
    assert cache.hits == 0 and len(_entries(tmp_path / "cache")) == 3
    assert not np.array_equal(plain, windowed) and not np.array_equal(plain, uncropped)
    assert np.array_equal(M3DTransform(size=SIZE, window=(-500, 500), cache=cache)(path), windowed)
    assert cache.hits == 1


def test_changed_file_invalidates(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like(seed=1))
    cache = PreprocessedCache(tmp_path / "cache")
    transform = M3DTransform(size=SIZE, cache=cache)
    before = transform(path)
    write_nifti(path, ct_like(seed=2))
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000))
    after = transform(path)
    assert cache.hits == 0 and not np.array_equal(before, after)
    assert np.array_equal(after, M3DTransform(size=SIZE)(path))


def test_never_unpickles_and_skips_broken_entries(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache = PreprocessedCache(tmp_path / "cache")
    transform = M3DTransform(size=SIZE, cache=cache)
    good = transform(path)
    [entry] = _entries(tmp_path / "cache")
    np.save(entry, np.array([{"payload": 1}], dtype=object), allow_pickle=True)  # a pickle planted in the cache
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        assert np.array_equal(transform(path), good)  # recomputed, not unpickled
    assert np.load(entry, allow_pickle=False).shape == good.shape  # and rewritten
    entry.with_suffix(".json").write_text(json.dumps({"params": {"other": 1}, "shape": [1]}))
    with pytest.warns(UserWarning, match="does not match its sidecar"):
        assert np.array_equal(transform(path), good)


def test_arrays_are_not_cached(tmp_path: Path) -> None:
    cache = PreprocessedCache(tmp_path / "cache")
    M3DTransform(size=SIZE, cache=cache)(ct_like())
    assert (cache.hits, cache.misses) == (0, 0) and not (tmp_path / "cache").exists()


class _Same:
    """Every item is the same volume, so two workers race to write one entry."""

    def __init__(self, path: Path, transform: M3DTransform) -> None:
        self.path, self.transform = path, transform

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> np.ndarray:
        return self.transform(self.path)


def test_two_workers_share_one_cache(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    path = write_nifti(tmp_path / "v.nii.gz", ct_like((30, 28, 20)))
    transform = M3DTransform(size=SIZE, cache=PreprocessedCache(tmp_path / "cache"))
    outputs = list(DataLoader(_Same(path, transform), batch_size=None, num_workers=2))
    expected = M3DTransform(size=SIZE)(path)
    assert all(np.array_equal(o.numpy(), expected) for o in outputs)
    assert len(_entries(tmp_path / "cache")) == 1
    assert not list((tmp_path / "cache").rglob("*.tmp"))
