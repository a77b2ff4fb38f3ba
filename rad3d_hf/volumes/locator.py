"""Find a question's CT volume under a folder, by name, and tell which format the folder holds.

Accepted layouts under ``volumes_dir`` (local folder or fsspec URL), searched recursively once:

- flat: ``<volumes_dir>/test_1005_b_1.nii.gz``;
- CT-RATE's nested layout: ``<volumes_dir>/valid/valid_1005/valid_1005_b/valid_1005_b_1.nii.gz`` (3D-RAD's ``test_*``
  volumes are CT-RATE's ``valid_*``; ``train_*`` names are the same), also below ``valid_fixed/`` / ``train_fixed/``;
- any other nesting under any top folder: only the file name decides.

``volumes_dir`` may also be a zip archive, as the Hub dataset publishes its images (``Images/test.zip``): a local
``.zip`` path, or a chained fsspec URL such as ``zip://::path/to/test.zip`` or ``zip://::hf://datasets/.../test.zip``.
Its members are then read straight from the archive.

Formats: ``"nifti"`` (``.nii.gz``/``.nii``), ``"npy"`` (the release's preprocessed arrays, ``rad3d-hf preprocess``
output), or ``"auto"`` (the default): the format of the volumes the folder holds. A volume present in both formats
is an error naming both files (auto); a folder holding volumes of both formats asks for an explicit format; a
folder holding no volume is an error that says what it holds instead. A name found twice in one format is an error
rather than a silent pick.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, get_args

import fsspec

from rad3d_hf.data.volume_names import CTRATE_SPLIT, parse_volume_name, strip_volume_suffix

VolumeFormat = Literal["nifti", "npy"]
FormatChoice = Literal["auto", "nifti", "npy"]
FORMAT_CHOICES: tuple[str, ...] = get_args(FormatChoice)
SUFFIXES: dict[str, tuple[str, ...]] = {"nifti": (".nii.gz", ".nii"), "npy": (".npy",)}


def archive_url(volumes_dir: str) -> str:
    """``volumes_dir`` as fsspec reads it: a local ``.zip`` file becomes ``zip://::<absolute path>``."""
    if "://" not in volumes_dir and volumes_dir.lower().endswith(".zip") and os.path.isfile(volumes_dir):
        return f"zip://::{os.path.abspath(volumes_dir)}"
    return volumes_dir


def check_format_choice(volume_format: str, *, option: str = "volume_format") -> FormatChoice:
    """``volume_format`` if it is one of :data:`FORMAT_CHOICES`; ValueError naming the option otherwise."""
    if volume_format not in FORMAT_CHOICES:
        raise ValueError(f"{option}={volume_format!r}; expected one of {', '.join(FORMAT_CHOICES)}")
    return volume_format  # type: ignore[return-value]


def _suffix(base: str) -> str:
    lower = base.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    ext = os.path.splitext(lower)[1]
    return ext or "(no suffix)"


def _format_of(base: str) -> VolumeFormat | None:
    for fmt, suffixes in SUFFIXES.items():
        if base.endswith(suffixes):
            return fmt  # type: ignore[return-value]
    return None


