"""Batched greedy answering with M3D-RAD: rows in, answer texts out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rad3d_hf.models.m3d_rad.processing_m3d_rad import M3DRadCollator, M3DRadProcessor


class PredictionCollator(M3DRadCollator):
    """A :class:`M3DRadCollator` for generation (left padding, no labels) that also returns the rows' ``ids``."""

    def __init__(self, processor: M3DRadProcessor, **kwargs: Any) -> None:
        super().__init__(processor, with_target=False, padding_side="left", **kwargs)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = super().__call__(rows)
        batch["ids"] = [str(r["id"]) for r in rows]
        return batch


@torch.inference_mode()
def generate_answers(
    model, processor: M3DRadProcessor, batch: Mapping[str, Any], *, max_new_tokens: int = 256
) -> list[str]:
    """Greedy answers for one collated batch (``input_ids``, ``attention_mask``, ``pixel_values``, and the earlier
    scans' ``prior_pixel_values`` and ``prior_mask`` when the batch has them).

    256 new tokens is the 3D-RAD evaluation's limit; generation stops earlier once every row has produced EOS.
    """
    device = next(model.parameters()).device
    keys = ("input_ids", "attention_mask", "pixel_values", "prior_pixel_values", "prior_mask")
    inputs = {k: batch[k].to(device) for k in keys if batch.get(k) is not None}
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=processor.tokenizer.pad_token_id,
        eos_token_id=processor.tokenizer.eos_token_id,
    )
    return processor.decode(output[:, inputs["input_ids"].shape[1] :])


__all__ = ["PredictionCollator", "generate_answers"]
