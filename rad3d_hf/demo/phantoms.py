"""Synthetic chest-CT phantoms in Hounsfield units, written as CT-RATE-like NIfTI files.

A phantom is painted structure by structure onto an air background: body (fat rim, soft tissue), spine, lungs, heart,
aorta, trachea, then the scan's findings, nodules last. Small structures are painted with their partial-volume
fraction (sub-voxel sampling), so a nodule's size survives the coarse grid. Seeded Gaussian noise follows;
reconstruction 2 stands for a sharper kernel and is noisier.

Files match CT-RATE's corrected release: int16 HU, axis codes ``L, P, S``, axial slices along the third axis, gzip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from rad3d_hf.demo.findings import NODULE_HU, Ellipsoid, Grid, PatientTruth, ScanTruth, rng_for
from rad3d_hf.demo.more_findings import paint_lung_patterns, paint_structures

AIR_HU = -1000
FAT_HU = -100
SOFT_TISSUE_HU = 40
LUNG_HU = -850
EMPHYSEMA_HU = -950
BLOOD_HU = 45
BONE_HU = 700
FLUID_HU = 12
CONSOLIDATION_HU = 30
CALCIUM_HU = 900
CALCIUM_MM = 5.0  # radius of a calcified plaque: a few voxels of the coarse demo grid
# Cortical bone and metal share one density, so every phantom has the same maximum and M3D's min-max normalisation
# maps each HU value to the same input intensity in every volume (with metal above bone, a pacemaker would darken
# the whole normalised image: a cue that is not in the anatomy).
CORTEX_HU = 1900
METAL_HU = CORTEX_HU
CORTEX_MM = 6.0
PACEMAKER_MM = (44, 10, 40)  # a pacemaker generator's width, depth and height
NOISE_SD_HU = {1: 12.0, 2: 28.0}

Mask = Callable[[Any, Any, Any], Any]


class _Canvas:
    """A float HU volume plus the world coordinates of its voxel centres."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.hu = np.full(grid.shape, AIR_HU, dtype=np.float32)
        aff = grid.affine
        nx, ny, nz = grid.shape
        self.x = (aff[0, 0] * np.arange(nx) + aff[0, 3]).reshape(-1, 1, 1)
        self.y = (aff[1, 1] * np.arange(ny) + aff[1, 3]).reshape(1, -1, 1)
        self.z = (aff[2, 2] * np.arange(nz) + aff[2, 3]).reshape(1, 1, -1)

    def paint(self, mask: Mask, hu: float) -> None:
        """Set voxels whose centre lies inside ``mask`` to ``hu``."""
        inside = np.broadcast_to(mask(self.x, self.y, self.z), self.hu.shape)
        self.hu[inside] = hu

    def paint_fraction(
        self, mask: Mask, hu: float, lo: tuple[float, float, float], hi: tuple[float, float, float], samples: int = 3
    ) -> None:
        """Blend ``hu`` in by the fraction of each voxel inside ``mask``, within the world box ``lo``..``hi``."""
        corners = np.array([self.grid.to_voxel(p) for p in _box_corners(lo, hi)])
        start = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 1, 0)
        stop = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, self.grid.shape)
        if np.any(stop <= start):
            return
        offsets = (np.arange(samples) + 0.5) / samples - 0.5
        aff = self.grid.affine
        coords = []
        for axis in range(3):
            idx = np.arange(start[axis], stop[axis])[:, None] + offsets[None, :]
            coords.append(aff[axis, axis] * idx + aff[axis, 3])
        # shape (nx, s, ny, s, nz, s): sub-voxel samples per voxel, averaged below
        x = coords[0].reshape(-1, samples, 1, 1, 1, 1)
        y = coords[1].reshape(1, 1, -1, samples, 1, 1)
        z = coords[2].reshape(1, 1, 1, 1, -1, samples)
        fraction = np.broadcast_to(mask(x, y, z), (x.shape[0], samples, y.shape[2], samples, z.shape[4], samples))
        fraction = fraction.mean(axis=(1, 3, 5), dtype=np.float32)
        region = self.hu[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
        region += fraction * (np.float32(hu) - region)


def _box_corners(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    return [(a, b, c) for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])]


def _ellipsoid_box(e: Ellipsoid) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    lo = tuple(c - s for c, s in zip(e.centre, e.semi))
    hi = tuple(c + s for c, s in zip(e.centre, e.semi))
    return lo, hi  # type: ignore[return-value]


