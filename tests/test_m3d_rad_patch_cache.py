"""The frozen vision tower's feature cache: exact, bounded, and refused for a tower that could change its output."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")

from rad3d_hf.models.m3d_rad.patch_feature_cache import image_key  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import build_tiny  # noqa: E402
from rad3d_hf.models.m3d_rad.processing_m3d_rad import M3DRadCollator  # noqa: E402

ROWS = [
    {
        "id": f"r{i}",
        "question": "Is there a nodule?",
        "question_type": "closed",
        "choices": ["Yes", "No"],
        "answer": "Yes" if i % 2 else "No",
        "answer_choice": "A" if i % 2 else "B",
    }
    for i in range(6)
]


@pytest.fixture()
def frozen():
    model, processor = build_tiny(["Is there a nodule? Answer: A. Yes B. No"] * 20, seed=0)
    model.vision_tower.requires_grad_(False)
    model.vision_tower.eval()
    return model, processor


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, 1, 16, 64, 64), generator=torch.Generator().manual_seed(seed))


def count_tower_calls(model) -> list[int]:
    calls: list[int] = []
    model.vision_tower.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    return calls


def test_cached_features_equal_computed_ones_and_each_image_runs_once(frozen):
    model, _ = frozen
    x = images(3)
    batch = torch.cat([x, x[:2]])  # two images twice in one batch
    with torch.no_grad():
        plain = model.get_patch_features(batch)
    model.cache_patch_features(max_items=8)
    calls = count_tower_calls(model)
    with torch.no_grad():
        first = model.get_patch_features(batch)
        again = model.get_patch_features(batch[[4, 0]])
    assert torch.equal(first, plain) and torch.equal(again, plain[[4, 0]])
    assert sum(calls) == 5 and len(calls) == 1  # the first call's rows, computed together; the second all cached
    assert (model.patch_feature_cache.hits, model.patch_feature_cache.misses) == (2, 5)
    model.cache_patch_features(None)
    assert model.patch_feature_cache is None


def test_the_cache_is_bounded_least_recently_used_first(frozen):
    model, _ = frozen
    model.cache_patch_features(max_items=2)
    a, b, c = images(3)
    with torch.no_grad():
        for image in (a, b, a, c):  # c pushes out b, the least recently used
            model.get_patch_features(image[None])
    cache = model.patch_feature_cache
    assert len(cache) == 2 and cache.misses == 3
    with torch.no_grad():
        model.get_patch_features(a[None])
        model.get_patch_features(b[None])
    assert cache.misses == 4
    with pytest.raises(ValueError, match="max_items must be positive, got 0"):
        model.cache_patch_features(max_items=0)


def test_a_tower_that_could_change_is_refused(frozen):
    model, _ = frozen
    model.cache_patch_features()
    model.vision_tower.patch_embedding.requires_grad_(True)
    with pytest.raises(RuntimeError, match="fixed vision tower, but its parameter .* requires grad"):
        model.get_patch_features(images(1))
    model.vision_tower.requires_grad_(False)
    model.vision_tower.blocks[0].mlp.drop1.p = 0.1
    model.vision_tower.train()
    with pytest.raises(RuntimeError, match="training mode with dropout"):
        model.get_patch_features(images(1))


def test_training_through_the_cache_matches_training_without_it(frozen):
    model, processor = frozen
    collator = M3DRadCollator(processor, image_transform=None)
    x = images(3)
    batch = collator([{**row, "pixel_values": x[i % 3]} for i, row in enumerate(ROWS)])
    grads = []
    for cached in (False, True):
        model.cache_patch_features(1024 if cached else None)
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.mm_projector.parameters()]))
    assert torch.equal(grads[0][0], grads[1][0])
    assert all(torch.allclose(a, b) for a, b in zip(grads[0][1], grads[1][1]))


def test_image_keys_tell_images_apart_by_value_shape_and_dtype():
    x = images(1)[0]
    assert image_key(x) == image_key(x.clone())
    y = x.clone()
    y[0, 0, 0, 0] += 1e-6
    assert image_key(y) != image_key(x)
    assert image_key(x.reshape(1, 64, 16, 64)) != image_key(x)
    assert image_key(x.double()) != image_key(x)
