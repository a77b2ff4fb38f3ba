"""Small NIfTI files written into a test's tmp_path (shared by the volume, transform and cache tests)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

LPS_AFFINE = np.array(
    [[-0.8, 0.0, 0.0, 100.0], [0.0, -0.8, 0.0, 90.0], [0.0, 0.0, 2.0, -50.0], [0.0, 0.0, 0.0, 1.0]]
)


def ct_like(shape: tuple[int, int, int] = (24, 20, 12), *, seed: int = 0) -> np.ndarray:
    """A small int16 HU volume: -1024 field-of-view border, noisy body, one bright block."""
    rng = np.random.default_rng(seed)
    volume = np.full(shape, -1024, dtype=np.int16)
    x, y, z = shape
    volume[2 : x - 3, 3 : y - 2, 1 : z - 1] = rng.integers(-900, 400, size=(x - 5, y - 5, z - 2), dtype=np.int16)
    volume[x // 2 : x // 2 + 2, y // 3 : y // 3 + 2, z // 2] = 1500
    return volume


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray = LPS_AFFINE, **header: float) -> Path:
    image = nib.Nifti1Image(data, affine)
    for key, value in header.items():
        image.header[key] = value
    nib.save(image, path)
    return path
