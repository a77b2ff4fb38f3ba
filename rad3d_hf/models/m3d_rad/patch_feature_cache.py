"""A bounded cache of a fixed vision tower's output, keyed by the input image's bytes.

A frozen vision tower fed the same preprocessed volumes epoch after epoch (no augmentation) computes the same patch
features each time; with the cache each distinct image goes through the ViT once. It is exact, not approximate: the
key is a BLAKE2b digest of the image's shape, dtype and bytes, and a tower that could change its output (a
parameter that trains, or dropout in training mode) is refused at every call, so nothing stale is ever served.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn


def image_key(image: torch.Tensor) -> bytes:
    """A digest of one image's shape, dtype and values (equal images, equal keys)."""
    data = image.detach().contiguous().cpu()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{tuple(data.shape)}|{data.dtype}".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.digest()


def _changes_output(tower: nn.Module) -> str | None:
    trainable = next((name for name, p in tower.named_parameters() if p.requires_grad), None)
    if trainable is not None:
        return f"its parameter {trainable} requires grad"
    if tower.training and any(isinstance(m, nn.Dropout) and m.p > 0 for m in tower.modules()):
        return "it is in training mode with dropout"
    return None


class PatchFeatureCache:
    """Up to ``max_items`` images' features, least recently used dropped first; ``hits``/``misses`` count lookups."""

    def __init__(self, max_items: int = 1024) -> None:
        if max_items <= 0:
            raise ValueError(f"max_items must be positive, got {max_items}")
        self.max_items = max_items
        self._items: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def features(
        self, tower: nn.Module, pixel_values: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """``compute(pixel_values)`` row by row from the cache; the missing rows are computed in one batch."""
        reason = _changes_output(tower)
        if reason is not None:
            raise RuntimeError(f"the patch-feature cache needs a fixed vision tower, but {reason}")
        keys = [image_key(image) for image in pixel_values]
        missing = [i for i, key in enumerate(keys) if key not in self._items]
        if missing:
            with torch.no_grad():
                computed = compute(pixel_values[missing])
            for i, row in zip(missing, computed):
                self._items[keys[i]] = row
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = []
        for key in keys:
            self._items.move_to_end(key)
            rows.append(self._items[key])
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return torch.stack(rows)


__all__ = ["PatchFeatureCache", "image_key"]
