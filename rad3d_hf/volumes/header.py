"""Volume headers read without touching the voxels: NIfTI-1/2 (``.nii.gz``, ``.nii``) and ``.npy``.

:func:`read_volume_header` parses only the header (a few KB of inflated data): shape, dtype, affine, spacing and the
scaling, in well under 5 ms for a 512x512x300 volume, never through indexed_gzip. Faults raise
:class:`~rad3d_hf.volumes.errors.VolumeError` naming the file.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.gzip_stream import GzipStream

if TYPE_CHECKING:
    import nibabel as nib

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
        """Bytes of voxel data the file must hold after ``data_offset`` (exact: Python integers never overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def check_fits(self, capacity: int, what: str) -> None:
        """Refuse a header promising more voxel bytes than ``capacity``, before anything that size is allocated.

        ``capacity`` is the most voxel bytes the file can hold: its size after the header for an uncompressed file,
        the deflate bound for a gzip one. ``what`` says where the bound comes from."""
        if self.nbytes > capacity:
            raise VolumeError.for_file(
                self.path,
                f"the header's shape {self.shape} of {self.dtype} needs {self.nbytes} bytes of voxels; the file can "
                f"hold at most {max(capacity, 0)} ({what})",
            )


def file_name_part(path: PathLike) -> str:
    """The path of the file itself: of a chained fsspec URL (``zip://member.nii::archive.zip``) its first link."""
    return os.fspath(path).split("::", 1)[0]


def volume_format(path: PathLike) -> str:
    """``"nii.gz"``, ``"nii"`` or ``"npy"`` from the file name; ValueError naming the file otherwise."""
    name = file_name_part(path).lower()
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
        return npy_header(path)
    with open_raw(path, header_only=True) as raw:
        if fmt == "nii.gz":
            stream = GzipStream(raw, path)
            nifti = parse_nifti_header(stream.read_at_least(348), path, lambda n: stream.read_at_least(348 + n)[348:])
        else:
            nifti = parse_nifti_header(raw.read(540), path, lambda n: raw.read(n))
    return header_record(path, fmt, nifti)


def parse_nifti_header(head: bytes, path: PathLike, read_more: Any) -> nib.nifti1.Nifti1Header:
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


def header_record(path: PathLike, fmt: str, header: nib.nifti1.Nifti1Header) -> VolumeHeader:
    import nibabel as nib
    from nibabel.spatialimages import HeaderDataError

    shape = _checked_shape(path, header.get_data_shape())
    try:
        slope, intercept = header.get_slope_inter()
    except HeaderDataError as error:  # e.g. a valid scl_slope with a NaN or infinite scl_inter
        raise VolumeError.for_file(
            path, f"invalid scaling (scl_slope {header['scl_slope']}, scl_inter {header['scl_inter']}): {error}"
        ) from error
    with np.errstate(invalid="ignore"):
        affine = header.get_best_affine()
    if not np.isfinite(affine).all():
        codes = f"sform_code {int(header['sform_code'])}, qform_code {int(header['qform_code'])}"
        raise VolumeError.for_file(
            path, f"the header's affine holds NaN or infinite values ({codes}): {affine.tolist()}"
        )
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


def npy_header(path: PathLike) -> VolumeHeader:
    with open_raw(path, header_only=True) as raw:
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
        shape=_checked_shape(path, shape),
        dtype=dtype,
        affine=None,
        spacing=None,
        axis_codes=None,
        slope=None,
        intercept=None,
        data_offset=offset,
    )


def _checked_shape(path: PathLike, dims: Any) -> tuple[int, ...]:
    """The header's shape as Python integers; a negative dimension is refused."""
    shape = tuple(int(n) for n in dims)
    if any(n < 0 for n in shape):
        raise VolumeError.for_file(path, f"the header's shape {shape} has a negative dimension")
    return shape


def is_url(path: PathLike) -> bool:
    return "://" in os.fspath(path)


# How a URL is opened, on any fsspec filesystem (nothing here is specific to HTTP):
# - a whole-file read streams (block_size=0: HTTP's one GET, no Range needed; hf://'s streamed download; elsewhere
#   each read fetches exactly what it asks for), so every byte crosses the network once and nothing lands on disk;
# - a header-only read fetches one small block, not fsspec's default 5 MiB block (a whole demo volume).
_STREAM_OPTIONS: dict[str, Any] = {"block_size": 0}
_HEADER_OPTIONS: dict[str, Any] = {"block_size": 1 << 10, "cache_type": "readahead"}


def open_raw(path: PathLike, *, header_only: bool = False) -> io.BufferedIOBase:
    """Open a local file or fsspec URL for reading; a URL streams, or with ``header_only`` reads one small block."""
    try:
        if is_url(path):
            return _open_url(os.fspath(path), header_only=header_only)
        return open(path, "rb")
    except OSError as error:
        cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
        raise VolumeError.for_file(path, f"cannot open: {error.strerror or error}{cause}") from error


def _open_url(url: str, *, header_only: bool) -> io.BufferedIOBase:
    import fsspec

    fs, inner = fsspec.core.url_to_fs(url)
    if header_only:
        size, options = None, dict(_HEADER_OPTIONS)
    else:  # known up front, so HTTP makes no second HEAD request and the stream knows the size
        size = fs.size(inner)
        options = {**_STREAM_OPTIONS, "size": size}
    try:
        handle = fs.open(inner, "rb", **options)
    except (TypeError, ValueError):  # a filesystem refusing these options reads with its own defaults
        handle = fs.open(inner, "rb")
    if getattr(handle, "size", None) is None and size is not None:
        handle.size = size  # read_volume bounds memory by the compressed size; a stream does not know it itself
    # The file of a chained URL (zip://member::archive.zip) reads through its filesystem, which closes the archive
    # when it is garbage-collected: the handle keeps it alive.
    handle._rad3d_filesystem = fs
    return handle
