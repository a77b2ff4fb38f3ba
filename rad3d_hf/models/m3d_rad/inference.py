"""Batched greedy answering with M3D-RAD: rows in, answer texts out.

:func:`generate_answers` answers a collated batch (each row with its own image). :class:`M3DRadAnswerer` answers
the questions of one volume: the vision tower and projector run once on the volume and their output fills the image
tokens of every question's prompt, which gives the same answers as asking one question at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


class M3DRadAnswerer:
    """Answers one volume's questions with one vision-tower pass (a :class:`rad3d_hf.prediction.VolumeAnswerer`).

    Args:
        model: an M3D-RAD model (or a peft wrapper of one), already on its device and in eval mode.
        processor: its :class:`M3DRadProcessor`.
        prepare_volume: row -> image ``(C, D, H, W)``, e.g. ``PredictionCollator(processor, image_transform=...).image``;
            runs in DataLoader workers.
        batch_size: questions generated together (all about the same volume).
        max_new_tokens: generation length limit.
    """

    def __init__(
        self,
        model,
        processor: M3DRadProcessor,
        *,
        prepare_volume: Callable[[Mapping[str, Any]], torch.Tensor],
        batch_size: int = 8,
        max_new_tokens: int = 256,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.processor = model, processor
        self._prepare_volume = prepare_volume
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens

    @property
    def prepare_volume(self) -> Callable[[Mapping[str, Any]], torch.Tensor]:
        return self._prepare_volume

    @torch.inference_mode()
    def answer_volume(self, prepared: torch.Tensor, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        device = next(self.model.parameters()).device
        image = torch.as_tensor(prepared, dtype=torch.float32).to(device)
        features = self.model.get_image_features(image[None])
        answers: list[str] = []
        for start in range(0, len(rows), self.batch_size):
            answers += self._generate(features, rows[start : start + self.batch_size], device)
        return answers

    def _generate(self, features: torch.Tensor, rows: Sequence[Mapping[str, Any]], device) -> list[str]:
        batch = self.processor(rows, with_target=False, padding_side="left")
        input_ids = batch["input_ids"].to(device)
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds = self.model.merge_image_features(input_ids, embeds, features.expand(len(rows), -1, -1))
        # Generating from embeddings returns the new tokens only (there are no prompt ids to echo).
        output = self.model.generate(
            inputs_embeds=embeds,
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.tokenizer.pad_token_id,
            eos_token_id=self.processor.tokenizer.eos_token_id,
        )
        return self.processor.decode(output)


__all__ = ["M3DRadAnswerer", "PredictionCollator", "generate_answers"]
