"""Read CT volumes fast: NIfTI-1/2 (``.nii.gz`` inflated by ISA-L, ``.nii`` memory-mapped) and ``.npy``.

Contract, shared by every format:

- :func:`read_volume` returns exactly what ``np.asanyarray(nib.load(path).dataobj)`` returns (same dtype, same bits,
  same Fortran-ordered ``(x, y, z)`` axes, the header's ``scl_slope``/``scl_inter`` applied by nibabel's own rule), and
  what ``np.load(path, allow_pickle=False)`` returns for ``.npy``.
- ``.nii.gz`` is inflated with ISA-L (the ``isal`` package; the standard library's zlib when it is missing) in one
  streamed pass straight into a single preallocated array: no intermediate copy of the whole file, about 2-3x faster
  than nibabel's gzip path. The gzip CRC is checked.
- :func:`read_volume_header` parses only the header (a few KB of inflated data): shape, dtype, affine, spacing and the
  scaling, in well under 5 ms for a 512x512x300 volume, never through indexed_gzip.
- Anything wrong with the file (missing or unreadable, not gzip, not NIfTI, truncated, fewer voxel bytes than the header
  promises, NaN or infinite values) raises :class:`~rad3d_hf.volume_errors.VolumeError` naming the file and the fault.
"""

from __future__ import annotations

import io
import itertools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rad3d_hf.volume_errors import VolumeError

if TYPE_CHECKING:
    import nibabel as nib

try:  # ISA-L inflates 2-3x faster than zlib; same stream format, same API.
    from isal import isal_zlib as _inflate_lib

    INFLATE_BACKEND = "isal"
except ImportError:  # pragma: no cover - exercised only where isal is not installed
    _inflate_lib = zlib  # type: ignore[assignment]
    INFLATE_BACKEND = "zlib"

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # compressed bytes per inflate step: amortises calls, and the output still fits in the cache
_FIRST_CHUNK = 1 << 14  # enough for any header, so a header-only read inflates almost nothing
_HEADER_SIZES = {348: "nifti1", 540: "nifti2"}
_NIFTI_MAGICS = {b"n+1": "nifti1", b"n+2": "nifti2"}

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class VolumeHeader:
    """What a volume's header says, read without touching its voxels.

    ``shape`` and ``dtype`` describe the stored array, ``affine`` maps voxel indices to scanner millimetres (nibabel's
    ``img.affine``), ``spacing`` is the voxel size along each array axis in mm, and ``axis_codes`` the direction each
    axis points to (CT-RATE: ``("L", "P", "S")``). ``slope``/``intercept`` are the header's scaling (``None`` when
    the header has none), which :func:`read_volume` applies as nibabel does. ``.npy`` files have no geometry:
    ``affine``, ``spacing`` and ``axis_codes`` are ``None``.
    """

    path: str
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype
    affine: np.ndarray | None
    spacing: tuple[float, ...] | None
    axis_codes: tuple[str, ...] | None
    slope: float | None
    intercept: float | None
    data_offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data the file must hold after ``data_offset``."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def volume_format(path: PathLike) -> str:
    """``"nii.gz"``, ``"nii"`` or ``"npy"`` from the file name; ValueError naming the file otherwise."""
    name = os.fspath(path).lower()
    for suffix in ("nii.gz", "nii", "npy"):
        if name.endswith("." + suffix):
            return suffix
    raise VolumeError.for_file(path, "unknown volume format (expected .nii.gz, .nii or .npy)")


def image_path(image: nib.spatialimages.SpatialImage) -> str | None:
    """The file a nibabel image (for example a decoded ``datasets.Nifti`` value) was loaded from, if any."""
    get_filename = getattr(image, "get_filename", None)
    filename = get_filename() if get_filename is not None else None
    return os.fspath(filename) if filename else None


