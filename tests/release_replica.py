"""A replica of the published release: the demo's tables, and its test volumes as ``Images/test.zip`` holds them.

3D-RAD publishes its QA tables and one image archive, ``Images/test.zip``, of preprocessed ``.npy`` arrays: each
``(1, 32, 256, 256)`` float32 on a fixed ``[0, 1]`` scale, 32 axial slices along axis 1 (read so by kaiko-ai/eva's
loader). Member folders are not published, so the replica nests its members under a top folder and one folder per
patient and scan, which the package must find without being told.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

MEMBER_ROOT = "3D-RAD-images"


def member_name(stem: str) -> str:
    """Where the replica keeps a volume: ``3D-RAD-images/test_1000/test_1000_a/test_1000_a_1.npy``."""
    split, patient, scan, _ = stem.split("_")
    return f"{MEMBER_ROOT}/{split}_{patient}/{split}_{patient}_{scan}/{stem}.npy"


def release_array(volume_path: Path) -> np.ndarray:
    """A demo volume as the release stores it: M3D's preprocessing, ``(1, 32, 256, 256)`` float32 in ``[0, 1]``."""
    from rad3d_hf.transforms import M3DTransform

    array = M3DTransform()(str(volume_path))
    return np.ascontiguousarray(array, dtype=np.float32)


def write_release_zip(demo_root: Path, out: Path) -> dict[str, np.ndarray]:
    """``out`` (a zip of the demo's test volumes as release arrays); returns the stored arrays by volume stem."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for volume in sorted((demo_root / "volumes").glob("test_*.nii.gz")):
            stem = volume.name[: -len(".nii.gz")]
            array = release_array(volume)
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(member_name(stem), buffer.getvalue())
            arrays[stem] = array
    return arrays
