"""M3DTransform: parity with torch and with M3D's MONAI recipe, orientation, inputs, datasets and DataLoader use."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from rad3d_hf import M3DTransform
from rad3d_hf.transforms import dhw_spacing, orient_dhw, resize_trilinear
from rad3d_hf.volumes.errors import VolumeError
from tests.volume_fixtures import LPS_AFFINE, ct_like, write_nifti

SIZE = (8, 12, 10)


def _torch_resize(volume: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(tensor, size=size, mode="trilinear", align_corners=False)[0, 0].numpy()


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((40, 50, 60), (32, 16, 20)),
        ((7, 9, 11), (32, 25, 30)),
        ((33, 64, 64), (32, 64, 64)),
        ((1, 5, 3), (4, 1, 6)),
        ((61, 97, 83), (32, 40, 40)),
    ],
)
def test_resize_equals_torch_trilinear(shape: tuple[int, int, int], size: tuple[int, int, int]) -> None:
    volume = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32) * 300
    ours = resize_trilinear(volume, size)
    assert ours.dtype == np.float32 and ours.shape == size
    np.testing.assert_allclose(ours, _torch_resize(volume, size), atol=1e-5 * 300, rtol=0)
    normalised = volume / 300
    np.testing.assert_allclose(resize_trilinear(normalised, size), _torch_resize(normalised, size), atol=1e-5, rtol=0)


def test_resize_clip_equals_clip_first() -> None:
    volume = (np.random.default_rng(3).normal(size=(20, 30, 25)) * 800).astype(np.int16)
    source = volume.copy()
    ours = resize_trilinear(volume, (9, 14, 11), clip=(-500.0, 300.0))
    np.testing.assert_allclose(ours, _torch_resize(np.clip(volume, -500, 300), (9, 14, 11)), atol=1e-3)
    assert np.array_equal(volume, source)  # the source is never modified


def _m3d_reference(
    dhw: np.ndarray, size: tuple[int, int, int], window: tuple[float, float] | None = None
) -> np.ndarray:
    """M3D's published recipe with MONAI: min-max, CropForeground(), Resize(mode="bilinear")."""
    import monai.transforms as mt

    x = dhw.astype(np.float32)
    if window is not None:
        x = np.clip(x, *window)
    x = (x - x.min()) / (x.max() - x.min())
    out = mt.Compose([mt.CropForeground(), mt.Resize(spatial_size=size, mode="bilinear")])(x[None])
    return np.asarray(out)


@pytest.mark.parametrize("window", [None, (-1000.0, 1000.0), (-600.0, 200.0)])
@pytest.mark.parametrize("shape", [(30, 40, 50), (12, 64, 48)])
def test_matches_m3d_monai_recipe(shape: tuple[int, int, int], window: tuple[float, float] | None) -> None:
    dhw = ct_like(shape, seed=shape[0])
    ours = M3DTransform(size=SIZE, window=window)(dhw)
    reference = _m3d_reference(dhw, SIZE, window)
    assert ours.shape == (1, *SIZE) and ours.dtype == np.float32
    assert 0.0 <= ours.min() and ours.max() <= 1.0
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)


def test_foreground_crop_can_be_turned_off() -> None:
    import monai.transforms as mt

    dhw = ct_like((20, 24, 28))
    ours = M3DTransform(size=SIZE, crop_foreground=False)(dhw)
    x = dhw.astype(np.float32)
    x = (x - x.min()) / (x.max() - x.min())
    np.testing.assert_allclose(ours, np.asarray(mt.Resize(spatial_size=SIZE, mode="bilinear")(x[None])), atol=1e-5)


def test_orientation_is_inferior_posterior_left() -> None:
    xyz = np.zeros((6, 5, 4), dtype=np.int16)
    xyz[5, 0, 3] = 1  # x = patient's far left, y = front, z = top (LPS affine)
    dhw = orient_dhw(xyz, LPS_AFFINE)
    assert dhw.shape == (4, 5, 6)
    assert dhw[0, 0, 5] == 1  # first slice = head end, top row = anterior, last column = patient's left
    ras = np.diag([1.0, 1.0, 1.0, 1.0])  # the same anatomy stored in the opposite x/y order
    assert np.array_equal(orient_dhw(xyz[::-1, ::-1, :], ras), dhw)
    assert dhw_spacing((0.8, 0.7, 2.0), LPS_AFFINE) == (2.0, 0.7, 0.8)
    assert orient_dhw(xyz, None) is xyz


def test_path_image_array_and_npy_inputs_agree(tmp_path: Path) -> None:
    xyz = ct_like((20, 18, 14))
    path = write_nifti(tmp_path / "v.nii.gz", xyz)
    transform = M3DTransform(size=SIZE)
    from_path = transform(path)
    assert np.array_equal(transform(str(path)), from_path)
    assert np.array_equal(transform(nib.load(path)), from_path)
    assert np.array_equal(transform(xyz, affine=LPS_AFFINE), from_path)
    assert np.array_equal(transform({"path": str(path), "bytes": None}), from_path)
    assert np.array_equal(transform({"path": None, "bytes": path.read_bytes()}), from_path)
    np.save(tmp_path / "dhw.npy", orient_dhw(xyz, LPS_AFFINE))
    assert np.array_equal(transform(tmp_path / "dhw.npy"), from_path)
    np.save(tmp_path / "ready.npy", from_path)  # M3D input already: returned as is
    assert np.array_equal(transform(tmp_path / "ready.npy"), from_path)


