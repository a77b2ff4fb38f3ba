"""``rad3d-hf show``: the figure of a row built in the test, and the command on the demo data."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf.cli import main
from rad3d_hf.cli.show import config_of
from rad3d_hf.volumes.figure import _caption, render_question_figure, volume_views
from tests.conftest import demo_under
from tests.volume_fixtures import ct_like, write_nifti


def _row(tmp_path: Path) -> dict:
    current = write_nifti(tmp_path / "test_5_b_1.nii.gz", ct_like((40, 30, 12), seed=1))
    earlier = write_nifti(tmp_path / "test_5_a_1.nii.gz", ct_like((40, 30, 12), seed=0))
    return {
        "id": "test/task6/b/000007", "task": 6, "task_name": "Longitudinal Temporal Diagnosis", "subtask": "b",
        "question": "Labels of lung nodule on the earlier scans: [1]. What is its status now?",
        "choices": ["Refractory", "Resolved", "New", "No Abnormality"], "answer": "Refractory", "answer_choice": "A",
        "volume_name": "test_5_b_1", "volume": nib.load(current),
        "prior_volume_names": ["test_5_a_1"], "prior_volumes": [nib.load(earlier)],
    }  # fmt: skip


def test_figure_of_a_row(tmp_path: Path) -> None:
    import matplotlib.image

    out = render_question_figure(_row(tmp_path), tmp_path / "fig" / "q.png")
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] > pixels.shape[1] * 0.6  # two rows of views plus the caption
    assert pixels[..., :3].std() > 0.05  # something was drawn
    caption = _caption(_row(tmp_path))
    assert "test/task6/b/000007" in caption and "A: A. Refractory" in caption and "   C. New" in caption


def test_views_use_orientation_and_spacing(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii.gz", ct_like((40, 30, 12)))
    voxels, spacing, label = volume_views(nib.load(path))
    assert voxels.shape == (12, 30, 40) and spacing == pytest.approx((2.0, 0.8, 0.8)) and label == "v.nii.gz"
    np.save(tmp_path / "m3d.npy", np.zeros((1, 4, 8, 8), dtype=np.float32))
    voxels, spacing, _ = volume_views(str(tmp_path / "m3d.npy"))
    assert voxels.shape == (4, 8, 8) and spacing is None  # .npy records no spacing


def test_row_without_volume_is_refused(tmp_path: Path) -> None:
    row = _row(tmp_path)
    row["volume"] = None
    with pytest.raises(ValueError, match="question test/task6/b/000007 has no volume"):
        render_question_figure(row, tmp_path / "x.png")


def test_question_ids_map_to_configs() -> None:
    assert config_of("test/task4/lung_nodule/000123") == ("task4_lung_nodule", "test")
    with pytest.raises(ValueError, match="does not look like"):
        config_of("task4/lung_nodule/000123")
    with pytest.raises(ValueError, match="no subtask config 'task4_spleen'"):
        config_of("test/task4/spleen/000001")


def test_show_command_on_demo_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    demo_under(tmp_path / "hf")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "show.png"
    cache = ["--cache-dir", str(tmp_path / "cache")]  # datasets' cache key does not cover where the demo folder is
    assert main(["show", "test/task6/c/000004", "--demo", *cache, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.stat().st_size > 10_000
    assert main(["show", "test/task6/c/999999", "--demo", *cache, "--out", str(out)]) == 2
    assert "is not in config 'task6_c', split 'test'" in capsys.readouterr().err
