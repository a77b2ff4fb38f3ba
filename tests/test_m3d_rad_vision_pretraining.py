"""Stage 1 of a model trained from random weights (vision tower on the Task 4 labels) and in-model standardisation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")

from rad3d_hf.models.m3d_rad import M3DRadConfig, M3DRadForCausalLM, M3DRadVisionConfig  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import build_tiny  # noqa: E402
from rad3d_hf.models.m3d_rad.vision_pretraining import finding_labels, pretrain_vision  # noqa: E402


def task4_row(volume: str, finding: str, answer: str, n: int = 0) -> dict:
    return {
        "id": f"train/task4/{finding}/{n:06d}",
        "task": 4,
        "subtask": finding,
        "answer": answer,
        "volume_name": volume,
    }


def test_labels_come_from_task4_rows_one_row_per_volume():
    rows = [
        task4_row("v2", "Emphysema", "Yes", 0),
        task4_row("v1", "Emphysema", "No", 1),
        task4_row("v1", "Cardiomegaly", "Yes", 2),
        task4_row("v1", "Cardiomegaly", "Yes", 3),  # asked twice, answered alike: one label
        {"id": "train/task1/x/000004", "task": 1, "subtask": "x", "answer": "Left lung.", "volume_name": "v3"},
    ]
    labels = finding_labels(rows)
    assert labels.volume_names == ("v1", "v2") and labels.findings == ("Cardiomegaly", "Emphysema")
    np.testing.assert_array_equal(labels.labels, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(labels.known, [[True, True], [False, True]])  # v2 was never asked Cardiomegaly


def test_label_errors_name_the_rows():
    with pytest.raises(ValueError, match="000000 and train/task4/Emphysema/000001 give volume v1 different"):
        finding_labels([task4_row("v1", "Emphysema", "Yes", 0), task4_row("v1", "Emphysema", "No", 1)])
    with pytest.raises(ValueError, match="row train/task4/Emphysema/000000: .* Yes or No, got 'Maybe'"):
        finding_labels([task4_row("v1", "Emphysema", "Maybe")])
    with pytest.raises(ValueError, match="no Task 4 rows"):
        finding_labels([{"id": "a", "task": 2, "subtask": "s", "answer": "x", "volume_name": "v"}])


def bright_blob_volumes(n: int, size: tuple[int, int, int], seed: int) -> tuple[torch.Tensor, list[bool]]:
    """Noise volumes, every other one with a bright cube at a random place: a finding anywhere in the volume."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand((n, 1, *size), generator=gen) * 0.2
    present = [i % 2 == 0 for i in range(n)]
    for i in range(0, n, 2):
        d, h, w = (int(torch.randint(0, s - s // 3, (1,), generator=gen)) for s in size)
        images[i, 0, d : d + size[0] // 3, h : h + size[1] // 3, w : w + size[2] // 3] = 1.0
    return images, present


def test_stage1_learns_a_finding_from_the_pixels_and_leaves_the_language_model_alone():
    model, _ = build_tiny(["Is there a blob? Answer: A. Yes B. No"] * 20, seed=0)
    images, present = bright_blob_volumes(24, tuple(model.config.vision_config.image_size), seed=1)
    rows = [task4_row(f"v{i:02d}", "Blob", "Yes" if p else "No", i) for i, p in enumerate(present)]
    labels = finding_labels(rows)
    language_before = {k: v.clone() for k, v in model.language_model.state_dict().items()}
    vision_before = {k: v.clone() for k, v in model.vision_tower.state_dict().items()}
    record = pretrain_vision(model, images, labels, steps=120, batch_size=8, learning_rate=3e-3, seed=3)
    assert record.steps == 120 and record.seed == 3 and len(record.losses) == 120
    assert np.mean(record.losses[-10:]) < 0.5 * np.mean(record.losses[:10])
    assert all(torch.equal(v, model.language_model.state_dict()[k]) for k, v in language_before.items())
    assert any(not torch.equal(v, model.vision_tower.state_dict()[k]) for k, v in vision_before.items())
    # the image tokens now separate the two kinds of volume: a linear read of their mean is enough
    with torch.no_grad():
        mean = model.get_image_features(images).mean(1)
    direction = mean[0::2].mean(0) - mean[1::2].mean(0)
    scores = mean @ direction
    assert scores[0::2].min() > scores[1::2].max()
    assert record.to_dict()["loss"].keys() >= {"50", "100", "120"}


def test_stage1_is_seeded():
    weights = []
    for _ in range(2):
        model, _ = build_tiny(["Is there a blob? Answer: A. Yes B. No"] * 20, seed=0)
        images, present = bright_blob_volumes(8, tuple(model.config.vision_config.image_size), seed=1)
        labels = finding_labels([task4_row(f"v{i}", "Blob", "Yes" if p else "No", i) for i, p in enumerate(present)])
        pretrain_vision(model, images, labels, steps=5, batch_size=4, seed=7)
        weights.append(torch.cat([p.detach().flatten() for p in model.vision_tower.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_stage1_rejects_mismatched_input():
    model, _ = build_tiny(["Is there a blob? Answer: A. Yes B. No"] * 20, seed=0)
    labels = finding_labels([task4_row("v1", "Blob", "Yes")])
    with pytest.raises(ValueError, match="2 images for 1 labelled volumes"):
        pretrain_vision(model, torch.zeros(2, 1, 16, 64, 64), labels, steps=1)
    with pytest.raises(ValueError, match="must be positive, got 0"):
        pretrain_vision(model, torch.zeros(1, 1, 16, 64, 64), labels, steps=0)


def test_pixel_standardisation_lives_in_the_model_and_defaults_to_identity(tmp_path):
    assert (M3DRadVisionConfig().pixel_mean, M3DRadVisionConfig().pixel_std) == (0.0, 1.0)
    with pytest.raises(ValueError, match="pixel_std must be positive, got 0.0"):
        M3DRadVisionConfig(pixel_std=0)
    model, _ = build_tiny(["a b c"] * 20, seed=0)
    image = torch.rand(2, 1, *model.config.vision_config.image_size, generator=torch.Generator().manual_seed(0))
    vision = model.config.vision_config
    assert (vision.pixel_mean, vision.pixel_std) == (0.13, 0.3)  # the tiny preset's, for the demo volumes
    vision.pixel_mean, vision.pixel_std = 0.0, 1.0
    with torch.no_grad():
        plain = model.get_image_features((image - 0.25) / 0.5)
        vision.pixel_mean, vision.pixel_std = 0.25, 0.5
        inside = model.get_image_features(image)
    torch.testing.assert_close(inside, plain)
    model.save_pretrained(tmp_path)
    reloaded = M3DRadForCausalLM.from_pretrained(tmp_path)
    assert isinstance(reloaded.config, M3DRadConfig)
    assert (reloaded.config.vision_config.pixel_mean, reloaded.config.vision_config.pixel_std) == (0.25, 0.5)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.get_image_features(image), inside)
