"""PreprocessedCache under faults: a served entry always belongs to the bytes now on disk; no leftovers, no crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rad3d_hf import M3DTransform
from rad3d_hf.volumes.cache import _HOST, PreprocessedCache
from tests.volume_fixtures import ct_like, write_nifti

SIZE = (6, 10, 8)


def _entry(cache_dir: Path) -> tuple[Path, Path]:
    [array] = sorted(cache_dir.rglob("*.npy"))
    return array, array.with_suffix(".json")


def _rewrite_keeping_size_and_mtime(path: Path, data: np.ndarray) -> None:
    stat = path.stat()
    write_nifti(path, data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_file_changed_with_size_and_mtime_restored_is_not_served_stale(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", ct_like(seed=1))  # uncompressed: another volume has the same size
    transform = M3DTransform(size=SIZE, cache=PreprocessedCache(tmp_path / "cache"))
    before = transform(path)
    _rewrite_keeping_size_and_mtime(path, ct_like(seed=2))
    after = transform(path)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, M3DTransform(size=SIZE)(path))


def test_an_entry_computed_while_its_file_changed_is_never_stored_for_the_new_file(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", ct_like(seed=1))
    cache = PreprocessedCache(tmp_path / "cache")
    plain = M3DTransform(size=SIZE)
    old = plain(path)

    def compute_then_file_changes() -> np.ndarray:
        result = plain(path)
        _rewrite_keeping_size_and_mtime(path, ct_like(seed=2))
        return result

    with pytest.warns(UserWarning, match="changed while it was being preprocessed"):
        served = cache.get_or_compute(path, plain.params(), compute_then_file_changes)
    new = plain(path)
    assert not np.array_equal(old, new)
    assert np.array_equal(served, new)  # recomputed from the bytes now on disk
    cached = cache.get(path, plain.params())
    assert cached is None or np.array_equal(cached, new)
    assert np.array_equal(M3DTransform(size=SIZE, cache=cache)(path), new)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: a * np.float32(0.5),  # same shape and dtype, other values
        lambda a: a.astype(np.float64),  # other dtype
        lambda a: np.where(a > 0.5, np.float32(np.nan), a),  # non-finite values
        lambda a: a[..., :-1],  # other shape
    ],
    ids=["values", "dtype", "nan", "shape"],
)
def test_a_tampered_payload_is_detected_and_recomputed(tmp_path: Path, tamper) -> None:  # type: ignore[no-untyped-def]
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache = PreprocessedCache(tmp_path / "cache")
    transform = M3DTransform(size=SIZE, cache=cache)
    good = transform(path)
    array_path, _ = _entry(tmp_path / "cache")
    np.save(array_path, tamper(np.load(array_path)), allow_pickle=False)
    with pytest.warns(UserWarning, match=str(array_path.name)):
        again = transform(path)
    assert np.array_equal(again, good) and cache.hits == 0


@pytest.mark.parametrize("sidecar", ["[1, 2]", '"text"', "3", "null", "{not json"])
def test_a_sidecar_that_is_not_a_json_object_is_a_named_miss(tmp_path: Path, sidecar: str) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    transform = M3DTransform(size=SIZE, cache=PreprocessedCache(tmp_path / "cache"))
    good = transform(path)
    _, meta_path = _entry(tmp_path / "cache")
    meta_path.write_text(sidecar)
    with pytest.warns(UserWarning, match=f"{meta_path.name}.*(not a JSON object|not JSON)"):
        assert np.array_equal(transform(path), good)
    assert isinstance(json.loads(meta_path.read_text()), dict)  # rewritten


_KILLED_WRITER = """
import sys, time
import numpy as np
from rad3d_hf.volumes.cache import _HOST, PreprocessedCache

def stuck_save(handle, array, allow_pickle=False):
    handle.write(b"partial bytes of a large entry")
    handle.flush()
    time.sleep(600)

np.save = stuck_save
cache = PreprocessedCache(sys.argv[1])
cache.put(sys.argv[2], {"recipe": "test"}, np.zeros((4, 4), dtype=np.float32))
"""


def test_temporary_files_of_a_killed_writer_are_cleaned_by_a_later_fill(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(cache_dir), str(path)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not list(cache_dir.rglob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(cache_dir.rglob("*.tmp")), "the writer never started its temporary file"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    other = write_nifti(tmp_path / "w.nii.gz", ct_like(seed=3))
    M3DTransform(size=SIZE, cache=PreprocessedCache(cache_dir))(other)
    assert not list(cache_dir.rglob("*.tmp"))


def test_temporary_files_of_live_writers_are_left_alone(tmp_path: Path) -> None:
    cache = PreprocessedCache(tmp_path / "cache")
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    live = folder / f".abc.npy.{_HOST}-{os.getpid()}-x.tmp"  # this very process is writing it
    live.write_bytes(b"in progress")
    M3DTransform(size=SIZE, cache=cache)(write_nifti(tmp_path / "v.nii.gz", ct_like()))
    assert live.exists()


def test_deleting_the_cache_folder_while_filling_does_not_crash(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = write_nifti(tmp_path / "v.nii.gz", ct_like())
    cache_dir = tmp_path / "cache"
    real_save = np.save

    def save_then_folder_vanishes(handle, array, allow_pickle=False):  # type: ignore[no-untyped-def]
        real_save(handle, array, allow_pickle=allow_pickle)
        shutil.rmtree(cache_dir)  # another user cleared the cache under a running worker

    monkeypatch.setattr(np, "save", save_then_folder_vanishes)
    transform = M3DTransform(size=SIZE, cache=PreprocessedCache(cache_dir))
    with pytest.warns(UserWarning, match="not stored"):
        out = transform(path)
    monkeypatch.setattr(np, "save", real_save)
    assert np.array_equal(out, M3DTransform(size=SIZE)(path))
    assert np.array_equal(transform(path), out)  # and the next fill works
