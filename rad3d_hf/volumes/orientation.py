"""Reorient NIfTI voxels to the ``(D, H, W)`` layout of the model input (axis codes ``I, P, L``).

``D`` runs from the head to the feet, ``H`` from anterior to posterior and ``W`` from the patient's right to left, so
each ``[d]`` slice is an axial image in the radiological convention (seen from the feet: the patient's right on the
image's left, anterior at the top).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DHW_AXIS_CODES: tuple[str, str, str] = ("I", "P", "L")


def orient_dhw(volume: np.ndarray, affine: np.ndarray | None) -> np.ndarray:
    """A view of an ``(x, y, z)`` NIfTI array in ``(D, H, W)`` order (axis codes ``I, P, L``); no copy.

    Without an affine the array is returned unchanged (it is taken to be ``(D, H, W)`` already).
    """
    if affine is None:
        return volume
    from nibabel import orientations

    start = orientations.io_orientation(affine)
    end = orientations.axcodes2ornt(DHW_AXIS_CODES)
    return orientations.apply_orientation(volume, orientations.ornt_transform(start, end))


def dhw_spacing(spacing: Sequence[float], affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel spacing along ``(D, H, W)`` from the ``(x, y, z)`` spacing of a NIfTI header."""
    from nibabel import orientations

    start = orientations.io_orientation(affine)
    transform = orientations.ornt_transform(start, orientations.axcodes2ornt(DHW_AXIS_CODES))
    order = [0, 0, 0]
    for source_axis, (target_axis, _flip) in enumerate(transform):
        order[int(target_axis)] = source_axis
    return tuple(float(spacing[i]) for i in order)  # type: ignore[return-value]
