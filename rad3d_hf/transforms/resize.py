"""Trilinear resizing equal to ``torch.nn.functional.interpolate(mode="trilinear", align_corners=False)``, in numpy.

Trilinear interpolation is separable, so it runs one axis at a time. Along the first axis each output slice needs only
two source slices: gathering those (instead of converting the whole volume to float) is exact and several times faster
than torch on a full CT volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # torch's align_corners=False source index: (o + 0.5) * in/out - 0.5, clamped at 0; neighbours i0, min(i0+1, in-1).
    scale = np.float32(n_in) / np.float32(n_out)
    source = np.maximum((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    i0 = np.minimum(source.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (source - i0).astype(np.float32)
    return i0, i1, (np.float32(1) - w1), w1


def resize_trilinear(volume: np.ndarray, size: Sequence[int], *, clip: tuple[float, float] | None = None) -> np.ndarray:
    """Resize a 3D array to ``size`` exactly as ``interpolate(mode="trilinear", align_corners=False)`` does.

    Trilinear interpolation is separable, so each output slice is interpolated along axis 0 from the only two source
    slices it needs (the full volume is never converted to float), then along axes 1 and 2. ``clip`` clips the source
    voxels before they are interpolated, equal to clipping the whole volume first. Returns float32.
    """
    if volume.ndim != 3 or len(size) != 3:
        raise ValueError(
            f"resize_trilinear needs a 3D volume and a 3D size, got shape {volume.shape} and {tuple(size)}"
        )
    d_out, h_out, w_out = (int(n) for n in size)
    d0, d1, dw0, dw1 = _axis_weights(volume.shape[0], d_out)
    h0, h1, hw0, hw1 = _axis_weights(volume.shape[1], h_out)
    w0, w1, ww0, ww1 = _axis_weights(volume.shape[2], w_out)
    hw0, hw1 = hw0[:, None], hw1[:, None]
    out = np.empty((d_out, h_out, w_out), dtype=np.float32)
    plane = np.empty(volume.shape[1:], dtype=np.float32)
    cache: dict[int, np.ndarray] = {}

    def source_slice(index: int) -> np.ndarray:
        if index not in cache:
            if len(cache) > 2:  # only neighbouring output slices share sources
                cache.pop(next(iter(cache)))
            source = np.array(volume[index], dtype=np.float32)  # a copy, so clipping never touches the volume
            if clip is not None:
                np.clip(source, clip[0], clip[1], out=source)
            cache[index] = source
        return cache[index]

    # One output slice at a time, all three axes, so the working set stays in the CPU cache; np.take with in-place
    # arithmetic avoids temporaries and is several times faster than fancy indexing on the last axis.
    for o in range(d_out):
        np.multiply(source_slice(int(d0[o])), dw0[o], out=plane)
        if dw1[o] != 0:
            plane += source_slice(int(d1[o])) * dw1[o]
        rows = np.take(plane, h0, axis=0)
        rows *= hw0
        other = np.take(plane, h1, axis=0)
        other *= hw1
        rows += other
        left = np.take(rows, w0, axis=1)
        left *= ww0
        right = np.take(rows, w1, axis=1)
        right *= ww1
        np.add(left, right, out=out[o])
    return out
