"""Find a question's CT volume under a folder, by name.

Accepted layouts under ``volumes_dir`` (local folder or fsspec URL), searched recursively once per split:

- flat: ``<volumes_dir>/test_1005_b_1.nii.gz``;
- CT-RATE's nested layout: ``<volumes_dir>/valid/valid_1005/valid_1005_b/valid_1005_b_1.nii.gz`` (3D-RAD's ``test_*``
  volumes are CT-RATE's ``valid_*``; ``train_*`` names are the same), also below ``valid_fixed/`` / ``train_fixed/``.

``volumes_dir`` may also be a zip archive, as the Hub dataset publishes its images (``Images/test.zip``): a local
``.zip`` path, or a chained fsspec URL such as ``zip://::path/to/test.zip`` or ``zip://::hf://datasets/.../test.zip``.
Its members (``.nii``, ``.nii.gz`` or ``.npy``, flat or nested as in CT-RATE under any top folder, e.g.
``test_106/test_106_a/test_106_a_1.nii``) are then read straight from the archive.

Only the file name decides; a name found twice under the folder is an error rather than a silent pick.
"""

from __future__ import annotations

import os
from typing import Literal

import fsspec

from rad3d_hf.volume_names import CTRATE_SPLIT, parse_volume_name, strip_volume_suffix

VolumeFormat = Literal["nifti", "npy"]
SUFFIXES: dict[str, tuple[str, ...]] = {"nifti": (".nii.gz", ".nii"), "npy": (".npy",)}


def archive_url(volumes_dir: str) -> str:
    """``volumes_dir`` as fsspec reads it: a local ``.zip`` file becomes ``zip://::<absolute path>``."""
    if "://" not in volumes_dir and volumes_dir.lower().endswith(".zip") and os.path.isfile(volumes_dir):
        return f"zip://::{os.path.abspath(volumes_dir)}"
    return volumes_dir


class VolumeLocator:
    """Maps 3D-RAD volume stems (``test_1005_b_1``) to file paths of one format under ``volumes_dir``."""

    def __init__(self, volumes_dir: str, volume_format: VolumeFormat = "nifti") -> None:
        if volume_format not in SUFFIXES:
            raise ValueError(f"volume_format {volume_format!r}; expected one of {', '.join(SUFFIXES)}")
        self.volumes_dir = str(volumes_dir)
        self.url = archive_url(self.volumes_dir)
        self.volume_format = volume_format
        self._paths: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        if self._paths is None:
            fs, root = fsspec.core.url_to_fs(self.url)
            # Members of a chained URL (zip://::archive) are opened through the same chain.
            chain = "::" + self.url.split("::", 1)[1] if "::" in self.url else ""
            if not fs.isdir(root):
                raise FileNotFoundError(f"volumes_dir {self.volumes_dir} is not a folder")
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            paths: dict[str, str] = {}
            for path in sorted(fs.find(root)):
                base = path.rsplit("/", 1)[-1]
                if not base.endswith(SUFFIXES[self.volume_format]):
                    continue
                try:
                    name = parse_volume_name(base)
                except ValueError:
                    continue
                stem = (
                    name.stem if name.split != "valid" else f"test_{name.patient_id}_{name.scan}_{name.reconstruction}"
                )
                full = path if protocol in ("file", "local") and not chain else f"{protocol}://{path}{chain}"
                if stem in paths and paths[stem] != full:
                    raise ValueError(f"volume {stem} found twice under {self.volumes_dir}: {paths[stem]} and {full}")
                paths[stem] = full
            self._paths = paths
        return self._paths

    def locate(self, volume_name: str) -> str | None:
        """Path of the volume called ``volume_name`` (stem or file name), or None when absent."""
        return self._index().get(strip_volume_suffix(volume_name))

    def __len__(self) -> int:
        return len(self._index())

    def describe_search(self, volume_name: str) -> str:
        name = parse_volume_name(volume_name)
        ctrate = f"{CTRATE_SPLIT[name.split]}/.../{name.ctrate_stem}"
        suffixes = "|".join(SUFFIXES[self.volume_format])
        return f"{self.volumes_dir}/{name.stem}{{{suffixes}}} or {self.volumes_dir}/{ctrate}{{{suffixes}}}"
