"""Turning dataset rows into M3D-RAD inputs: prompts with image tokens, labels, padding, and image batches.

A training sequence is ``tokenizer(prompt + " " + target) + [eos]``, where ``prompt`` is ``num_image_tokens`` copies
of ``<im_patch>``, a space and :func:`rad3d_hf.prompts.question_prompt` (the tokenizer adds BOS). Labels are -100
over the prompt's tokens (counted by tokenizing the prompt alone, as M3D-LaMed does) and over padding, and keep the
answer and the EOS. A generation prompt is the prompt alone, left-padded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rad3d_hf.models.m3d_rad.tokenization_m3d_rad import IMAGE_TOKEN, SPECIAL_TOKENS
from rad3d_hf.prompts import question_prompt, target_text

logger = logging.getLogger(__name__)

PROCESSOR_CONFIG = "m3d_rad_processor.json"
IGNORE_INDEX = -100


class M3DRadProcessor:
    """Tokenizer + prompt format for M3D-RAD.

    Args:
        tokenizer: a transformers tokenizer that knows ``<im_patch>`` and has EOS and PAD tokens
            (see :func:`~rad3d_hf.models.m3d_rad.tokenization_m3d_rad.ensure_special_tokens`).
        num_image_tokens: image tokens per prompt; must equal the model config's ``num_image_tokens``.
        max_length: longest training sequence; longer ones are cut at the end and counted in ``truncated_ids``.
    """

    def __init__(self, tokenizer, *, num_image_tokens: int, max_length: int = 512) -> None:
        if num_image_tokens <= 0:
            raise ValueError(f"num_image_tokens must be positive, got {num_image_tokens}")
        if IMAGE_TOKEN not in tokenizer.get_vocab():
            raise ValueError(f"the tokenizer has no {IMAGE_TOKEN!r} token; call ensure_special_tokens(tokenizer) first")
        if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs an eos and a pad token; call ensure_special_tokens(tokenizer) first")
        if max_length <= num_image_tokens:
            raise ValueError(f"max_length {max_length} leaves no room after {num_image_tokens} image tokens")
        self.tokenizer = tokenizer
        self.num_image_tokens = num_image_tokens
        self.max_length = max_length
        self.truncated_ids: list[str] = []

    @property
    def image_token_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))

    def prompt_text(self, row: Mapping[str, Any]) -> str:
        """Image tokens, a space, then the question prompt ending in ``\\nAnswer:``."""
        return IMAGE_TOKEN * self.num_image_tokens + " " + question_prompt(row)

    def _prompt_ids(self, row: Mapping[str, Any]) -> list[int]:
        ids = self.tokenizer(self.prompt_text(row))["input_ids"]
        found = sum(1 for i in ids if i == self.image_token_id)
        if found != self.num_image_tokens:
            raise ValueError(
                f"row {row.get('id')}: the prompt tokenizes to {found} image tokens, expected {self.num_image_tokens}"
            )
        if len(ids) >= self.max_length:
            raise ValueError(
                f"row {row.get('id')}: the prompt alone is {len(ids)} tokens, max_length is {self.max_length}"
            )
        return list(ids)

    def encode(self, row: Mapping[str, Any], *, with_target: bool) -> dict[str, list[int]]:
        """Token ids (and labels when ``with_target``) for one row, unpadded."""
        prompt_ids = self._prompt_ids(row)
        if not with_target:
            return {"input_ids": prompt_ids}
        full = list(self.tokenizer(self.prompt_text(row) + " " + target_text(row))["input_ids"])
        full.append(self.tokenizer.eos_token_id)
        if len(full) > self.max_length:
            self.truncated_ids.append(str(row.get("id")))
            logger.warning("row %s: %d tokens cut to max_length %d", row.get("id"), len(full), self.max_length)
            full = full[: self.max_length]
        labels = [IGNORE_INDEX] * len(prompt_ids) + full[len(prompt_ids) :]
        return {"input_ids": full, "labels": labels}

    def pad(self, encoded: Sequence[Mapping[str, list[int]]], *, padding_side: str) -> dict[str, torch.Tensor]:
        """Pad to the longest row; ``padding_side`` is ``"right"`` for training, ``"left"`` for generation."""
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        width = max(len(e["input_ids"]) for e in encoded)
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": []}
        with_labels = "labels" in encoded[0]
        if with_labels:
            out["labels"] = []
        for e in encoded:
            n = width - len(e["input_ids"])
            fields = {
                "input_ids": (e["input_ids"], self.tokenizer.pad_token_id),
                "attention_mask": ([1] * len(e["input_ids"]), 0),
            }
            if with_labels:
                fields["labels"] = (e["labels"], IGNORE_INDEX)
            for key, (values, fill) in fields.items():
                out[key].append([fill] * n + values if padding_side == "left" else values + [fill] * n)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}

    def __call__(
        self, rows: Sequence[Mapping[str, Any]], *, with_target: bool = False, padding_side: str | None = None
    ) -> dict[str, torch.Tensor]:
        """Batch of rows -> ``input_ids``, ``attention_mask`` (+ ``labels``); right-padded with targets, else left."""
        if not rows:
            raise ValueError("no rows to process")
        side = padding_side or ("right" if with_target else "left")
        return self.pad([self.encode(r, with_target=with_target) for r in rows], padding_side=side)

    def decode(self, sequences: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Generated ids -> stripped answer texts (special tokens, padding and EOS removed)."""
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return [t.strip() for t in texts]

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        settings = {
            "num_image_tokens": self.num_image_tokens,
            "max_length": self.max_length,
            "special_tokens": list(SPECIAL_TOKENS),
        }
        (directory / PROCESSOR_CONFIG).write_text(json.dumps(settings, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path, **overrides: Any) -> M3DRadProcessor:
        """Load the tokenizer and settings saved by :meth:`save_pretrained` (``overrides`` replace settings)."""
        from transformers import AutoTokenizer

        directory = Path(directory)
        config_path = directory / PROCESSOR_CONFIG
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path} not found: not a folder written by M3DRadProcessor.save_pretrained")
        settings = json.loads(config_path.read_text())
        settings.pop("special_tokens", None)
        settings.update(overrides)
        return cls(AutoTokenizer.from_pretrained(directory), **settings)


