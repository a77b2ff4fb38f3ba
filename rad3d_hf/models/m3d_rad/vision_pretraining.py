"""Stage 1 for a vision tower that starts from random weights: learn the 18 abnormality labels from the volumes.

M3D-LaMed starts from a separately pretrained 3D ViT (M3D-CLIP). A model built from random weights, such as the
``tiny`` preset, has none, and its small language model cannot learn to see and to read in one short run: trained
end to end on the questions it learns the answer prior and ignores the image. This stage trains the vision tower
and projector alone on the labels Task 4 asks about (one Yes/No per volume and finding: CT-RATE's multi-abnormality
labels), from the train split only. Two linear heads read the projected image tokens and are dropped afterwards:

- one over all the tokens side by side (a finding has its place: a hiatal hernia below the heart, enlarged nodes at
  the hila, an effusion at the lung base);
- one over the mean of the tokens (findings spread over an organ or both lungs).

A language model reads the tokens the same two ways, by attending to one of them or to all alike. A head applied to
each token and pooled by a log-sum-exp (a lesion anywhere) was tried instead of the first: it left the findings that
are defined by their place unlearnt, even on the train volumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rad3d_hf.models.m3d_rad.scan_pairs import EXISTENCE_TASK, existence_labels


@dataclass(frozen=True)
class FindingLabels:
    """One row per volume: ``labels[i, j]`` is 1 when ``volume_names[i]`` shows ``findings[j]``, ``known`` marks
    the pairs some question asked (the others do not count in the loss)."""

    volume_names: tuple[str, ...]
    findings: tuple[str, ...]
    labels: np.ndarray
    known: np.ndarray


def finding_labels(rows: Iterable[Mapping[str, Any]]) -> FindingLabels:
    """The volumes' labels from their Task 4 rows (``answer`` Yes/No; rows of other tasks are skipped).

    Two questions about the same volume and finding with different answers are a ValueError naming both ids.
    """
    seen = existence_labels(rows)
    if not seen:
        raise ValueError("no Task 4 rows: the vision tower's labels come from the existence-detection questions")
    volumes = tuple(sorted({v for v, _ in seen}))
    findings = tuple(sorted({f for _, f in seen}))
    v_index = {v: i for i, v in enumerate(volumes)}
    f_index = {f: j for j, f in enumerate(findings)}
    labels = np.zeros((len(volumes), len(findings)), dtype=np.float32)
    known = np.zeros_like(labels, dtype=bool)
    for (volume, finding), value in seen.items():
        labels[v_index[volume], f_index[finding]] = float(value)
        known[v_index[volume], f_index[finding]] = True
    return FindingLabels(volumes, findings, labels, known)


@dataclass
class VisionPretraining:
    """What stage 1 did: its settings, seed and loss curve (written beside the model)."""

    steps: int
    batch_size: int
    learning_rate: float
    seed: int
    volumes: int
    findings: tuple[str, ...]
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; the loss curve every 50 steps and at the end."""
        curve = {str(i + 1): round(v, 5) for i, v in enumerate(self.losses) if (i + 1) % 50 == 0 or i + 1 == self.steps}
        return {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "volumes": self.volumes,
            "findings": list(self.findings),
            "loss": curve,
        }


def pretrain_vision(
    model: Any,
    images: Any,
    labels: FindingLabels,
    *,
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> VisionPretraining:
    """Train ``model``'s vision tower and projector on ``labels`` for ``steps`` steps; the heads are then dropped.

    ``images`` is a (volumes, C, D, H, W) tensor in ``labels.volume_names`` order, preprocessed as the model reads
    them. Batches are drawn by a generator seeded with ``seed``, so the same inputs give the same weights. The
    language model is untouched.
    """
    import torch
    from torch import nn

    if len(images) != len(labels.volume_names):
        raise ValueError(f"{len(images)} images for {len(labels.volume_names)} labelled volumes")
    if steps <= 0 or batch_size <= 0:
        raise ValueError(f"steps and batch_size must be positive, got {steps} and {batch_size}")
    target = torch.from_numpy(labels.labels)
    known = torch.from_numpy(labels.known).float()
    generator = torch.Generator().manual_seed(seed)
    tokens, width = model.config.num_image_tokens, model.config.text_config.hidden_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        all_tokens = nn.Linear(tokens * width, len(labels.findings))
        mean_token = nn.Linear(width, len(labels.findings))
    parts = [*model.vision_tower.parameters(), *model.mm_projector.parameters()]
    optimizer = torch.optim.AdamW([*parts, *all_tokens.parameters(), *mean_token.parameters()], lr=learning_rate)
    record = VisionPretraining(steps, batch_size, learning_rate, seed, len(images), labels.findings)
    was_training = model.training
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        features = model.get_image_features(images[index].float())
        logits = all_tokens(features.flatten(1)) + mean_token(features.mean(dim=1))
        weight = known[index]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target[index], weight=weight, reduction="sum")
        loss = loss / weight.sum().clamp(min=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        record.losses.append(float(loss.detach()))
    model.train(was_training)
    return record


_LABEL_COLUMNS = ["id", "task", "subtask", "answer", "volume_name"]


def pretrain_vision_on_split(
    model: Any,
    dataset: Any,
    image_transform: Any,
    *,
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> VisionPretraining:
    """Stage 1 on a ``3d-rad`` split (a ``datasets.Dataset`` with a ``volume`` column): each Task 4 volume once.

    The labels come from the split's Task 4 rows, read without decoding any volume; then each labelled volume is
    decoded once, from its first row, and preprocessed by ``image_transform`` (the model's own, e.g.
    :class:`~rad3d_hf.M3DTransform`).
    """
    import torch

    if "volume" not in (dataset.column_names or []):
        raise ValueError("the split has no volume column: stage 1 needs the CT volumes (pass volumes_dir)")
    labels = finding_labels(dataset.select_columns(_LABEL_COLUMNS))
    first_row: dict[str, int] = {}
    for index, name in enumerate(dataset.select_columns(["volume_name"])["volume_name"]):
        first_row.setdefault(str(name), index)
    images = torch.stack(
        [torch.as_tensor(image_transform(dataset[first_row[name]]["volume"])) for name in labels.volume_names]
    )
    return pretrain_vision(
        model, images, labels, steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed
    )


__all__ = [
    "EXISTENCE_TASK",
    "FindingLabels",
    "VisionPretraining",
    "finding_labels",
    "pretrain_vision",
    "pretrain_vision_on_split",
]
