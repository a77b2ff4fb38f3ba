"""volumes_dir as a zip archive (the Hub's Images/test.zip): local path or chained URL, nested or flat, every format."""

from __future__ import annotations

import gzip
import json
import zipfile

import numpy as np
import pytest

from rad3d_hf.cli import main as cli
from rad3d_hf.demo import ensure_demo_data
from rad3d_hf.transforms import M3DTransform, SliceRenderer
from rad3d_hf.volumes.locator import VolumeLocator

SIZE = (8, 32, 32)


def _zip_nested_nii(path, volumes) -> None:
    """CT-RATE's nested layout under a top folder, uncompressed .nii members, as users report Images/test.zip."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(volumes.glob("test_*.nii.gz")):
            stem = source.name.removesuffix(".nii.gz")
            patient, scan = stem.rsplit("_", 2)[0], stem.rsplit("_", 1)[0]
            archive.writestr(f"Images/test/{patient}/{scan}/{stem}.nii", gzip.decompress(source.read_bytes()))


def test_zip_volumes_load_and_preprocess_exactly_like_the_folder(tmp_path, capsys):
    from datasets import load_dataset

    root = ensure_demo_data()
    volumes = root / "volumes"
    archive = tmp_path / "test.zip"
    _zip_nested_nii(archive, volumes)
    transform = M3DTransform(size=SIZE)
    for volumes_dir in (str(archive), f"zip://::{archive}"):
        locator = VolumeLocator(volumes_dir)
        found = locator.locate("test_1001_b_1")
        assert found == f"zip://Images/test/test_1001/test_1001_b/test_1001_b_1.nii::{archive}"
        rows = load_dataset(
            "3d-rad", "task4", split="test", splits=("test",), data_dir=str(root), volumes_dir=volumes_dir
        )
        names = sorted(set(rows["volume_name"]))[:2]
        for name in names:
            row = next(r for r in rows if r["volume_name"] == name)
            assert np.array_equal(transform(row["volume"]), transform(volumes / f"{name}.nii.gz"))

    common = ["preprocess", "--quiet", "--size", *map(str, SIZE), "--data-dir", str(root), "--config", "task4"]
    assert cli([*common, "--volumes-dir", str(archive), "--out", str(tmp_path / "from_zip")]) == 0
    assert cli([*common, "--volumes-dir", str(volumes), "--out", str(tmp_path / "from_folder")]) == 0
    manifest = json.loads((tmp_path / "from_zip" / "manifest.json").read_text())
    assert manifest["volumes"] and all(e["source"].endswith(f"::{archive}") for e in manifest["volumes"].values())
    for path in (tmp_path / "from_folder").glob("*.npy"):
        assert np.array_equal(np.load(path), np.load(tmp_path / "from_zip" / path.name)), path.name
    capsys.readouterr()


@pytest.mark.parametrize("suffix", [".nii.gz", ".npy"])
def test_flat_zip_of_compressed_nifti_or_npy_members(tmp_path, suffix):
    root = ensure_demo_data()
    transform = M3DTransform(size=SIZE)
    sources = sorted((root / "volumes").glob("test_1000_*.nii.gz"))
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for source in sources:
            stem = source.name.removesuffix(".nii.gz")
            if suffix == ".npy":
                local = tmp_path / f"{stem}.npy"
                np.save(local, transform(source))
                out.write(local, f"{stem}.npy")
            else:
                out.write(source, source.name)
    locator = VolumeLocator(str(archive), "npy" if suffix == ".npy" else "nifti")
    renderer = SliceRenderer("minmax", num_slices=2, size=32, montage=True)
    assert len(locator) == len(sources)
    for source in sources:
        stem = source.name.removesuffix(".nii.gz")
        member = locator.locate(stem)
        assert member == f"zip://{stem}{suffix}::{archive}"
        assert np.array_equal(transform(member), transform(source))
        # the 2D-slice renderer reads the same member (a .npy holds the preprocessed array it renders as is)
        local = tmp_path / f"{stem}.npy" if suffix == ".npy" else source
        assert renderer(member) == renderer(local)