@dataclass
class M3DRadCollator:
    """DataLoader/Trainer collator: rows -> model inputs with ``pixel_values`` (B, C, D, H, W).

    Each row's image is its ``image_key`` value (a tensor or array shaped (C, D, H, W)) if present, else
    ``image_transform(row[volume_column])`` (e.g. ``rad3d_hf.M3DTransform(size=...)`` on the row's lazy volume), or
    ``image_transform(row)`` when ``volume_column`` is None. The transform runs in the DataLoader workers, so volume
    decoding is parallel.
    """

    processor: M3DRadProcessor
    image_transform: Callable[[Any], Any] | None = None
    with_target: bool = True
    padding_side: str | None = None
    image_key: str = "pixel_values"
    volume_column: str | None = "volume"

    def image(self, row: Mapping[str, Any]) -> torch.Tensor:
        if self.image_key in row and row[self.image_key] is not None:
            value = row[self.image_key]
        elif self.image_transform is not None:
            if self.volume_column is None:
                value = self.image_transform(row)
            elif row.get(self.volume_column) is None:
                raise ValueError(f"row {row.get('id')}: no {self.volume_column!r}; load the dataset with volumes_dir=")
            else:
                value = self.image_transform(row[self.volume_column])
        else:
            raise ValueError(f"row {row.get('id')}: no {self.image_key!r} and no image_transform to make one")
        tensor = torch.as_tensor(value, dtype=torch.float32)
        if tensor.ndim != 4:
            raise ValueError(f"row {row.get('id')}: image must be (C, D, H, W), got shape {tuple(tensor.shape)}")
        return tensor

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.processor(rows, with_target=self.with_target, padding_side=self.padding_side)
        batch["pixel_values"] = torch.stack([self.image(r) for r in rows])
        return batch


__all__ = ["IGNORE_INDEX", "IMAGE_TOKEN", "SPECIAL_TOKENS", "M3DRadCollator", "M3DRadProcessor"]
