"""Bad volumes: each fault raises a VolumeError naming the file and what is wrong, also from DataLoader workers."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf import read_volume, read_volume_header
from rad3d_hf.volumes.errors import VolumeError
from tests.volume_fixtures import LPS_AFFINE, ct_like, write_nifti


def _plain(data: np.ndarray) -> bytes:
    return nib.Nifti1Image(data, LPS_AFFINE).to_bytes()


def _truncated_gzip(tmp_path: Path) -> Path:
    blob = gzip.compress(_plain(ct_like((20, 20, 10))))
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(blob[: len(blob) // 2])
    return path


def _wrong_magic(tmp_path: Path) -> Path:
    blob = bytearray(_plain(ct_like()))
    blob[344:348] = b"abc\x00"
    path = tmp_path / "magic.nii.gz"
    path.write_bytes(gzip.compress(bytes(blob)))
    return path


def _not_nifti(tmp_path: Path) -> Path:
    path = tmp_path / "text.nii.gz"
    path.write_bytes(gzip.compress(b"volume,answer\n" * 100))
    return path


def _not_gzip(tmp_path: Path) -> Path:
    path = tmp_path / "plain.nii.gz"
    path.write_bytes(_plain(ct_like()))
    return path


def _short_gz(tmp_path: Path) -> Path:
    blob = _plain(ct_like((20, 20, 10)))
    path = tmp_path / "short.nii.gz"
    path.write_bytes(gzip.compress(blob[:-100]))  # a complete gzip stream holding fewer voxel bytes
    return path


def _short_nii(tmp_path: Path) -> Path:
    path = tmp_path / "short.nii"
    path.write_bytes(_plain(ct_like((20, 20, 10)))[:-100])
    return path


def _short_npy(tmp_path: Path) -> Path:
    path = tmp_path / "short.npy"
    np.save(path, np.zeros((4, 8, 8), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-10])
    return path


def _corrupt_crc(tmp_path: Path) -> Path:
    blob = bytearray(gzip.compress(_plain(ct_like())))
    blob[-8] ^= 0xFF  # CRC32 of the trailer
    path = tmp_path / "crc.nii.gz"
    path.write_bytes(bytes(blob))
    return path


def _nan(tmp_path: Path) -> Path:
    data = ct_like().astype(np.float32)
    data[3, 4, 5] = np.nan
    return write_nifti(tmp_path / "nan.nii.gz", data)


def _inf(tmp_path: Path) -> Path:
    data = ct_like().astype(np.float32)
    data[1, 2, 3] = -np.inf
    return write_nifti(tmp_path / "inf.nii", data)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "absent.nii.gz"


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.nii.gz"
    path.mkdir()
    return path


def _object_npy(tmp_path: Path) -> Path:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


CASES = {
    "truncated gzip": (_truncated_gzip, "truncated gzip stream"),
    "wrong magic": (_wrong_magic, "wrong NIfTI magic"),
    "not nifti": (_not_nifti, "not a NIfTI file"),
    "not gzip": (_not_gzip, "not gzip-compressed"),
    "short .nii.gz": (_short_gz, "data shorter than the header says"),
    "short .nii": (_short_nii, "data shorter than the header says"),
    "short .npy": (_short_npy, "data shorter than the header says"),
    "bad crc": (_corrupt_crc, "corrupt gzip stream"),
    "nan": (_nan, "1 non-finite voxel values (1 NaN, 0 infinite), the first at voxel (3, 4, 5)"),
    "inf": (_inf, "(0 NaN, 1 infinite), the first at voxel (1, 2, 3)"),
    "missing": (_missing, "cannot open: No such file"),
    "directory": (_directory, "cannot open: Is a directory"),
    "pickled objects": (_object_npy, "never unpickled"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_volume_names_file_and_fault(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    path = make(tmp_path)
    with pytest.raises(VolumeError) as caught:
        read_volume(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert caught.value.path == str(path)


def test_header_read_detects_header_faults(tmp_path: Path) -> None:
    for make in (_wrong_magic, _not_gzip, _missing):
        path = make(tmp_path)
        with pytest.raises(VolumeError, match=str(path)):
            read_volume_header(path)


def test_non_finite_check_can_be_turned_off(tmp_path: Path) -> None:
    assert np.isnan(read_volume(_nan(tmp_path), check_finite=False)).sum() == 1


def test_in_memory_image_with_nan() -> None:
    data = np.zeros((3, 3, 3), dtype=np.float32)
    data[0, 0, 0] = np.inf
    with pytest.raises(VolumeError, match="in-memory volume"):
        read_volume(nib.Nifti1Image(data, LPS_AFFINE))


def test_error_pickles_with_its_fields() -> None:
    error = VolumeError.for_file("/data/x.nii.gz", "truncated gzip stream")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.path, copy.reason) == (str(error), "/data/x.nii.gz", "truncated gzip stream")


class _Volumes:
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return read_volume(self.paths[index])


def test_worker_error_reaches_main_process_naming_the_file(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    good = [write_nifti(tmp_path / f"good{i}.nii.gz", ct_like(seed=i)) for i in range(3)]
    bad = _truncated_gzip(tmp_path)
    loader = DataLoader(_Volumes([*good, bad]), batch_size=None, num_workers=2)
    with pytest.raises(VolumeError) as caught:
        list(loader)
    assert "DataLoader worker" in str(caught.value)
    assert f"{bad}: truncated gzip stream" in str(caught.value)