def read_volume_header(path: PathLike) -> VolumeHeader:
    """Parse a volume's header only (no voxels are read or inflated beyond the first few KB)."""
    fmt = volume_format(path)
    if fmt == "npy":
        return _npy_header(path)
    with _open_raw(path) as raw:
        if fmt == "nii.gz":
            stream = _GzipStream(raw, path)
            nifti = _parse_nifti_header(
                stream.read_at_least(348), path, lambda n: stream.read_at_least(348 + n)[348:]
            )
        else:
            nifti = _parse_nifti_header(raw.read(540), path, lambda n: raw.read(n))
    return _header_record(path, fmt, nifti)


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
    if fmt != "nii.gz" and _is_url(source):
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


# --- NIfTI header -----------------------------------------------------------------------------------------------


def _parse_nifti_header(head: bytes, path: PathLike, read_more: Any) -> nib.nifti1.Nifti1Header:
    import nibabel as nib

    if len(head) < 348:
        raise VolumeError.for_file(path, f"file ends after {len(head)} bytes, inside the 348-byte NIfTI header")
    size_le = int.from_bytes(head[:4], "little")
    size_be = int.from_bytes(head[:4], "big")
    kind = _HEADER_SIZES.get(size_le) or _HEADER_SIZES.get(size_be)
    if kind is None:
        raise VolumeError.for_file(
            path, f"not a NIfTI file: header size field is {size_le} (expected 348 for NIfTI-1 or 540 for NIfTI-2)"
        )
    header_class = nib.Nifti1Header if kind == "nifti1" else nib.Nifti2Header
    if kind == "nifti2" and len(head) < 540:
        head = head + read_more(540 - len(head))
    magic_at = 344 if kind == "nifti1" else 4
    magic = bytes(head[magic_at : magic_at + 3])
    if _NIFTI_MAGICS.get(magic) != kind:
        hint = " (a header/image pair: .hdr/.img files are not supported)" if magic in (b"ni1", b"ni2") else ""
        expected = "n+1" if kind == "nifti1" else "n+2"
        raise VolumeError.for_file(path, f"wrong NIfTI magic {magic!r}, expected {expected}{hint}")
    try:
        return header_class.from_fileobj(io.BytesIO(bytes(head[: header_class.sizeof_hdr])), check=True)
    except Exception as error:  # nibabel raises several types for inconsistent headers
        raise VolumeError.for_file(path, f"invalid NIfTI header: {error}") from error


def _header_record(path: PathLike, fmt: str, header: nib.nifti1.Nifti1Header) -> VolumeHeader:
    import nibabel as nib

    affine = header.get_best_affine()
    slope, intercept = header.get_slope_inter()
    shape = tuple(int(n) for n in header.get_data_shape())
    return VolumeHeader(
        path=os.fspath(path),
        format=fmt,
        shape=shape,
        dtype=header.get_data_dtype(),
        affine=affine,
        spacing=tuple(float(z) for z in header.get_zooms()[: min(3, len(shape))]),
        axis_codes=tuple(nib.aff2axcodes(affine)),
        slope=slope,
        intercept=intercept,
        data_offset=int(header.get_data_offset()),
    )


def _scale_like_nibabel(raw: np.ndarray, header: VolumeHeader) -> np.ndarray:
    # The same scale factors and the same function nibabel's ArrayProxy uses, so the result is bit-identical.
    from nibabel.volumeutils import apply_read_scaling

    slope = 1.0 if header.slope is None else header.slope
    intercept = 0.0 if header.intercept is None else header.intercept
    return apply_read_scaling(raw, np.asanyarray(slope), np.asanyarray(intercept))


# --- .nii.gz ----------------------------------------------------------------------------------------------------


