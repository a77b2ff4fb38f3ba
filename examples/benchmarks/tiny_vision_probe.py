"""Can the tiny preset's vision tower learn the demo findings, from M3D's [0, 1] input and from a standardised one?

    python examples/benchmarks/tiny_vision_probe.py                  # ~1-2 min on one CPU core
    python examples/benchmarks/tiny_vision_probe.py --steps 1000 --seed 1

Why the tiny preset standardises its input inside the model (``pixel_mean``/``pixel_std`` of its vision config). This
takes the vision side alone: the tiny preset's ViT and projector (same seed, same weights as ``build_tiny``, its
standardisation switched off so that the probe controls the input) with a linear head on the flattened
image tokens are trained on the 18 Task 4 labels of the demo train volumes (binary cross-entropy, AdamW, seeded
batches) and scored on the demo test volumes by balanced accuracy, averaged over the findings. Two inputs, in the same
process on the same volumes and draws: M3DTransform's output as M3D feeds it ([0, 1] after min-max), and the same
standardised by two scalars (the train volumes' mean and standard deviation). It prints the learning curve of both and
the final ratio of their gains over 0.50.
"""

from __future__ import annotations

import argparse
import time


def _labelled_volumes(root, split: str, transform):  # type: ignore[no-untyped-def]
    import torch

    from rad3d_hf.data.rows import read_rows

    labels: dict[str, dict[str, bool]] = {}
    for row in read_rows(str(root), split, "task4"):
        labels.setdefault(row["volume_name"], {})[row["subtask"]] = row["answer"] == "Yes"
    names = sorted(labels)
    findings = sorted(labels[names[0]])
    images = torch.stack([torch.from_numpy(transform(str(root / "volumes" / f"{n}.nii.gz"))) for n in names])
    targets = torch.tensor([[labels[n][f] for f in findings] for n in names], dtype=torch.float32)
    return images, targets, findings


def balanced_accuracy(logits, targets) -> float:  # type: ignore[no-untyped-def]
    """Balanced accuracy of ``logits > 0``, averaged over the columns that hold both classes."""
    values = []
    for j in range(targets.shape[1]):
        positive, predicted = targets[:, j].bool(), logits[:, j] > 0
        if positive.any() and (~positive).any():
            values.append(((predicted[positive].float().mean() + (~predicted[~positive]).float().mean()) / 2).item())
    return sum(values) / len(values)


def train_probe(train, test, *, steps: int, seed: int, every: int) -> list[tuple[int, float, float, float]]:  # type: ignore[no-untyped-def]
    """(step, train, test, seconds): balanced accuracies of the tiny vision tower + projector + a linear head."""
    import torch

    from rad3d_hf.models.m3d_rad.presets import build_tiny

    model, _ = build_tiny(["probe"] * 4, seed=seed)
    model.config.vision_config.pixel_mean, model.config.vision_config.pixel_std = 0.0, 1.0  # the input as given
    (x_train, y_train), (x_test, y_test) = train, test
    tokens = model.get_image_features(x_train[:1]).shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = torch.nn.Linear(tokens * model.config.text_config.hidden_size, y_train.shape[1])
    parameters = [*model.vision_tower.parameters(), *model.mm_projector.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=3e-3)
    draws = torch.Generator().manual_seed(seed)

    def logits(x):  # type: ignore[no-untyped-def]
        return head(model.get_image_features(x).flatten(1))

    curve = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(y_train), (16,), generator=draws)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(x_train[batch]), y_train[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % every == 0 or step == steps:
            with torch.no_grad():
                curve.append(
                    (
                        step,
                        balanced_accuracy(logits(x_train), y_train),
                        balanced_accuracy(logits(x_test), y_test),
                        time.perf_counter() - start,
                    )
                )
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps of 16 volumes (default: 600)")
    parser.add_argument("--every", type=int, default=200, help="print the curve every N steps (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="model, head and batch seed (default: 0)")
    parser.add_argument("--demo-seed", type=int, default=0, help="seed of the demo data (default: 0)")
    args = parser.parse_args(argv)

    import torch

    from rad3d_hf import M3DTransform, ensure_demo_data
    from rad3d_hf.models.m3d_rad.presets import TINY_VISION

    torch.set_num_threads(1)
    root = ensure_demo_data(seed=args.demo_seed)
    transform = M3DTransform(size=tuple(TINY_VISION["image_size"]))
    x_train, y_train, findings = _labelled_volumes(root, "train", transform)
    x_test, y_test, _ = _labelled_volumes(root, "test", transform)
    mean, std = x_train.mean().item(), x_train.std().item()
    print(
        f"{len(x_train)} train / {len(x_test)} test volumes, {len(findings)} findings; input mean {mean:.3f}, "
        f"standard deviation {std:.3f}, mean per-voxel spread across train volumes {x_train.std(0).mean().item():.3f}"
        f" (the tiny preset standardises by {TINY_VISION['pixel_mean']} and {TINY_VISION['pixel_std']})"
    )
    inputs = {
        "as M3D feeds it ([0, 1])": (x_train, x_test),
        "standardised (x - mean) / std": ((x_train - mean) / std, (x_test - mean) / std),
    }
    curves = {}
    print(f"{'input':32s} {'step':>5s} {'train':>6s} {'test':>6s} {'time':>6s}")
    for name, (train_x, test_x) in inputs.items():
        curve = train_probe((train_x, y_train), (test_x, y_test), steps=args.steps, seed=args.seed, every=args.every)
        for step, on_train, on_test, seconds in curve:
            print(f"{name:32s} {step:5d} {on_train:6.3f} {on_test:6.3f} {seconds:5.0f}s")
        curves[name] = curve
    raw, standardised = curves.values()
    print(
        f"test balanced accuracy at step {raw[0][0]}: {raw[0][2]:.3f} as M3D feeds it, {standardised[0][2]:.3f} "
        f"standardised; at step {raw[-1][0]}: {raw[-1][2]:.3f} and {standardised[-1][2]:.3f} (blind: 0.500)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