def test_rows_and_batches(tmp_path: Path) -> None:
    paths = [write_nifti(tmp_path / f"s{i}.nii.gz", ct_like((16, 14, 10), seed=i)) for i in range(3)]
    transform = M3DTransform(size=SIZE)
    row = {"id": "q1", "volume": nib.load(paths[2]), "prior_volumes": [nib.load(paths[0]), nib.load(paths[1])]}
    out = transform(row)
    assert out["id"] == "q1" and out["volume"].shape == (1, *SIZE)
    assert [p.shape for p in out["prior_volumes"]] == [(1, *SIZE)] * 2
    assert np.array_equal(out["prior_volumes"][0], transform(paths[0]))
    assert "volume" in row and not isinstance(row["volume"], np.ndarray)  # the input row is left alone
    batch = transform({"id": ["a", "b"], "volume": [str(paths[0]), str(paths[1])]})
    assert batch["id"] == ["a", "b"] and [v.shape for v in batch["volume"]] == [(1, *SIZE)] * 2


def test_bad_arguments_and_volumes() -> None:
    with pytest.raises(ValueError, match=r"size must be three positive integers"):
        M3DTransform(size=(32, 256))
    with pytest.raises(ValueError, match=r"window must be \(low, high\)"):
        M3DTransform(window=(100, -100))
    with pytest.raises(VolumeError, match="is constant"):
        M3DTransform(size=SIZE)(np.zeros((4, 4, 4), dtype=np.int16))
    with pytest.raises(VolumeError, match="after clipping to the window"):
        M3DTransform(size=SIZE, window=(500, 600))(np.full((4, 4, 4), -1000, dtype=np.int16))
    with pytest.raises(VolumeError, match="expected a 3D volume"):
        M3DTransform(size=SIZE)(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="row 'q1' has no 'volume': load the dataset with volumes_dir"):
        M3DTransform(size=SIZE)({"id": "q1", "volume": None})
    with pytest.raises(TypeError, match="cannot read a volume from int"):
        M3DTransform(size=SIZE).volume(3)


def _dataset(tmp_path: Path):
    from datasets import Dataset, Features, List, Nifti, Value

    paths = [write_nifti(tmp_path / f"d{i}.nii.gz", ct_like((16, 14, 10), seed=i)) for i in range(4)]
    return Dataset.from_dict(
        {
            "id": [f"q{i}" for i in range(4)],
            "volume": [str(p) for p in paths],
            "prior_volumes": [[str(p) for p in paths[:i]] for i in range(4)],
        },
        features=Features({"id": Value("string"), "volume": Nifti(), "prior_volumes": List(Nifti())}),
    ), paths


def test_with_transform_and_iterable_map(tmp_path: Path) -> None:
    dataset, paths = _dataset(tmp_path)
    transform = M3DTransform(size=SIZE)
    expected = transform(paths[3])
    row = dataset.with_transform(transform)[3]
    assert np.array_equal(row["volume"], expected) and len(row["prior_volumes"]) == 3
    streamed = list(dataset.to_iterable_dataset().map(transform))
    assert np.array_equal(np.asarray(streamed[3]["volume"]), expected)
    assert [len(r["prior_volumes"]) for r in streamed] == [0, 1, 2, 3]


def test_dataloader_collate_in_two_workers(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    dataset, paths = _dataset(tmp_path)
    transform = M3DTransform(size=SIZE)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=transform.collate)
    batches = list(loader)
    assert [b["id"] for b in batches] == [["q0", "q1"], ["q2", "q3"]]
    assert batches[1]["volume"].shape == (2, 1, *SIZE) and batches[1]["volume"].dtype == torch.float32
    assert torch.equal(batches[1]["volume"][1], torch.from_numpy(transform(paths[3])))
    assert [p.shape[0] for p in batches[1]["prior_volumes"]] == [2, 3]
    assert batches[0]["prior_volumes"][0].shape == (0, 1, *SIZE)


def test_resize_equals_torch_on_random_shapes() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    sides = st.integers(min_value=1, max_value=40)

    @settings(max_examples=30, deadline=None, derandomize=True)
    @given(st.tuples(sides, sides, sides), st.tuples(sides, sides, sides), st.integers(0, 2**32 - 1))
    def check(shape: tuple[int, int, int], size: tuple[int, int, int], seed: int) -> None:
        volume = np.random.default_rng(seed).random(shape, dtype=np.float32)
        np.testing.assert_allclose(resize_trilinear(volume, size), _torch_resize(volume, size), atol=1e-5, rtol=0)

    check()
