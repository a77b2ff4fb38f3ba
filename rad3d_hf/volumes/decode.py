"""Read CT volumes fast: NIfTI-1/2 (``.nii.gz`` inflated by ISA-L, ``.nii`` memory-mapped) and ``.npy``.

Contract, shared by every format:

- :func:`read_volume` returns exactly what ``np.asanyarray(nib.load(path).dataobj)`` returns (same dtype, same bits,
  same Fortran-ordered ``(x, y, z)`` axes, the header's ``scl_slope``/``scl_inter`` applied by nibabel's own rule), and
  what ``np.load(path, allow_pickle=False)`` returns for ``.npy``.
- ``.nii.gz`` is inflated with ISA-L (the ``isal`` package; the standard library's zlib when it is missing) in one
  streamed pass straight into a single preallocated array: no intermediate copy of the whole file, about 2-3x faster
  than nibabel's gzip path. The gzip CRC is checked.
- :func:`~rad3d_hf.volumes.header.read_volume_header` parses only the header (see there).
- Anything wrong with the file (missing or unreadable, not gzip, not NIfTI, truncated, fewer voxel bytes than the header
  promises, NaN or infinite values) raises :class:`~rad3d_hf.volumes.errors.VolumeError` naming the file and the fault.
- Memory is bounded by the file: a header with a negative dimension, or promising more voxel bytes than the file can
  hold (its size for ``.nii``/``.npy``; for ``.nii.gz`` 1032x the compressed size, the most deflate can inflate to), is
  refused before anything is allocated. A NaN affine or intercept, and header scaling whose result the output type
  cannot hold, are errors too.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from typing import TYPE_CHECKING

import numpy as np

from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.gzip_stream import CHUNK, GzipStream
from rad3d_hf.volumes.header import (
    PathLike,
    VolumeHeader,
    header_record,
    image_path,
    is_url,
    npy_header,
    open_raw,
    parse_nifti_header,
    read_volume_header,
    volume_format,
)

if TYPE_CHECKING:
    import nibabel as nib

__all__ = ["VolumeHeader", "image_path", "read_volume", "read_volume_header", "volume_format"]


def read_volume(
    source: PathLike | nib.spatialimages.SpatialImage,
    *,
    check_finite: bool = True,
) -> np.ndarray:
    """Read all voxels of a ``.nii.gz``, ``.nii`` or ``.npy`` file, or of a nibabel image, as stored.

    A nibabel image loaded from a file (what ``datasets.Nifti`` decodes to) is read from that file by the fast path; one
    built in memory is read through its ``dataobj``. ``check_finite`` rejects floating-point volumes holding NaN or
    infinity (they would silently poison min-max normalisation) with a :class:`VolumeError`.
    """
    if not isinstance(source, (str, os.PathLike)):
        path = image_path(source)
        if path is None or not os.path.isfile(path):
            array = np.asanyarray(source.dataobj)
            if check_finite:
                _check_finite(array, path)
            return array
        source = path
    fmt = volume_format(source)
    if fmt != "nii.gz" and is_url(source):
        array = _read_whole_remote(source, fmt)
    elif fmt == "npy":
        array = _read_npy(source)
    elif fmt == "nii":
        array = _read_nii(source)
    else:
        array = _read_nii_gz(source)
    if check_finite:
        _check_finite(array, source)
    return array


def _scale_like_nibabel(raw: np.ndarray, header: VolumeHeader) -> np.ndarray:
    # The same scale factors and the same function nibabel's ArrayProxy uses, so the result is bit-identical.
    from nibabel.volumeutils import apply_read_scaling

    slope = 1.0 if header.slope is None else header.slope
    intercept = 0.0 if header.intercept is None else header.intercept
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = apply_read_scaling(raw, np.asanyarray(slope), np.asanyarray(intercept))  # type: ignore[arg-type]
    if (slope, intercept) == (1.0, 0.0) or scaled.dtype.kind not in "fc" or not scaled.size:
        return scaled
    # Scaling can overflow the output type: that is a fault of the header, named as such (whatever check_finite says).
    if not (np.isfinite(scaled.min()) and np.isfinite(scaled.max())):
        raw_finite = raw.dtype.kind not in "fc" or bool(np.isfinite(raw.min()) and np.isfinite(raw.max()))
        if raw_finite:
            raise VolumeError.for_file(
                header.path,
                f"scaling by the header's scl_slope {slope:g} and scl_inter {intercept:g} gives values that "
                f"{scaled.dtype} cannot hold (non-finite)",
            )
    return scaled


# Deflate emits at most 258 bytes per 2 bits of input, so no gzip member inflates to more than 1032x its size: a header
# promising more voxels than that is refused before the array is allocated, and memory stays bounded by the file.
_MAX_DEFLATE_RATIO = 1032


def _compressed_size(raw: object, path: PathLike) -> int | None:
    size = getattr(raw, "size", None)  # fsspec files know their size
    if isinstance(size, int):
        return size
    try:
        return os.fstat(raw.fileno()).st_size  # type: ignore[attr-defined]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _read_nii_gz(path: PathLike) -> np.ndarray:
    with open_raw(path) as raw:
        stream = GzipStream(raw, path)
        nifti = parse_nifti_header(stream.read_at_least(348), path, lambda n: stream.read_at_least(348 + n)[348:])
        header = header_record(path, "nii.gz", nifti)
        compressed = _compressed_size(raw, path)
        if compressed is not None:
            header.check_fits(
                compressed * _MAX_DEFLATE_RATIO - header.data_offset,
                f"{compressed} compressed bytes inflate to at most {_MAX_DEFLATE_RATIO}x that",
            )
        stream.read_at_least(header.data_offset)
        stream.max_out = CHUNK * 4
        flat = np.empty(math.prod(header.shape), dtype=header.dtype)
        target = flat.data.cast("B")
        filled = 0
        first = bytes(stream.buffer[header.data_offset :])
        stream.buffer.clear()
        for chunk in itertools.chain((first,), stream.rest()):
            take = min(header.nbytes - filled, len(chunk))
            if take > 0:
                target[filled : filled + take] = chunk if take == len(chunk) else chunk[:take]
                filled += take
            # Bytes beyond the voxels are ignored, as nibabel does; the stream is still inflated to its end so the
            # CRC check and the truncation check cover the whole file.
    if filled < header.nbytes:
        raise VolumeError.for_file(
            path,
            f"data shorter than the header says: shape {header.shape} of {header.dtype} needs {header.nbytes} bytes "
            f"after offset {header.data_offset}, the file holds {filled}",
        )
    return _scale_like_nibabel(flat.reshape(header.shape, order="F"), header)


def _read_nii(path: PathLike) -> np.ndarray:
    header = read_volume_header(path)
    size = os.path.getsize(path)
    available = size - header.data_offset
    if available < header.nbytes:
        raise VolumeError.for_file(
            path,
            f"data shorter than the header says: shape {header.shape} of {header.dtype} needs {header.nbytes} bytes "
            f"after offset {header.data_offset}, the file holds {max(available, 0)}",
        )
    if header.nbytes == 0:
        raw = np.empty(header.shape, dtype=header.dtype, order="F")
    else:
        # Copy-on-write like nibabel's default: writable in memory, the file is never modified.
        raw = np.memmap(path, dtype=header.dtype, mode="c", offset=header.data_offset, shape=header.shape, order="F")
    return _scale_like_nibabel(raw, header)


def _read_npy(path: PathLike) -> np.ndarray:
    header = npy_header(path)
    available = os.path.getsize(path) - header.data_offset
    if available < header.nbytes:
        raise VolumeError.for_file(
            path,
            f"data shorter than the header says: shape {header.shape} of {header.dtype} needs {header.nbytes} bytes, "
            f"the file holds {available}",
        )
    try:
        return np.load(path, mmap_mode="c" if header.nbytes else None, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise VolumeError.for_file(path, f"cannot read .npy: {error}") from error


def _read_whole_remote(path: PathLike, fmt: str) -> np.ndarray:
    # A URL cannot be memory-mapped: read the file once and take the voxels from the bytes.
    with open_raw(path) as raw:
        blob = bytearray(raw.read())
    if fmt == "npy":
        try:
            return np.load(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, EOFError) as error:
            raise VolumeError.for_file(path, f"cannot read .npy: {error}") from error
    header = header_record(path, fmt, parse_nifti_header(bytes(blob[:540]), path, lambda n: b""))
    available = len(blob) - header.data_offset
    if available < header.nbytes:
        raise VolumeError.for_file(
            path,
            f"data shorter than the header says: shape {header.shape} of {header.dtype} needs {header.nbytes} bytes "
            f"after offset {header.data_offset}, the file holds {max(available, 0)}",
        )
    count = header.nbytes // header.dtype.itemsize
    raw_array = np.frombuffer(blob, dtype=header.dtype, count=count, offset=header.data_offset)
    return _scale_like_nibabel(raw_array.reshape(header.shape, order="F"), header)


def _check_finite(array: np.ndarray, path: PathLike | None) -> None:
    if array.dtype.kind not in "fc" or array.size == 0:
        return
    # min/max propagate NaN and reach +-inf, so two reductions check everything without a boolean copy.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = ~np.isfinite(array)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    nan = int(np.isnan(array).sum())
    raise VolumeError.for_file(
        path,
        f"holds {int(bad.sum())} non-finite voxel values ({nan} NaN, {int(bad.sum()) - nan} infinite), "
        f"the first at voxel {first}",
    )