def _paint_ellipsoid(canvas: _Canvas, e: Ellipsoid, hu: float) -> None:
    canvas.paint_fraction(lambda x, y, z: e.normalised(x, y, z) <= 1.0, hu, *_ellipsoid_box(e))


def render_scan(patient: PatientTruth, scan: ScanTruth, reconstruction: int, seed: int) -> np.ndarray:
    """The int16 HU volume of one reconstruction of one scan (axes ``L, P, S``)."""
    a = patient.anatomy
    canvas = _Canvas(patient.grid)
    bx, by = a.body_semi
    canvas.paint(lambda x, y, z: (x / bx) ** 2 + (y / by) ** 2 <= 1.0, FAT_HU)
    ix, iy = bx - a.fat_mm, by - a.fat_mm
    canvas.paint(lambda x, y, z: (x / ix) ** 2 + (y / iy) ** 2 <= 1.0, SOFT_TISSUE_HU)
    sx0, sy0 = a.spine_centre
    canvas.paint(lambda x, y, z: (x - sx0) ** 2 + (y - sy0) ** 2 <= a.spine_radius**2, CORTEX_HU)
    inner = a.spine_radius - CORTEX_MM
    canvas.paint(lambda x, y, z: (x - sx0) ** 2 + (y - sy0) ** 2 <= inner**2, BONE_HU)

    for lung in a.lungs.values():
        canvas.paint(lambda x, y, z, lung=lung: lung.normalised(x, y, z) <= 1.0, LUNG_HU)  # type: ignore[misc]
        if scan.has("Emphysema"):
            # low attenuation in the upper zones
            upper_z = lung.centre[2] + 0.3 * lung.semi[2]
            canvas.paint(
                lambda x, y, z, lung=lung, upper_z=upper_z: (lung.normalised(x, y, z) <= 0.8) & (z > upper_z),  # type: ignore[misc]
                EMPHYSEMA_HU,
            )
    lung_mask = np.zeros(canvas.hu.shape, dtype=bool)
    for lung in a.lungs.values():
        lung_mask |= np.broadcast_to(lung.normalised(canvas.x, canvas.y, canvas.z) <= 1.0, canvas.hu.shape)

    heart = a.heart_for(scan.has("Cardiomegaly"))
    if scan.pericardial_effusion_mm is not None:
        _paint_ellipsoid(canvas, heart.grown(scan.pericardial_effusion_mm), FLUID_HU)
    _paint_ellipsoid(canvas, heart, BLOOD_HU)
    if scan.has("Coronary artery wall calcification"):
        hx, hy, hz = heart.centre
        for dz in (-0.3, 0.25):
            spot = Ellipsoid(
                (hx - 0.5 * heart.semi[0], hy + 0.8 * heart.semi[1], hz + dz * heart.semi[2]), (CALCIUM_MM,) * 3
            )
            _paint_ellipsoid(canvas, spot, CALCIUM_HU)

    ax0, ay0, r = *a.aorta_centre, a.aorta_radius
    z_lo, z_hi = float(canvas.z.min()), 60.0
    canvas.paint_fraction(
        lambda x, y, z: ((x - ax0) ** 2 + (y - ay0) ** 2 <= r**2) & (z <= z_hi),
        BLOOD_HU,
        (ax0 - r, ay0 - r, z_lo),
        (ax0 + r, ay0 + r, z_hi),
        samples=3,
    )
    if scan.has("Arterial wall calcification"):
        for angle, z in ((0.6, -60.0), (2.2, 0.0), (4.0, 40.0)):
            spot = Ellipsoid((ax0 + r * np.cos(angle), ay0 + r * np.sin(angle), z), (CALCIUM_MM,) * 3)
            _paint_ellipsoid(canvas, spot, CALCIUM_HU)
    tx, ty, tr = *a.trachea_centre, a.trachea_radius
    canvas.paint_fraction(
        lambda x, y, z: ((x - tx) ** 2 + (y - ty) ** 2 <= tr**2) & (z >= a.trachea_bottom_z),
        AIR_HU,
        (tx - tr, ty - tr, a.trachea_bottom_z),
        (tx + tr, ty + tr, float(canvas.z.max())),
        samples=3,
    )

    lung_mask &= canvas.hu < -500
    # the parenchymal patterns change only normal lung (emphysema keeps its low attenuation)
    paint_lung_patterns(canvas, patient, scan, lung_mask & (canvas.hu == LUNG_HU))
    paint_structures(canvas, patient, scan, lung_mask)
    if scan.pleural_effusion is not None:
        _paint_pleural_effusion(canvas, patient, scan, lung_mask)
    if scan.consolidation is not None:
        c = scan.consolidation
        ball = Ellipsoid(c.centre_mm, (c.radius_mm,) * 3)
        lung = a.lungs[c.lobe.side]
        canvas.paint_fraction(
            lambda x, y, z: (ball.normalised(x, y, z) <= 1.0) & (lung.normalised(x, y, z) <= 1.0),
            CONSOLIDATION_HU,
            *_ellipsoid_box(ball),
        )
    if scan.has("Medical material"):
        # a pacemaker can in the left anterior chest-wall fat
        px = -0.45 * bx
        py = by * np.sqrt(1.0 - (px / bx) ** 2) - a.fat_mm / 2
        (wx, wy, wz), cz = (v / 2 for v in PACEMAKER_MM), 77.0
        lo, hi = (px - wx, py - wy, cz - wz), (px + wx, py + wy, cz + wz)
        canvas.paint_fraction(
            lambda x, y, z: (abs(x - px) <= wx) & (abs(y - py) <= wy) & (abs(z - cz) <= wz), METAL_HU, lo, hi
        )
    for nodule in scan.nodules:
        _paint_ellipsoid(canvas, Ellipsoid(nodule.centre_mm, nodule.semi_axes_mm), NODULE_HU)

    split_key = 1 if patient.split == "test" else 0
    noise_rng = rng_for(seed, 3, patient.patient_id, ord(scan.letter), reconstruction, split_key)
    noise = noise_rng.standard_normal(canvas.hu.shape, dtype=np.float32)
    noise *= np.float32(NOISE_SD_HU.get(reconstruction, 20.0))
    hu = np.rint(canvas.hu + noise)
    return np.clip(hu, -1024, 3071).astype(np.int16)


