"""Decoding: bit-equal to nibabel, header-only reads, laziness and worker pickling of dataset rows."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf import read_volume, read_volume_header
from rad3d_hf.volumes.decode import image_path
from tests.volume_fixtures import LPS_AFFINE, ct_like, write_nifti

SHAPES = [(5, 4, 3), (17, 9, 31), (64, 48, 7), (3, 3, 3, 2)]
DTYPES = ["int16", "uint8", "int32", "float32", "float64", ">i2", "uint16"]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bit_equal_to_nibabel(tmp_path: Path, suffix: str, dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    data = (rng.normal(size=shape) * 100).astype(dtype) if "f" in dtype else rng.integers(0, 200, shape).astype(dtype)
    path = write_nifti(tmp_path / f"v{suffix}", data)
    ours = read_volume(path)
    reference = np.asanyarray(nib.load(path).dataobj)
    assert ours.dtype == reference.dtype
    assert ours.shape == reference.shape
    assert ours.tobytes() == reference.tobytes()
    assert ours.flags.f_contiguous


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_header_scaling_applied_like_nibabel(tmp_path: Path, suffix: str) -> None:
    raw = np.arange(60, dtype=np.uint16).reshape(5, 4, 3)
    blob = bytearray(nib.Nifti1Image(raw, LPS_AFFINE).to_bytes())
    blob[112:120] = np.array([2.5, -1024], dtype="<f4").tobytes()  # scl_slope, scl_inter (nibabel resets them on save)
    path = tmp_path / f"scaled{suffix}"
    path.write_bytes(gzip.compress(bytes(blob)) if suffix.endswith(".gz") else bytes(blob))
    reference = np.asanyarray(nib.load(path).dataobj)
    ours = read_volume(path)
    assert ours.dtype == reference.dtype and ours.dtype.kind == "f"
    assert ours.tobytes() == reference.tobytes()
    assert read_volume_header(path).slope == 2.5


def test_nifti2_and_extensions(tmp_path: Path) -> None:
    data = ct_like((6, 5, 4))
    image = nib.Nifti2Image(data, LPS_AFFINE)
    nib.save(image, tmp_path / "two.nii.gz")
    image1 = nib.Nifti1Image(data, LPS_AFFINE)
    image1.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"x" * 300))
    nib.save(image1, tmp_path / "ext.nii.gz")
    for name in ("two.nii.gz", "ext.nii.gz"):
        path = tmp_path / name
        assert np.array_equal(read_volume(path), np.asanyarray(nib.load(path).dataobj))
    assert read_volume_header(tmp_path / "ext.nii.gz").data_offset > 352


def test_multi_member_gzip(tmp_path: Path) -> None:
    data = ct_like((8, 6, 5))
    plain = nib.Nifti1Image(data, LPS_AFFINE).to_bytes()
    path = tmp_path / "members.nii.gz"
    path.write_bytes(gzip.compress(plain[:500]) + gzip.compress(plain[500:]))
    assert np.array_equal(read_volume(path), data)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_header_only(tmp_path: Path, suffix: str) -> None:
    data = ct_like((30, 20, 10))
    path = write_nifti(tmp_path / f"h{suffix}", data)
    header = read_volume_header(path)
    image = nib.load(path)
    assert header.shape == (30, 20, 10)
    assert header.dtype == np.dtype("int16")
    assert np.allclose(header.affine, image.affine)
    assert header.spacing == pytest.approx((0.8, 0.8, 2.0))
    assert header.axis_codes == ("L", "P", "S")
    assert (header.slope, header.intercept) in ((None, None), (1.0, 0.0))  # nibabel writes 1, 0
    assert header.nbytes == data.nbytes


def test_header_only_inflates_only_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rad3d_hf.volumes import gzip_stream

    path = write_nifti(tmp_path / "big.nii.gz", np.zeros((128, 128, 64), dtype=np.int16))
    inflated: list[int] = []
    real = gzip_stream.inflate_lib.decompressobj

    class Counting:
        def __init__(self, **kwargs: int) -> None:
            self.inner = real(**kwargs)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self.inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    monkeypatch.setattr(gzip_stream.inflate_lib, "decompressobj", Counting)
    assert read_volume_header(path).shape == (128, 128, 64)
    assert sum(inflated) < 128 * 128 * 64 * 2 // 8


def test_zlib_fallback_and_memory_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    from rad3d_hf.volumes import gzip_stream

    data = ct_like((12, 10, 8))
    monkeypatch.setattr(gzip_stream, "inflate_lib", zlib)  # as where isal is not installed
    assert np.array_equal(read_volume(write_nifti(tmp_path / "z.nii.gz", data)), data)
    mapped = read_volume(write_nifti(tmp_path / "m.nii", data))
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, data)


def test_header_read_never_loads_through_nibabel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # nib.load would pick indexed_gzip where installed, which makes header reads ~25x slower.
    path = write_nifti(tmp_path / "h.nii.gz", ct_like())
    monkeypatch.setattr(nib, "load", lambda *a, **k: pytest.fail("nib.load called"))
    assert read_volume_header(path).shape == ct_like().shape
    assert np.array_equal(read_volume(path), ct_like())


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".npy"])
def test_fsspec_urls(tmp_path: Path, suffix: str) -> None:
    import fsspec

    data = ct_like((9, 8, 7))
    local = tmp_path / f"v{suffix}"
    np.save(local, data) if suffix == ".npy" else write_nifti(local, data)
    url = f"memory://volumes/{local.name}"
    with fsspec.open(url, "wb") as f:
        f.write(local.read_bytes())
    assert np.array_equal(read_volume(url), read_volume(local))
    assert read_volume_header(url).shape == data.shape
    fsspec.filesystem("memory").rm(url)


def test_npy(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((1, 8, 16, 16), dtype=np.float32)
    np.save(tmp_path / "m3d.npy", data)
    assert np.array_equal(read_volume(tmp_path / "m3d.npy"), data)
    header = read_volume_header(tmp_path / "m3d.npy")
    assert header.shape == (1, 8, 16, 16) and header.affine is None and header.format == "npy"


def test_nibabel_image_input(tmp_path: Path) -> None:
    data = ct_like((9, 8, 7))
    path = write_nifti(tmp_path / "img.nii.gz", data)
    loaded = nib.load(path)
    assert image_path(loaded) == str(path)
    assert np.array_equal(read_volume(loaded), data)
    in_memory = nib.Nifti1Image(data.astype(np.float32), LPS_AFFINE)
    assert image_path(in_memory) is None
    assert np.array_equal(read_volume(in_memory), data.astype(np.float32))


def _nifti_dataset(paths: list[Path]):
    from datasets import Dataset, Features, Nifti, Value

    return Dataset.from_dict(
        {"id": [p.name.split(".")[0] for p in paths], "volume": [str(p) for p in paths]},
        features=Features({"id": Value("string"), "volume": Nifti()}),
    )


def test_dataset_rows_stay_lazy_and_pickle(tmp_path: Path) -> None:
    from nibabel.arrayproxy import ArrayProxy

    path = write_nifti(tmp_path / "lazy.nii.gz", ct_like((10, 9, 8)))
    image = _nifti_dataset([path])[0]["volume"]
    assert isinstance(image.dataobj, ArrayProxy)  # no voxels read by decoding the row
    assert image.shape == (10, 9, 8)
    assert image.header.get_zooms() == pytest.approx((0.8, 0.8, 2.0))
    blob = pickle.dumps(image)
    assert len(blob) < 20_000
    restored = pickle.loads(blob)
    assert isinstance(restored.dataobj, ArrayProxy)
    assert np.array_equal(read_volume(restored), read_volume(path))


def _read_in_worker(item: dict) -> dict:
    return {"id": item["id"], "voxels": read_volume(item["volume"])}


def _identity(batch: list) -> list:
    return batch


def test_rows_decode_in_two_dataloader_workers(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    paths = [write_nifti(tmp_path / f"w{i}.nii.gz", ct_like((8, 7, 6), seed=i)) for i in range(4)]
    dataset = _nifti_dataset(paths)
    loader = DataLoader(_Mapped(dataset), batch_size=None, num_workers=2, collate_fn=_identity)
    seen = {item["id"]: item["voxels"] for item in loader}
    assert sorted(seen) == [f"w{i}" for i in range(4)]
    for p in paths:
        assert np.array_equal(seen[p.name.split(".")[0]], np.asanyarray(nib.load(p).dataobj))


class _Mapped:
    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return _read_in_worker(self.dataset[index])