@dataclass
class FolderContents:
    """What one scan of ``volumes_dir`` found: the volumes of each format by stem, and every file's suffix."""

    volumes: dict[str, dict[str, str]] = field(default_factory=lambda: {fmt: {} for fmt in SUFFIXES})
    suffixes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``"2696 .npy (e.g. test_1_a_1.npy), 1 .txt (e.g. README.txt)"``, or that it is empty."""
        if not self.suffixes:
            return "no files"
        return ", ".join(
            f"{count} {suffix} (e.g. {self.examples[suffix]})" for suffix, count in self.suffixes.most_common()
        )


class VolumeLocator:
    """Maps 3D-RAD volume stems (``test_1005_b_1``) to file paths under ``volumes_dir``.

    ``volume_format="auto"`` takes the format of the volumes found (:attr:`volume_format` then says which); the
    folder is listed once, on first use.
    """

    def __init__(self, volumes_dir: str, volume_format: str = "auto") -> None:
        self.requested: FormatChoice = check_format_choice(volume_format)
        self.volumes_dir = str(volumes_dir)
        self.url = archive_url(self.volumes_dir)
        self._contents: FolderContents | None = None
        self._format: VolumeFormat | None = None if self.requested == "auto" else self.requested

    # --- the one scan ---

    def contents(self) -> FolderContents:
        """Every file under the folder, listed once (FileNotFoundError when it is not a folder or archive)."""
        if self._contents is None:
            fs, root = fsspec.core.url_to_fs(self.url)
            # Members of a chained URL (zip://::archive) are opened through the same chain.
            chain = "::" + self.url.split("::", 1)[1] if "::" in self.url else ""
            # One listing (an HTTP folder is listed by fetching its index page); an empty one is then told apart
            # from a path that is no folder at all.
            paths = sorted(fs.find(root))
            if paths == [root.rstrip("/")] or (not paths and not fs.isdir(root)):
                if fs.exists(root):
                    raise FileNotFoundError(f"volumes_dir {self.volumes_dir} is not a folder or a .zip archive")
                raise FileNotFoundError(f"volumes_dir {self.volumes_dir}: no such folder")
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            contents = FolderContents()
            for path in paths:
                base = path.rstrip("/").rsplit("/", 1)[-1]
                suffix = _suffix(base)
                contents.suffixes[suffix] += 1
                contents.examples.setdefault(suffix, base)
                fmt = _format_of(base)
                if fmt is None:
                    continue
                try:
                    name = parse_volume_name(base)
                except ValueError:
                    continue
                stem = (
                    name.stem if name.split != "valid" else f"test_{name.patient_id}_{name.scan}_{name.reconstruction}"
                )
                if protocol in ("file", "local") and not chain:
                    full = path
                else:  # an HTTP filesystem lists full URLs; others list paths without their protocol
                    full = f"{path if '://' in path else f'{protocol}://{path}'}{chain}"
                known = contents.volumes[fmt]
                if stem in known and known[stem] != full:
                    raise ValueError(f"volume {stem} found twice under {self.volumes_dir}: {known[stem]} and {full}")
                known[stem] = full
            self._contents = contents
        return self._contents

    def with_format(self, volume_format: str) -> VolumeLocator:
        """A locator of ``volume_format`` over this one's listing (the folder is not listed again)."""
        other = VolumeLocator(self.volumes_dir, volume_format)
        other._contents = self.contents()
        return other

    @property
    def volume_format(self) -> VolumeFormat:
        """The format in use: the one asked for, or (auto) the one the folder holds."""
        if self._format is None:
            self._format = self._resolve()
        return self._format

    def _resolve(self) -> VolumeFormat:
        contents = self.contents()
        nifti, npy = contents.volumes["nifti"], contents.volumes["npy"]
        both = sorted(nifti.keys() & npy.keys())
        if both:
            stem = both[0]
            raise ValueError(
                f"volume {stem} is under {self.volumes_dir} in both formats: {nifti[stem]} and {npy[stem]} "
                f"({len(both)} volumes are); pass volume_format='nifti' or 'npy' to choose"
            )
        if nifti and npy:
            raise ValueError(
                f"{self.volumes_dir} holds {len(nifti)} NIfTI and {len(npy)} .npy volumes; pass volume_format="
                "'nifti' or 'npy' to choose"
            )
        if nifti or npy:
            return "nifti" if nifti else "npy"
        raise FileNotFoundError(
            f"no CT volumes under {self.volumes_dir}: no .nii.gz, .nii or .npy file named like test_1005_b_1 at any "
            f"depth; it holds {contents.describe()}"
        )

    def _paths(self) -> dict[str, str]:
        return self.contents().volumes[self.volume_format]

    # --- lookups ---

    def locate(self, volume_name: str) -> str | None:
        """Path of the volume called ``volume_name`` (stem or file name), or None when absent."""
        return self._paths().get(strip_volume_suffix(volume_name))

    def found(self, volume_names: list[str] | set[str]) -> int:
        """How many of ``volume_names`` (stems or file names) are under the folder."""
        paths = self._paths()
        return sum(strip_volume_suffix(name) in paths for name in volume_names)

    def __len__(self) -> int:
        return len(self._paths())

    def describe_search(self, volume_name: str) -> str:
        """Where ``volume_name`` was looked for, and what the folder holds of the other format."""
        name = parse_volume_name(volume_name)
        fmt = self.volume_format
        ctrate = f"{CTRATE_SPLIT[name.split]}/.../{name.ctrate_stem}"
        suffixes = "|".join(SUFFIXES[fmt])
        text = f"{self.volumes_dir}/{name.stem}{{{suffixes}}} or {self.volumes_dir}/{ctrate}{{{suffixes}}} at any depth"
        other = "npy" if fmt == "nifti" else "nifti"
        others = self.contents().volumes[other]
        if others:
            label = ".npy" if other == "npy" else "NIfTI"
            text += (
                f" ({self.volumes_dir} holds {len(others)} {label} volumes, e.g. {next(iter(others.values()))}: "
                f"pass volume_format='{other}' or 'auto')"
            )
        return text


__all__ = [
    "FORMAT_CHOICES",
    "SUFFIXES",
    "FolderContents",
    "FormatChoice",
    "VolumeFormat",
    "VolumeLocator",
    "archive_url",
    "check_format_choice",
]
