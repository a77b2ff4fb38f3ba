"""Volumes the header lies about or that cannot become model input: named VolumeErrors, bounded memory."""

from __future__ import annotations

import gzip
import resource
import struct
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf import M3DTransform, read_volume, read_volume_header
from rad3d_hf.volumes.errors import VolumeError
from tests.volume_fixtures import ct_like, write_nifti

SIZE = (6, 10, 8)


def _with_dims(tmp_path: Path, name: str, dims: tuple[int, ...], *, gz: bool) -> Path:
    """A valid small NIfTI whose header's dim field is replaced by ``dims`` (ndim first)."""
    blob = bytearray(nib.Nifti1Image(ct_like(), np.eye(4)).to_bytes())
    struct.pack_into("<8h", blob, 40, *dims, *([1] * (8 - len(dims))))
    path = tmp_path / (name + (".nii.gz" if gz else ".nii"))
    path.write_bytes(gzip.compress(bytes(blob)) if gz else bytes(blob))
    return path


def _raw_nifti(path: Path, data: np.ndarray, **fields: object) -> Path:
    """A NIfTI file whose header fields are written as given (``nib.save`` would recompute scaling and affine)."""
    header = nib.Nifti1Image(data, np.eye(4)).header
    header.set_data_offset(352)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in fields.items():
            header[key] = value
    blob = header.binaryblock + b"\0" * 4 + data.tobytes(order="F")
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


@pytest.fixture
def small_address_space():  # type: ignore[no-untyped-def]
    """Cap this process's address space so that an allocation of the header's claimed size fails loudly."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = 8 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("gz", [True, False], ids=["nii.gz", "nii"])
@pytest.mark.parametrize(
    ("dims", "fault"),
    [
        ((3, 32767, 32767, 32767), r"needs 70362301923326 bytes"),
        ((7, 32767, 32767, 32767, 32767, 32767, 32767, 32767), r"needs \d{30,} bytes"),
        ((3, -5, 10, 10), "negative"),
    ],
    ids=["64TiB", "7d-overflow", "negative"],
)
def test_absurd_header_shapes_are_refused_before_any_allocation(
    tmp_path: Path, dims: tuple[int, ...], fault: str, gz: bool, small_address_space: None
) -> None:
    path = _with_dims(tmp_path, "absurd", dims, gz=gz)
    with pytest.raises(VolumeError, match=fault) as info:
        read_volume(path)
    assert str(path) in str(info.value)


def test_negative_dimension_is_refused_by_the_header_parser(tmp_path: Path) -> None:
    path = _with_dims(tmp_path, "neg", (3, 4, -1, 4), gz=True)
    with pytest.raises(VolumeError, match="negative"):
        read_volume_header(path)


def test_plausible_shapes_still_read(tmp_path: Path) -> None:
    data = ct_like()
    path = write_nifti(tmp_path / "ok.nii.gz", data)
    assert np.array_equal(read_volume(path), data)


def test_scaling_that_overflows_float32_is_a_named_error_in_the_transform(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "slope.nii.gz", ct_like(), scl_slope=1e38, scl_inter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way either
        with pytest.raises(VolumeError, match="float32") as info:
            M3DTransform(size=SIZE)(path)
    assert str(path) in str(info.value)


def test_scaling_to_infinity_in_read_volume_names_the_scaling(tmp_path: Path) -> None:
    path = _raw_nifti(tmp_path / "slope.nii", ct_like().astype(np.float64) * 1e300, scl_slope=1e38, scl_inter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VolumeError, match="scl_slope") as info:
            read_volume(path, check_finite=False)
    assert str(path) in str(info.value)


def test_nan_intercept_is_a_named_error(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "inter.nii.gz", ct_like(), scl_slope=1.0, scl_inter=float("nan"))
    for read in (read_volume_header, read_volume):
        with pytest.raises(VolumeError, match="scl_inter") as info:
            read(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("field", ["srow_x", "quatern_b"])
def test_nan_in_the_affine_is_a_named_error(tmp_path: Path, field: str) -> None:
    codes = {"sform_code": 1, "qform_code": 0} if field == "srow_x" else {"sform_code": 0, "qform_code": 1}
    value = [np.nan, 0.0, 0.0, 0.0] if field == "srow_x" else np.nan
    path = _raw_nifti(tmp_path / "affine.nii.gz", ct_like(), **codes, **{field: value})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VolumeError, match="affine") as info:
            read_volume_header(path)
        assert str(path) in str(info.value)
        with pytest.raises(VolumeError, match="affine"):
            M3DTransform(size=SIZE)(path)


@pytest.mark.parametrize(
    "data",
    [
        ct_like().astype(np.complex64) + 1j,
        np.zeros((8, 8, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")]),
    ],
    ids=["complex", "rgb"],
)
@pytest.mark.parametrize("suffix", [".nii.gz", ".npy"])
def test_complex_and_rgb_voxels_are_named_errors_not_model_input(tmp_path: Path, data: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"odd{suffix}"
    if suffix == ".npy":
        np.save(path, data)
    else:
        write_nifti(path, data)
    with pytest.raises(VolumeError, match="real-valued") as info:
        M3DTransform(size=SIZE)(path)
    assert str(path) in str(info.value)
    with pytest.raises(VolumeError, match="real-valued"):
        M3DTransform(size=SIZE)(data)
