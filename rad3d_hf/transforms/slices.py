"""``SliceRenderer``: a CT volume as 2D images for image-text models (N axial slices, windowed, resized).

The recipe, in this order:

    reorient (as M3DTransform: each slice axial, radiological view) -> pick N axial slices -> window each channel
    (clip to its HU range, map to [0, 1]) -> resize each slice to ``size`` x ``size`` (bilinear, as torch's
    ``interpolate(align_corners=False)``) -> 8-bit -> PIL images, or one montage

Slices are picked at the centres of N equal bins over the volume's depth (``sampling="uniform"``), or at a seeded
random position inside each bin (``sampling="random"``; the seed and the volume's name fix the draw). A volume with
fewer slices than N gives all its slices (logged once). ``PRESETS`` names the windows; :func:`preset_table` prints
them as the table in the README.

The default preset, ``"auto"``, looks at the values: a volume in Hounsfield units gets the ``medgemma`` windows; an
array already normalised to ``[0, 1]`` (the release's ``.npy`` arrays, M3D's input) is drawn on that fixed scale
(``unit``), never min-maxed per volume, so contrast means the same in every volume. A renderer keeps the choice its
first volume made (``params()["auto_choice"]``) and refuses a later volume of the other kind. An explicit HU preset
on a normalised array, or ``unit`` on HU values, is an error naming the file.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rad3d_hf.transforms.resize import resize_trilinear
from rad3d_hf.volumes.decode import image_path, read_volume
from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.orientation import DHW_AXIS_CODES, orient_dhw

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_SLICES = 16
# MedGemma 1.5 takes at most 85 slices; beyond that the images overflow the context of the models this serves.
MAX_SLICES = 85
DEFAULT_SIZE = 448
MAX_SIZE = 1024
AUTO_PRESET = "auto"
DEFAULT_PRESET = AUTO_PRESET
# What "auto" draws: HU volumes with MedGemma's windows, normalised arrays on their own [0, 1] scale.
AUTO_CHOICES: dict[str, str] = {"hu": "medgemma", "normalised": "unit"}
Sampling = Literal["uniform", "random"]
logger = logging.getLogger(__name__)
_warned_depths: set[tuple[int, int]] = set()


@dataclass(frozen=True)
class RenderPreset:
    """A named way to turn HU into pixels: one HU window per channel (1 = grey, 3 = RGB), or per-volume min-max."""

    name: str
    windows: tuple[tuple[float, float], ...] | None
    what_the_model_sees: str


PRESETS: dict[str, RenderPreset] = {
    preset.name: preset
    for preset in (
        RenderPreset(
            "medgemma",
            ((-1024.0, 1024.0), (-135.0, 215.0), (0.0, 80.0)),
            "RGB: R wide window (air to bone), G soft tissue / mediastinum (WL 40, WW 350), B brain (WL 40, WW 80); "
            "the windows of MedGemma 1.5's CT notebook",
        ),
        RenderPreset(
            "lung-mediastinum-bone",
            ((-1350.0, 150.0), (-135.0, 215.0), (-500.0, 1300.0)),
            "RGB: R lung (WL -600, WW 1500), G mediastinum (WL 40, WW 350), B bone (WL 400, WW 1800)",
        ),
        RenderPreset("lung", ((-1350.0, 150.0),), "grey: lung window (WL -600, WW 1500)"),
        RenderPreset("mediastinum", ((-135.0, 215.0),), "grey: mediastinal window (WL 40, WW 350)"),
        RenderPreset("bone", ((-500.0, 1300.0),), "grey: bone window (WL 400, WW 1800)"),
        RenderPreset(
            "unit",
            ((0.0, 1.0),),
            "grey: an array already normalised to [0, 1] (the release's .npy arrays, M3D's input) on that fixed "
            "scale; not for HU volumes",
        ),
        RenderPreset(
            "minmax",
            None,
            "grey: the volume's own minimum to maximum (no HU window; M3D's normalisation, Hulu-Med-like)",
        ),
    )
}


def preset_table() -> str:
    """The presets as a Markdown table (the README's copy is checked against it)."""
    lines = ["| preset | channels | windows (low, high) | what the model sees |", "|---|---|---|---|"]
    hu, normalised = AUTO_CHOICES["hu"], AUTO_CHOICES["normalised"]
    lines.append(
        f"| `{AUTO_PRESET}` (default) | as chosen | as chosen | `{hu}` for a volume in HU; `{normalised}` for an "
        "array already in [0, 1] |"
    )
    for preset in PRESETS.values():
        if preset.windows is None:
            channels, windows = "1 (grey)", "per-volume min-max"
        else:
            channels = "3 (RGB)" if len(preset.windows) == 3 else "1 (grey)"
            windows = ", ".join(f"({lo:g}, {hi:g})" for lo, hi in preset.windows)
        lines.append(f"| `{preset.name}` | {channels} | {windows} | {preset.what_the_model_sees} |")
    return "\n".join(lines)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


class SliceRenderer:
    """Render CT volumes as 2D images for image-text models.

    Args (keyword-only after ``preset``):
        preset: "auto" (default: `medgemma` for HU volumes, `unit` for arrays in [0, 1]) or a name in :data:`PRESETS`.
        window: a custom HU window ``(low, high)`` (grey), instead of the preset's windows.
        num_slices: axial slices per volume, 1 to :data:`MAX_SLICES` (default :data:`DEFAULT_SLICES`).
        size: each slice is resized to ``size`` x ``size`` pixels, 8 to :data:`MAX_SIZE` (default 448).
        sampling: ``"uniform"`` (bin centres) or ``"random"`` (a seeded position inside each bin).
        seed: seeds ``"random"`` sampling (with the volume's name, when known).
        montage: return one image (slices in a near-square grid, top of the chest first) instead of a list.

    Called on an array (``(D, H, W)``, or ``(x, y, z)`` with ``affine=``), a nibabel image, a path (``.nii.gz``,
    ``.nii``, ``.npy``), a ``datasets.Nifti`` value (``{"path", "bytes"}``) or a dataset row (its ``volume``).
    """

    def __init__(
        self,
        preset: str = DEFAULT_PRESET,
        *,
        window: tuple[float, float] | None = None,
        num_slices: int = DEFAULT_SLICES,
        size: int = DEFAULT_SIZE,
        sampling: Sampling = "uniform",
        seed: int = 0,
        montage: bool = False,
    ) -> None:
        if preset not in PRESETS and preset != AUTO_PRESET:
            raise ValueError(f"unknown render preset {preset!r}; expected {AUTO_PRESET} or one of {', '.join(PRESETS)}")
        if window is not None:
            if len(window) != 2 or not all(math.isfinite(float(v)) for v in window) or not window[0] < window[1]:
                raise ValueError(f"window must be (low, high) with finite low < high, got {window!r}")
            window = (float(window[0]), float(window[1]))
        if sampling not in ("uniform", "random"):
            raise ValueError(f"sampling={sampling!r}; expected 'uniform' or 'random'")
        self.preset = preset
        self.window = window
        self.num_slices = _check_int("num_slices", num_slices, 1, MAX_SLICES)
        self.size = _check_int("size", size, 8, MAX_SIZE)
        self.sampling: Sampling = sampling
        self.seed = _check_int("seed", seed, 0, 2**32 - 1)
        self.montage = bool(montage)
        self.auto_choice: str | None = None

    @property
    def windows(self) -> tuple[tuple[float, float], ...] | None:
        """The window of each output channel, or None for per-volume min-max (and for "auto" before it chose)."""
        if self.window is not None:
            return (self.window,)
        preset = self.auto_choice if self.preset == AUTO_PRESET else self.preset
        return None if preset is None else PRESETS[preset].windows

    def params(self) -> dict[str, Any]:
        """Everything that changes the images (recorded beside predictions made from them)."""
        auto = {}
        if self.preset == AUTO_PRESET and self.window is None:
            auto = {
                "auto_rule": {kind: {"preset": name, "windows": [list(w) for w in PRESETS[name].windows or ()]}
                              for kind, name in AUTO_CHOICES.items()},
                "auto_choice": self.auto_choice,
            }  # fmt: skip
        return {
            "renderer": "slices",
            "preset": "custom" if self.window is not None else self.preset,
            **auto,
            "windows": None if self.windows is None else [list(w) for w in self.windows],
            "num_slices": self.num_slices,
            "size": self.size,
            "sampling": self.sampling,
            "seed": self.seed,
            "montage": self.montage,
            "orientation": "".join(DHW_AXIS_CODES),
        }

    def __repr__(self) -> str:
        window = f", window={self.window}" if self.window is not None else ""
        return (
            f"SliceRenderer({self.preset!r}{window}, num_slices={self.num_slices}, size={self.size}, "
            f"sampling={self.sampling!r}, seed={self.seed}, montage={self.montage})"
        )

    # --- entry points ---

    def __call__(self, value: Any, *, affine: np.ndarray | None = None) -> list[Image.Image] | Image.Image:
        if isinstance(value, Mapping) and "volume" in value:
            if value["volume"] is None:
                raise ValueError(f"row {value.get('id', '')!r} has no volume: load the dataset with volumes_dir")
            return self.render(value["volume"], key=value.get("volume_name"))
        return self.render(value, affine=affine)

    def render(
        self, value: Any, *, affine: np.ndarray | None = None, key: str | None = None
    ) -> list[Image.Image] | Image.Image:
        """The images of one volume; ``key`` (e.g. the volume name) varies ``"random"`` sampling per volume."""
        dhw, source = _read_dhw(value, affine)
        if key is None and source is not None:
            key = os.path.basename(source)
        return self.render_array(dhw, key=key, source=source)

    def settle(self, value: Any) -> str | None:
        """Let ``"auto"`` choose from one volume (any input :meth:`render` takes) before rendering, so the choice can
        be recorded ahead of the work and later volumes of the other kind are refused; returns the choice."""
        if self.preset != AUTO_PRESET or self.window is not None:
            return None
        if isinstance(value, Mapping) and "volume" in value:
            value = value["volume"]
        dhw, source = _read_dhw(value, None)
        self._windows_for(dhw, source)
        return self.auto_choice

    def slice_indices(self, depth: int, *, key: str | None = None) -> np.ndarray:
        """The axial slices picked from a volume ``depth`` slices deep (0 = the top of the chest)."""
        n = min(self.num_slices, depth)
        if n < self.num_slices and (self.num_slices, depth) not in _warned_depths:
            _warned_depths.add((self.num_slices, depth))
            logger.warning(
                "%d slices asked of a volume %d slices deep: all %d are given", self.num_slices, depth, depth
            )
        edges = np.arange(n + 1) * (depth / n)
        if self.sampling == "uniform":
            positions = (edges[:-1] + edges[1:]) / 2
        else:
            rng = np.random.default_rng([self.seed, zlib.crc32((key or "").encode())])
            positions = edges[:-1] + rng.random(n) * (edges[1:] - edges[:-1])
        return np.minimum(positions.astype(np.int64), depth - 1)

    def render_array(
        self, dhw: np.ndarray, *, key: str | None = None, source: str | None = None
    ) -> list[Image.Image] | Image.Image:
        """Render a ``(D, H, W)`` array already in the model's orientation; ``source`` names errors."""
        from PIL import Image

        if dhw.ndim == 4 and dhw.shape[0] == 1:
            dhw = dhw[0]
        if dhw.ndim != 3 or dhw.size == 0:
            raise VolumeError.for_file(source, f"expected a non-empty 3D volume, got shape {dhw.shape}")
        stack = np.ascontiguousarray(dhw[self.slice_indices(dhw.shape[0], key=key)])
        windows = self._windows_for(dhw, source)
        channels = []
        for low, high in windows:
            resized = resize_trilinear(stack, (stack.shape[0], self.size, self.size), clip=(low, high))
            resized -= np.float32(low)
            resized *= np.float32(255.0 / (high - low))
            channels.append(np.clip(np.rint(resized), 0, 255).astype(np.uint8))
        pixels = np.stack(channels, axis=-1) if len(channels) == 3 else channels[0]
        images = [Image.fromarray(pixels[i]) for i in range(pixels.shape[0])]  # uint8: "L", or "RGB" for 3 channels
        return montage(images) if self.montage else images

    def _windows_for(self, dhw: np.ndarray, source: str | None) -> tuple[tuple[float, float], ...]:
        """The windows this volume is drawn with; a preset that does not fit its values is an error naming it."""
        low, high = float(dhw.min()), float(dhw.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise VolumeError.for_file(source, "holds NaN or infinite values")
        if self.window is not None:
            return (self.window,)
        normalised = low >= 0.0 and high <= 1.0
        preset = self.preset
        if preset == AUTO_PRESET:
            if not normalised and high - low <= 2.0:
                raise VolumeError.for_file(
                    source,
                    f"spans [{low:g}, {high:g}]: neither Hounsfield units nor [0, 1], so 'auto' cannot tell how to "
                    "draw it; pass preset 'minmax' or a window such as (-1, 1)",
                )
            choice = AUTO_CHOICES["normalised" if normalised else "hu"]
            if self.auto_choice is not None and self.auto_choice != choice:
                raise VolumeError.for_file(
                    source,
                    f"is drawn with {choice!r} by 'auto', but this renderer drew an earlier volume with "
                    f"{self.auto_choice!r}: the volumes mix HU and normalised arrays; pass a preset",
                )
            self.auto_choice = preset = choice
        if preset == "minmax":
            return ((low, high if high > low else low + 1.0),)
        if preset == AUTO_CHOICES["normalised"]:
            if not normalised:
                raise VolumeError.for_file(
                    source,
                    f"spans [{low:g}, {high:g}], so it is not an array normalised to [0, 1]; the 'unit' preset "
                    "draws only such arrays: use 'auto' or an HU preset",
                )
        elif high - low <= 2.0:
            raise VolumeError.for_file(
                source,
                f"spans only [{low:g}, {high:g}], so it is not in Hounsfield units (already normalised?); the "
                f"{preset!r} windows need HU: use preset 'auto' (or 'unit')",
            )
        windows = PRESETS[preset].windows
        if windows is None:  # no other preset is without windows
            raise ValueError(f"preset {preset!r} has no windows")
        return windows


def montage(images: Sequence[Image.Image]) -> Image.Image:
    """The images in a near-square grid (row by row, black where the grid has no image)."""
    from PIL import Image

    if not images:
        raise ValueError("montage needs at least one image")
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    sheet = Image.new(images[0].mode, (columns * width, rows * height))
    for index, image in enumerate(images):
        sheet.paste(image, ((index % columns) * width, (index // columns) * height))
    return sheet


def _read_dhw(value: Any, affine: np.ndarray | None) -> tuple[np.ndarray, str | None]:
    """Voxels of any supported input in ``(D, H, W)`` order, and the file they came from (if any)."""
    from rad3d_hf.transforms.m3d import _image_from_bytes

    if isinstance(value, np.ndarray):
        return orient_dhw(value, affine), None
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            value = _image_from_bytes(value["bytes"])
        elif value.get("path"):
            value = value["path"]
        else:
            raise TypeError(f"SliceRenderer cannot read a volume from the mapping with keys {sorted(value)}")
    if hasattr(value, "dataobj"):
        return orient_dhw(read_volume(value), value.affine), image_path(value)
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"SliceRenderer cannot read a volume from {type(value).__name__}")
    path = os.fspath(value)
    from rad3d_hf.volumes.decode import read_volume_header
    from rad3d_hf.volumes.header import volume_format

    # by the member's name, so a chained URL (zip://stem.npy::archive.zip) is read as .npy too
    if volume_format(path) == "npy":
        return read_volume(path), path

    return orient_dhw(read_volume(path), read_volume_header(path).affine), path


__all__ = [
    "AUTO_CHOICES",
    "AUTO_PRESET",
    "DEFAULT_PRESET",
    "DEFAULT_SIZE",
    "DEFAULT_SLICES",
    "MAX_SIZE",
    "MAX_SLICES",
    "PRESETS",
    "RenderPreset",
    "SliceRenderer",
    "montage",
    "preset_table",
]
