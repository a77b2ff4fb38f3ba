"""``rad3d-hf bench`` runs end to end on a tiny phantom and reports every measurement (numbers are not asserted)."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf.cli import main
from rad3d_hf.volumes.phantom import ct_phantom, write_ct_phantom


def test_phantom_is_ct_like_and_seeded(tmp_path: Path) -> None:
    volume, affine = ct_phantom((64, 64, 20), seed=3)
    assert volume.dtype == np.int16 and volume.min() == -1024 and volume.max() > 300
    assert np.array_equal(volume, ct_phantom((64, 64, 20), seed=3)[0])
    assert nib.aff2axcodes(affine) == ("L", "P", "S")
    air, lung, tissue = (np.mean(np.abs(volume - v) < 60) for v in (-1000, -850, 40))
    assert air > 0.05 and lung > 0.03 and tissue > 0.1
    path = write_ct_phantom(tmp_path / "p.nii.gz", (64, 64, 20))
    ratio = path.stat().st_size / volume.nbytes
    assert 0.3 < ratio < 0.8  # compresses like real CT, not like a cartoon
    assert np.array_equal(np.asanyarray(nib.load(path).dataobj), ct_phantom((64, 64, 20))[0])


def test_bench_reports_every_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert main(["bench", "--shape", "48", "40", "24", "--volumes", "2", "--repeats", "1", "--no-monai"]) == 0
    out = capsys.readouterr().out
    for label in (
        "decode: rad3d_hf.read_volume",
        "preprocess: M3DTransform",
        "decode only (ours)",
        "nibabel + scipy zoom",
        "rad3d_hf / nibabel + scipy:",
        "rad3d_hf / decode only:",
        "peak numpy memory",
    ):
        assert label in out, label
    assert re.search(r"rad3d_hf / nibabel \+ scipy: \d+\.\d\dx", out)
    assert (tmp_path / "rad3d_hf" / "bench" / "ct_phantom_48x40x24_seed0.nii.gz").is_file()
