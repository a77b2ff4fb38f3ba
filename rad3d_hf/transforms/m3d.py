"""``M3DTransform``: M3D's preprocessing of a CT volume, as a callable for arrays, images, paths and dataset rows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rad3d_hf.transforms.resize import resize_trilinear
from rad3d_hf.volumes.decode import image_path, read_volume, volume_format
from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.orientation import DHW_AXIS_CODES, orient_dhw

if TYPE_CHECKING:
    import nibabel as nib
    import torch

    from rad3d_hf.volumes.cache import PreprocessedCache

M3D_SIZE: tuple[int, int, int] = (32, 256, 256)
# Bumped whenever the recipe's output changes, so cached outputs of an older recipe are never reused.
RECIPE_VERSION = 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _slice_statistics(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-slice minima and maxima along axis 0 and the maximum over axis 0, in one cache-friendly pass."""
    slice_min = np.empty(volume.shape[0], dtype=volume.dtype)
    slice_max = np.empty(volume.shape[0], dtype=volume.dtype)
    plane = np.array(volume[0])
    for index in range(volume.shape[0]):
        current = volume[index]  # one slice stays in cache for its three reductions
        slice_min[index] = current.min()
        slice_max[index] = current.max()
        np.maximum(plane, current, out=plane)
    return slice_min, slice_max, plane


def _foreground_box(
    threshold: float, slice_max: np.ndarray, plane_max: np.ndarray
) -> tuple[slice, slice, slice] | None:
    """The bounding box of voxels above ``threshold`` (MONAI CropForeground, margin 0), or None if there are none.

    ``plane_max`` may span every slice: slices outside the depth range hold nothing above the threshold, so they cannot
    widen the in-plane box.
    """
    depth = np.flatnonzero(slice_max > threshold)
    if depth.size == 0:
        return None
    rows = np.flatnonzero(plane_max.max(axis=1) > threshold)
    cols = np.flatnonzero(plane_max.max(axis=0) > threshold)
    return (
        slice(int(depth[0]), int(depth[-1]) + 1),
        slice(int(rows[0]), int(rows[-1]) + 1),
        slice(int(cols[0]), int(cols[-1]) + 1),
    )