def _paint_pleural_effusion(canvas: _Canvas, patient: PatientTruth, scan: ScanTruth, lung_mask: np.ndarray) -> None:
    """Fluid filling the dependent (posterior) ``thickness_voxels`` of each basal column of one lung."""
    effusion = scan.pleural_effusion
    assert effusion is not None
    a = patient.anatomy
    lung = a.lungs[effusion.side]
    side_mask = lung_mask & np.broadcast_to(lung.normalised(canvas.x, canvas.y, canvas.z) <= 1.0, lung_mask.shape)
    side_mask &= np.broadcast_to(canvas.z < a.basal_z(effusion.side), lung_mask.shape)
    # j grows posteriorly (axis code P): the last lung voxel of a column is its most dependent one
    j = np.arange(lung_mask.shape[1]).reshape(1, -1, 1)
    last = np.where(side_mask, j, -1).max(axis=1, keepdims=True)
    fluid = side_mask & (j > last - effusion.thickness_voxels)
    canvas.hu[fluid] = FLUID_HU


def nifti_bytes(volume: np.ndarray, grid: Grid) -> bytes:
    """An uncompressed NIfTI-1 file: int16 HU, the grid's affine as sform and qform, millimetre units."""
    import nibabel as nib

    img = nib.Nifti1Image(volume, grid.affine)
    header = img.header
    header.set_data_dtype(np.int16)
    header.set_xyzt_units("mm", "sec")
    header.set_zooms(grid.spacing)
    img.set_sform(grid.affine, code=1)
    img.set_qform(grid.affine, code=1)
    header["scl_slope"] = 1.0
    header["scl_inter"] = 0.0
    header["descrip"] = b"rad3d_hf demo phantom (synthetic)"
    return bytes(img.to_bytes())


def write_volume(path: str | os.PathLike[str], volume: np.ndarray, grid: Grid) -> None:
    """Write ``path`` (``.nii.gz``) reproducibly: the gzip header carries no time stamp.

    ISA-L's gzip (a core dependency) is several times faster than zlib here; the output is standard gzip.
    """
    from isal import igzip

    with open(path, "wb") as f:
        f.write(igzip.compress(nifti_bytes(volume, grid), compresslevel=1, mtime=0))
