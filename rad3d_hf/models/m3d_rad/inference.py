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


def stop_token_ids(model, tokenizer) -> list[int]:
    """Where greedy answers stop: the model's ``generation_config`` end tokens (a released checkpoint's own, e.g.
    Phi-3's ``<|end|>`` beside ``<|endoftext|>``), then the tokenizer's end-of-sequence token."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [configured] if isinstance(configured, int) else list(configured or [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return list(dict.fromkeys(int(i) for i in ids))


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
        eos_token_id=stop_token_ids(model, processor.tokenizer),
    )
    return processor.decode(output[:, inputs["input_ids"].shape[1] :])


class M3DRadVolumeInput:
    """Row -> ``{"image": (C, D, H, W), "priors": [earlier scans' images, oldest first]}``, for DataLoader workers.

    The earlier scans are those the row carries (``prior_volumes``, the latest ``max_prior_volumes``; none for a
    single-scan model), whatever the row's task: they belong to the volume, and each question decides whether it
    is shown them.
    """

    def __init__(self, collator: M3DRadCollator) -> None:
        self.collator = collator

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        priors: list[torch.Tensor] = []
        if self.collator.processor.max_prior_volumes > 0:
            priors = self.collator.priors({k: v for k, v in row.items() if k != "task"})
        return {"image": self.collator.image(row), "priors": priors}


class M3DRadAnswerer:
    """Answers one volume's questions with one vision-tower pass (a :class:`rad3d_hf.prediction.VolumeAnswerer`).

    The image features are computed once per volume (for a temporal model once without and, if a question reads
    them, once with the earlier scans, each the way a single question's batch computes them) and written into the
    image tokens of every question's prompt, so the answers equal those of one question at a time.

    Args:
        model: an M3D-RAD model (or a peft wrapper of one), already on its device and in eval mode.
        processor: its :class:`M3DRadProcessor`.
        image_transform: volume -> image, e.g. ``rad3d_hf.M3DTransform(size=...)``; or pass ``collator``.
        collator: a :class:`M3DRadCollator` whose ``image``/``priors`` make the inputs (default: one built from
            ``processor`` and ``image_transform``).
        batch_size: questions generated together (all about the same volume).
        max_new_tokens: generation length limit.
    """

    def __init__(
        self,
        model,
        processor: M3DRadProcessor,
        *,
        image_transform: Callable[[Any], Any] | None = None,
        collator: M3DRadCollator | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 256,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.processor = model, processor
        self.collator = collator or PredictionCollator(processor, image_transform=image_transform)
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens

    @property
    def prepare_volume(self) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        return M3DRadVolumeInput(self.collator)

    @torch.inference_mode()
    def answer_volume(self, prepared: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
        from rad3d_hf.models.m3d_rad.temporal import scan_features

        device = next(self.model.parameters()).device
        image = torch.as_tensor(prepared["image"], dtype=torch.float32).to(device)[None]
        priors = list(prepared["priors"])
        features: dict[int, torch.Tensor] = {}

        def features_with(n: int) -> torch.Tensor:
            if n not in features:
                if n == 0:
                    features[0] = scan_features(self.model, image)[0]
                else:
                    stacked = torch.stack(priors[-n:]).to(device)[None]
                    mask = torch.ones((1, n), dtype=torch.bool, device=device)
                    features[n] = scan_features(self.model, image, stacked, mask)[0]
            return features[n]

        answers: list[str] = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            counts = [len(priors) if self.processor.reads_priors(r) else 0 for r in chunk]
            answers += self._generate(chunk, counts, [features_with(n) for n in counts], device)
        return answers

    def _generate(
        self, rows: Sequence[Mapping[str, Any]], counts: list[int], features: list[torch.Tensor], device
    ) -> list[str]:
        batch = self.processor(rows, with_target=False, padding_side="left", num_priors=counts)
        input_ids = batch["input_ids"].to(device)
        embeds = self.model.get_input_embeddings()(input_ids)
        attention_mask = batch["attention_mask"].to(device)
        embeds = self.model.merge_image_features(input_ids, embeds, features, attention_mask)
        # Generating from embeddings returns the new tokens only (there are no prompt ids to echo).
        output = self.model.generate(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.tokenizer.pad_token_id,
            eos_token_id=stop_token_ids(self.model, self.processor.tokenizer),
        )
        return self.processor.decode(output)


__all__ = ["M3DRadAnswerer", "M3DRadVolumeInput", "PredictionCollator", "generate_answers", "stop_token_ids"]