class M3DTransform:
    """M3D's preprocessing as a callable: array, nibabel image, file path or dataset row in, model input out.

    Args (keyword-only):
        size: output ``(D, H, W)``; M3D's is ``(32, 256, 256)``.
        window: optional HU window ``(low, high)`` clipped before normalising, e.g. ``(-1000, 1000)`` (CT-CLIP's) or a
            lung window ``(-1350, 150)``; ``None`` (M3D's recipe) keeps the full range.
        crop_foreground: crop to the voxels above the volume's minimum before resizing (M3D's recipe: True).
        cache: a :class:`~rad3d_hf.volumes.cache.PreprocessedCache` for outputs of file-backed volumes.
        volume_column / prior_column: the row keys read when called on a dataset row.

    Called on an array (``(D, H, W)``, or ``affine=`` to reorient an ``(x, y, z)`` NIfTI array), an image or a path it
    returns the float32 ``(1, D, H, W)`` array. Called on a row it returns a new row with ``volume`` replaced by that
    array and ``prior_volumes`` (when present) by a list of them; called on a batch (columns of lists, as
    ``Dataset.with_transform`` passes) it does so for every row. ``.npy`` files that already hold M3D input
    (``(1, *size)`` or ``size``, values in [0, 1]) are returned as they are.
    """

    def __init__(
        self,
        *,
        size: Sequence[int] = M3D_SIZE,
        window: tuple[float, float] | None = None,
        crop_foreground: bool = True,
        cache: PreprocessedCache | None = None,
        volume_column: str = "volume",
        prior_column: str = "prior_volumes",
    ) -> None:
        size = tuple(int(n) for n in size)
        if len(size) != 3 or min(size) < 1:
            raise ValueError(f"size must be three positive integers (D, H, W), got {size!r}")
        if window is not None:
            if len(window) != 2 or not all(np.isfinite(window)) or not window[0] < window[1]:
                raise ValueError(f"window must be (low, high) with finite low < high, got {window!r}")
            window = (float(window[0]), float(window[1]))
        self.size: tuple[int, int, int] = size
        self.window = window
        self.crop_foreground = bool(crop_foreground)
        self.cache = cache
        self.volume_column = volume_column
        self.prior_column = prior_column

    def params(self) -> dict[str, Any]:
        """Everything that changes the output (the cache key is built from it)."""
        return {
            "recipe": "m3d",
            "recipe_version": RECIPE_VERSION,
            "size": list(self.size),
            "window": None if self.window is None else list(self.window),
            "crop_foreground": self.crop_foreground,
            "orientation": "".join(DHW_AXIS_CODES),
        }

    def __repr__(self) -> str:
        return (
            f"M3DTransform(size={self.size}, window={self.window}, crop_foreground={self.crop_foreground}, "
            f"cache={self.cache!r})"
        )

    # --- entry points ---

    def __call__(self, value: Any, *, affine: np.ndarray | None = None) -> Any:
        if isinstance(value, Mapping) and self.volume_column in value:
            return self._row(value)
        return self.volume(value, affine=affine)

    def volume(self, value: Any, *, affine: np.ndarray | None = None) -> np.ndarray:
        """Preprocess one volume: an array, a nibabel image, a path, or a ``datasets.Nifti`` ``{"path", "bytes"}``."""
        if isinstance(value, np.ndarray):
            return self.apply(value, affine=affine)
        path = self._source_path(value)
        if self.cache is not None and path is not None and os.path.isfile(path):
            return self.cache.get_or_compute(path, self.params(), lambda: self._from_source(value, path))
        return self._from_source(value, path)

    def collate(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A DataLoader ``collate_fn``: preprocess each row (inside the worker) and stack volumes into tensors.

        ``volume`` becomes a ``(B, 1, D, H, W)`` float tensor; ``prior_volumes`` a list (one per row) of
        ``(P, 1, D, H, W)`` tensors, P possibly 0; every other column a list.
        """
        import torch

        done = [self._row(row) for row in rows]
        batch: dict[str, Any] = {key: [row[key] for row in done] for key in done[0]}
        batch[self.volume_column] = torch.from_numpy(np.stack(batch[self.volume_column]))
        if self.prior_column in batch:
            empty = torch.zeros((0, 1, *self.size))
            batch[self.prior_column] = [torch.from_numpy(np.stack(p)) if p else empty for p in batch[self.prior_column]]
        return batch

    def to_tensor(self, value: Any) -> torch.Tensor:
        """The preprocessed volume as a torch tensor ``(1, D, H, W)``."""
        import torch

        return torch.from_numpy(self.volume(value))

    # --- the recipe ---

    def apply(self, volume: np.ndarray, *, affine: np.ndarray | None = None, source: str | None = None) -> np.ndarray:
        """Run the recipe on voxels (``(x, y, z)`` with ``affine``, else ``(D, H, W)``); ``source`` names errors."""
        if volume.ndim == 4 and volume.shape[0] == 1:
            volume = volume[0]
        if volume.ndim != 3:
            raise VolumeError.for_file(source, f"expected a 3D volume, got shape {volume.shape}")
        if volume.size == 0:
            raise VolumeError.for_file(source, f"the volume is empty (shape {volume.shape})")
        if volume.dtype.kind not in "biuf":
            # Complex voxels would lose their imaginary part in the float32 resize, RGB ones have no order to min-max.
            raise VolumeError.for_file(
                source, f"voxels of type {volume.dtype} are not real-valued scalars, which M3D's recipe needs"
            )
        if affine is not None and not np.isfinite(affine).all():
            raise VolumeError.for_file(
                source, f"the affine holds NaN or infinite values: {np.asarray(affine).tolist()}"
            )
        dhw = orient_dhw(volume, affine)
        # One pass gives the global extremes and everything the foreground crop needs.
        slice_min, slice_max, plane_max = _slice_statistics(dhw)
        low, high = slice_min.min(), slice_max.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise VolumeError.for_file(source, "holds NaN or infinite values")
        low, high = float(low), float(high)
        if max(abs(low), abs(high)) > _FLOAT32_MAX or not np.isfinite(high - low):
            # The recipe computes in float32: such voxels (a huge scl_slope, say) would reach the model as NaN.
            raise VolumeError.for_file(
                source, f"voxel values span [{low:g}, {high:g}], beyond what float32 (the model input) can hold"
            )
        if self.window is not None:
            low, high = (min(max(v, self.window[0]), self.window[1]) for v in (low, high))
        if high <= low:
            where = f" after clipping to the window {self.window}" if self.window else ""
            raise VolumeError.for_file(source, f"is constant ({low:g}){where}, so it cannot be min-max normalised")
        if self.crop_foreground:
            box = _foreground_box(low, slice_max, plane_max)
            if box is not None:  # after normalisation the foreground is everything above 0, i.e. above `low`
                dhw = dhw[box]
        out = resize_trilinear(dhw, self.size, clip=self.window)
        out -= np.float32(low)
        out *= np.float32(1.0 / (high - low))
        np.clip(out, 0.0, 1.0, out=out)
        if not (np.isfinite(out.min()) and np.isfinite(out.max())):  # clip keeps NaN: nothing non-finite gets out
            raise VolumeError.for_file(source, "preprocessing gave non-finite values")
        return out[None]

    # --- inputs ---

    @staticmethod
    def _source_path(value: Any) -> str | None:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        if isinstance(value, Mapping):
            return value.get("path") if value.get("bytes") is None else None
        if hasattr(value, "dataobj"):
            return image_path(value)
        return None

    def _from_source(self, value: Any, path: str | None) -> np.ndarray:
        if isinstance(value, Mapping) and value.get("bytes") is not None:
            value = _image_from_bytes(value["bytes"])
        if hasattr(value, "dataobj"):
            return self.apply(read_volume(value), affine=value.affine, source=path)
        if path is None:
            raise TypeError(f"M3DTransform cannot read a volume from {type(value).__name__}")
        if volume_format(path) == "npy":
            array = read_volume(path)
            if self._is_model_input(array):
                return np.ascontiguousarray(array, dtype=np.float32).reshape(1, *self.size)
            return self.apply(array, source=path)
        from rad3d_hf.volumes.decode import read_volume_header

        return self.apply(read_volume(path), affine=read_volume_header(path).affine, source=path)

    def _is_model_input(self, array: np.ndarray) -> bool:
        if array.shape not in (self.size, (1, *self.size)) or array.dtype.kind != "f":
            return False
        return bool(array.min() >= 0.0 and array.max() <= 1.0)

    def _row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        value = row[self.volume_column]
        if isinstance(value, list):  # a batch: columns of lists
            n = len(value)
            rows = [self._row({key: column[i] for key, column in row.items()}) for i in range(n)]
            return {key: [r[key] for r in rows] for key in row}
        if value is None:
            raise ValueError(
                f"row {row.get('id', '')!r} has no {self.volume_column!r}: "
                "load the dataset with volumes_dir (or demo=True)"
            )
        out = dict(row)
        out[self.volume_column] = self.volume(value)
        if self.prior_column in row and row[self.prior_column] is not None:
            out[self.prior_column] = [self.volume(v) for v in row[self.prior_column]]
        return out


def _image_from_bytes(data: bytes) -> nib.Nifti1Image:
    import gzip

    import nibabel as nib

    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return nib.Nifti1Image.from_bytes(data)
