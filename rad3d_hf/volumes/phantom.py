"""Synthetic chest-CT phantoms for tests and benchmarks: int16 Hounsfield units with air, body, lungs, heart and bone.

The voxels follow CT-RATE's corrected release: an ``(x, y, z)`` array whose axes point to the patient's Left,
Posterior and Superior (axis codes ``L, P, S``), int16 HU, air at -1000 and -1024 outside the scanner's field of view.
Acquisition noise (seeded) makes the file compress about as well as real CT does (gzip ratio near 0.5).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FIELD_OF_VIEW_HU = -1024


def ct_phantom(
    shape: tuple[int, int, int] = (512, 512, 300),
    *,
    spacing: tuple[float, float, float] = (0.75, 0.75, 1.5),
    noise_hu: float = 20.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """An int16 HU chest phantom of ``shape`` (x, y, z) and its LPS affine; same seed, same voxels."""
    nx, ny, nz = shape
    rng = np.random.default_rng(seed)
    x = (np.arange(nx) - (nx - 1) / 2) / (nx / 2)  # -1 (patient's right) .. 1 (left)
    y = (np.arange(ny) - (ny - 1) / 2) / (ny / 2)  # -1 (anterior) .. 1 (posterior)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    fov = xx**2 + yy**2 <= 1.0
    ellipse = (xx / 0.85) ** 2 + (yy / 0.62) ** 2
    body = ellipse <= 1.0
    base = np.full((nx, ny), -1000.0, dtype=np.float32)
    base[body] = 40.0  # soft tissue
    base[body & (ellipse > 0.8)] = -90.0  # subcutaneous fat
    base[(xx / 0.09) ** 2 + ((yy - 0.42) / 0.09) ** 2 <= 1.0] = 700.0  # vertebra
    rib_band = body & ((xx / 0.8) ** 2 + (yy / 0.58) ** 2 > 0.86)
    angle = np.arctan2(yy, xx)
    volume = np.empty(shape, dtype=np.int16, order="F")
    for k in range(nz):
        t = (k + 0.5) / nz  # 0 at the feet end, 1 at the head end
        plane = base.copy()
        lung_r = (0.55 + 0.35 * t) * 0.34
        for side in (-1.0, 1.0):
            plane[((xx - side * 0.38) / lung_r) ** 2 + ((yy + 0.02) / (lung_r * 1.45)) ** 2 <= 1.0] = -850.0
        if 0.15 < t < 0.7:  # the heart sits left of the midline (x grows toward the patient's left)
            heart_r = 0.22 * np.sin(np.pi * (t - 0.15) / 0.55)
            plane[((xx - 0.08) / heart_r) ** 2 + ((yy + 0.18) / (heart_r * 0.8)) ** 2 <= 1.0] = 45.0
        plane[rib_band & (np.sin(18 * angle + 9 * t) > 0.6)] = 450.0
        plane += rng.standard_normal(plane.shape, dtype=np.float32) * np.float32(noise_hu)
        np.maximum(plane, FIELD_OF_VIEW_HU, out=plane)  # scanners clip at -1024
        plane[~fov] = FIELD_OF_VIEW_HU
        volume[:, :, k] = np.rint(plane).astype(np.int16)
    # x grows toward the patient's left and y toward the back: negative diagonal in nibabel's RAS+ world (L, P, S).
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [(nx - 1) * spacing[0] / 2, (ny - 1) * spacing[1] / 2, -(nz - 1) * spacing[2] / 2]
    return volume, affine


def write_ct_phantom(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int] = (512, 512, 300),
    *,
    spacing: tuple[float, float, float] = (0.75, 0.75, 1.5),
    seed: int = 0,
) -> Path:
    """Write :func:`ct_phantom` as NIfTI-1 (``.nii`` or ``.nii.gz``, by suffix) and return the path."""
    import nibabel as nib

    volume, affine = ct_phantom(shape, spacing=spacing, seed=seed)
    image = nib.Nifti1Image(volume, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path = Path(path)
    if path.name.endswith(".gz"):
        # ISA-L at its fastest level writes a standard gzip stream several times faster than nibabel's zlib.
        from isal import igzip

        path.write_bytes(igzip.compress(image.to_bytes(), compresslevel=1))
    else:
        nib.save(image, path)
    return path
