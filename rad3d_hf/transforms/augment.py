"""M3D's training augmentations (MONAI), seeded per sample so a rerun sees the same augmented inputs.

M3D-LaMed trains on its preprocessed ``(1, 32, 256, 256)`` arrays with, in this order: ``RandRotate90(prob=0.5,
spatial_axes=(1, 2))``, ``RandFlip(prob=0.10)`` on each of the three spatial axes, ``RandScaleIntensity(factors=0.1,
prob=0.5)`` and ``RandShiftIntensity(offsets=0.1, prob=0.5)``. :class:`M3DAugment` applies exactly these. Each call
reseeds them from ``(seed, epoch, key)`` (``key``: the question id), so the draw of a sample does not depend on which
DataLoader worker runs it or in what order, a rerun repeats it, and a new epoch draws anew.
"""

from __future__ import annotations

import hashlib
from typing import Any


class M3DAugment:
    """M3D's MONAI augmentations for one ``(C, D, H, W)`` image; call with ``key=`` (the sample's id).

    Args (keyword-only):
        seed: the run's seed (record it with the run, e.g. the Trainer's ``--seed``).
        epoch: mixed into every sample's seed; a training loop sets it at each epoch.
    """

    def __init__(self, *, seed: int = 0, epoch: int = 0) -> None:
        import monai.transforms as mt

        self.seed, self.epoch = int(seed), int(epoch)
        self.pipeline = mt.Compose(
            [
                mt.RandRotate90(prob=0.5, spatial_axes=(1, 2)),
                mt.RandFlip(prob=0.10, spatial_axis=0),
                mt.RandFlip(prob=0.10, spatial_axis=1),
                mt.RandFlip(prob=0.10, spatial_axis=2),
                mt.RandScaleIntensity(factors=0.1, prob=0.5),
                mt.RandShiftIntensity(offsets=0.1, prob=0.5),
            ]
        )

    def __repr__(self) -> str:
        return f"M3DAugment(seed={self.seed}, epoch={self.epoch})"

    def sample_seed(self, key: str) -> int:
        """The seed of sample ``key`` this epoch (a stable hash: the same in every process and run)."""
        digest = hashlib.sha256(f"{self.seed}/{self.epoch}/{key}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF

    def __call__(self, image: Any, *, key: str) -> Any:
        """The augmented image, a float32 torch tensor of the same shape (RandRotate90 keeps it: H == W)."""
        import torch

        self.pipeline.set_random_state(seed=self.sample_seed(key))
        out = self.pipeline(torch.as_tensor(image, dtype=torch.float32))
        return torch.as_tensor(out, dtype=torch.float32).clone()


__all__ = ["M3DAugment"]