class _GzipStream:
    """Inflates a (possibly multi-member) gzip file chunk by chunk, turning every fault into a VolumeError."""

    def __init__(self, raw: io.BufferedIOBase, path: PathLike) -> None:
        self.raw = raw
        self.path = path
        self._first = raw.read(_FIRST_CHUNK)
        if self._first[:2] != _GZIP_MAGIC:
            raise VolumeError.for_file(
                path, f"not gzip-compressed (starts with {self._first[:4]!r}) although its name ends in .gz"
            )
        self.compressed_read = len(self._first)
        self.max_out = _FIRST_CHUNK  # bounded while reading the header; raised for the voxels
        self._chunks = self._inflate()
        self.buffer = bytearray()

    def _inflate(self) -> Iterator[bytes]:
        inflater = _inflate_lib.decompressobj(wbits=31)
        finished = False
        data = self._first
        while True:
            while data:
                if finished:
                    if not data.strip(b"\x00"):
                        break  # zero padding after the last member is tolerated, as by gzip
                    if data[:2] != _GZIP_MAGIC:
                        raise VolumeError.for_file(self.path, "bytes after the end of the gzip stream are not gzip")
                    inflater = _inflate_lib.decompressobj(wbits=31)
                    finished = False
                try:
                    out = inflater.decompress(data, self.max_out)
                except (zlib.error, _inflate_lib.error) as error:
                    raise VolumeError.for_file(self.path, f"corrupt gzip stream: {error}") from error
                if inflater.eof:
                    finished = True
                    data = inflater.unused_data
                else:
                    data = inflater.unconsumed_tail
                if out:
                    yield out
            data = self.raw.read(_CHUNK)
            if not data:
                if not finished:
                    raise VolumeError.for_file(
                        self.path,
                        f"truncated gzip stream: the file ends after {self.compressed_read} compressed bytes, "
                        "before the end-of-stream marker",
                    )
                return
            self.compressed_read += len(data)

    def read_at_least(self, n: int) -> bytes:
        """Inflate until ``buffer`` holds at least ``n`` bytes (fewer only where the stream ends); return it."""
        while len(self.buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        return bytes(self.buffer[:n]) if n < len(self.buffer) else bytes(self.buffer)

    def rest(self) -> Iterator[bytes]:
        """The chunks not yet consumed by :meth:`read_at_least`."""
        return self._chunks


def _read_nii_gz(path: PathLike) -> np.ndarray:
    with _open_raw(path) as raw:
        stream = _GzipStream(raw, path)
        nifti = _parse_nifti_header(stream.read_at_least(348), path, lambda n: stream.read_at_least(348 + n)[348:])
        header = _header_record(path, "nii.gz", nifti)
        stream.read_at_least(header.data_offset)
        stream.max_out = _CHUNK * 4
        flat = np.empty(int(np.prod(header.shape, dtype=np.int64)), dtype=header.dtype)
        target = memoryview(flat).cast("B")
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


# --- .nii and .npy ----------------------------------------------------------------------------------------------


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


def _npy_header(path: PathLike) -> VolumeHeader:
    with _open_raw(path) as raw:
        try:
            version = np.lib.format.read_magic(raw)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(raw)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(raw)
        except ValueError as error:
            raise VolumeError.for_file(path, f"not a .npy file: {error}") from error
        offset = raw.tell()
    if dtype.hasobject:
        raise VolumeError.for_file(path, "the .npy file holds Python objects, which are never unpickled")
    return VolumeHeader(
        path=os.fspath(path),
        format="npy",
        shape=tuple(int(n) for n in shape),
        dtype=dtype,
        affine=None,
        spacing=None,
        axis_codes=None,
        slope=None,
        intercept=None,
        data_offset=offset,
    )


def _read_npy(path: PathLike) -> np.ndarray:
    header = _npy_header(path)
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
    with _open_raw(path) as raw:
        blob = bytearray(raw.read())
    if fmt == "npy":
        try:
            return np.load(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, EOFError) as error:
            raise VolumeError.for_file(path, f"cannot read .npy: {error}") from error
    header = _header_record(path, fmt, _parse_nifti_header(bytes(blob[:540]), path, lambda n: b""))
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


# --- shared -----------------------------------------------------------------------------------------------------


def _is_url(path: PathLike) -> bool:
    return "://" in os.fspath(path)


def _open_raw(path: PathLike) -> io.BufferedIOBase:
    try:
        if _is_url(path):
            import fsspec

            return fsspec.open(os.fspath(path), "rb").open()
        return open(path, "rb")  # noqa: SIM115 - returned to a with-block
    except OSError as error:
        raise VolumeError.for_file(path, f"cannot open: {error.strerror or error}") from error


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
