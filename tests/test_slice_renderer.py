"""SliceRenderer: slice choice, windows against a direct computation, orientation as M3DTransform, inputs, presets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rad3d_hf import M3DTransform
from rad3d_hf.transforms.slices import MAX_SLICES, PRESETS, SliceRenderer, montage, preset_table
from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.orientation import orient_dhw
from tests.volume_fixtures import LPS_AFFINE, ct_like, write_nifti

README = Path(__file__).resolve().parents[1] / "examples" / "README.md"  # zero-shot: CT as 2D slices


def _expected(dhw: np.ndarray, index: int, window: tuple[float, float], size: int) -> np.ndarray:
    """One slice windowed and resized with torch: what the renderer must produce."""
    low, high = window
    plane = torch.from_numpy(np.clip(dhw[index].astype(np.float32), low, high))[None, None]
    resized = torch.nn.functional.interpolate(plane, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    return np.clip(np.rint((resized.numpy() - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


def test_uniform_slices_are_bin_centres_and_capped_by_depth() -> None:
    renderer = SliceRenderer(num_slices=4)
    assert renderer.slice_indices(40).tolist() == [5, 15, 25, 35]
    assert renderer.slice_indices(3).tolist() == [0, 1, 2]  # fewer slices than asked: all of them
    assert SliceRenderer(num_slices=1).slice_indices(9).tolist() == [4]


def test_random_sampling_is_seeded_per_volume_and_stays_in_its_bin() -> None:
    renderer = SliceRenderer(num_slices=5, sampling="random", seed=7)
    first = renderer.slice_indices(100, key="test_1_a_1")
    assert first.tolist() == renderer.slice_indices(100, key="test_1_a_1").tolist()
    assert all(20 * i <= v < 20 * (i + 1) for i, v in enumerate(first))
    others = {
        tuple(SliceRenderer(num_slices=5, sampling="random", seed=s).slice_indices(100, key="x")) for s in range(5)
    }
    assert len(others) > 1
    assert renderer.params()["seed"] == 7 and renderer.params()["sampling"] == "random"


@pytest.mark.parametrize("preset", ["medgemma", "lung-mediastinum-bone", "lung"])
def test_windows_equal_a_direct_torch_computation(preset: str) -> None:
    xyz = ct_like((30, 26, 20), seed=1)
    renderer = SliceRenderer(preset, num_slices=3, size=16)
    images = renderer(xyz, affine=LPS_AFFINE)
    dhw = orient_dhw(xyz, LPS_AFFINE)
    windows = PRESETS[preset].windows
    assert windows is not None
    assert len(images) == 3
    for image, index in zip(images, renderer.slice_indices(dhw.shape[0])):
        pixels = np.asarray(image)
        assert image.size == (16, 16) and image.mode == ("RGB" if len(windows) == 3 else "L")
        channels = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(3)]
        for channel, window in zip(channels, windows):
            assert np.abs(channel.astype(int) - _expected(dhw, int(index), window, 16)).max() <= 1


def test_orientation_matches_m3d_transform() -> None:
    """The renderer's slice d of the volume is M3DTransform's slice d (same axis codes), here without resizing."""
    xyz = ct_like((12, 10, 8), seed=2)
    m3d = M3DTransform(size=(8, 10, 12), crop_foreground=False)(xyz, affine=LPS_AFFINE)[0]
    images = SliceRenderer("minmax", num_slices=8, size=12)(xyz, affine=LPS_AFFINE)
    dhw = orient_dhw(xyz, LPS_AFFINE)
    assert dhw.shape == m3d.shape == (8, 10, 12)
    for index, image in enumerate(images):
        # min-max over the volume then resize 10x12 -> 12x12: compare with M3D's normalised slice resized likewise
        plane = torch.from_numpy(m3d[index])[None, None]
        expected = torch.nn.functional.interpolate(plane, size=(12, 12), mode="bilinear", align_corners=False)[0, 0]
        assert np.abs(np.asarray(image) / 255.0 - expected.numpy()).max() <= 1 / 255 + 1e-6


def test_inputs_file_nifti_value_row_and_montage(tmp_path: Path) -> None:
    xyz = ct_like((20, 18, 12), seed=3)
    path = write_nifti(tmp_path / "test_5_a_1.nii.gz", xyz)
    renderer = SliceRenderer("mediastinum", num_slices=4, size=10)
    direct = [np.asarray(i) for i in renderer(xyz, affine=LPS_AFFINE)]
    for value in (path, str(path), {"path": str(path), "bytes": None}, {"path": None, "bytes": path.read_bytes()}):
        assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(direct, renderer(value), strict=True))
    row = {"id": "q1", "volume": {"path": str(path), "bytes": None}, "volume_name": "test_5_a_1"}
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(direct, renderer(row)))
    sheet = SliceRenderer("mediastinum", num_slices=4, size=10, montage=True)(path)
    assert sheet.size == (20, 20)
    assert np.array_equal(np.asarray(sheet)[10:, :10], direct[2])  # row by row: third slice at bottom left
    assert montage(renderer(path)[:3]).size == (20, 20)


def test_bad_input_and_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown render preset 'soft'"):
        SliceRenderer("soft")
    with pytest.raises(ValueError, match=f"num_slices must be an integer from 1 to {MAX_SLICES}"):
        SliceRenderer(num_slices=MAX_SLICES + 1)
    with pytest.raises(ValueError, match="size must be"):
        SliceRenderer(size=0)
    with pytest.raises(ValueError, match="window must be"):
        SliceRenderer(window=(100, -100))
    normalised = tmp_path / "m3d_input.npy"
    np.save(normalised, np.random.default_rng(0).random((1, 8, 16, 16)).astype(np.float32))
    with pytest.raises(VolumeError, match=re.escape(str(normalised)) + ".*not in Hounsfield units.*'auto'"):
        SliceRenderer("lung")(normalised)
    assert len(SliceRenderer("minmax", num_slices=2, size=8)(normalised)) == 2
    with pytest.raises(ValueError, match="row 'q9' has no volume"):
        SliceRenderer()({"id": "q9", "volume": None})


def test_custom_window_is_recorded() -> None:
    renderer = SliceRenderer(window=(-1000, 1000), num_slices=2, size=8)
    assert renderer.params()["preset"] == "custom" and renderer.params()["windows"] == [[-1000.0, 1000.0]]
    assert renderer(ct_like(seed=4))[0].mode == "L"


def test_readme_carries_the_preset_table() -> None:
    assert preset_table() in README.read_text(encoding="utf-8")
