"""Turning dataset rows into M3D-RAD inputs: prompts with image tokens, labels, padding, and image batches.

A training sequence is ``tokenizer(prompt + " " + target) + [eos]``, where ``prompt`` is ``num_image_tokens`` copies
of ``<im_patch>``, a space and :func:`rad3d_hf.prompts.question_prompt` (the tokenizer adds BOS). Labels are -100
over the prompt's tokens (counted by tokenizing the prompt alone, as M3D-LaMed does) and over padding, and keep the
answer and the EOS. A generation prompt is the prompt alone, left-padded.

With earlier scans (the temporal variant, ``max_prior_volumes > 0``) the prompt holds one image-token span per scan,
oldest first, each after a short marker::

    Earlier scan 1: <im_patch>...<im_patch>
    Earlier scan 2: <im_patch>...<im_patch>
    Current scan: <im_patch>...<im_patch> <question prompt>

Only Task 5 questions, and Task 6 ones unless ``history="text"``, read earlier scans; every other row (and a row
without any) gets the single-scan prompt unchanged. ``history`` is how Task 6 sees the patient's past: ``"text"``
the published question with its label list and no earlier scans, ``"images"`` the earlier scans and the question
with its label list left out (:func:`rad3d_hf.prompts.question_without_history`), ``"both"`` the earlier scans and
the label list.

With ``temporal_facts=True`` a closed Task 5/6 target first states the two facts its category combines,
``Earlier scans: Yes. Current scan: No. B. Resolved Lesion (...)`` (:func:`rad3d_hf.prompts.temporal_facts`), so the
model reads each time point at its own place in the answer before it names the category; the scoring reads the
option after them. The setting is saved with the processor.
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
from rad3d_hf.prompts import question_prompt, question_without_history, target_text

logger = logging.getLogger(__name__)

PROCESSOR_CONFIG = "m3d_rad_processor.json"
IGNORE_INDEX = -100
HISTORY_MODES: tuple[str, ...] = ("text", "images", "both")
EARLIER_SCAN_MARKER = "Earlier scan {k}: "
CURRENT_SCAN_MARKER = "Current scan: "


class M3DRadProcessor:
    """Tokenizer + prompt format for M3D-RAD.

    Args:
        tokenizer: a transformers tokenizer that knows ``<im_patch>`` and has EOS and PAD tokens
            (see :func:`~rad3d_hf.models.m3d_rad.tokenization_m3d_rad.ensure_special_tokens`).
        num_image_tokens: image tokens per prompt; must equal the model config's ``num_image_tokens``.
        max_length: longest training sequence; longer ones are cut at the end and counted in ``truncated_ids``.
        max_prior_volumes: earlier scans a prompt may hold (the model config's; 0 for the single-scan model).
        num_prior_image_tokens: image tokens per earlier scan (the model config's; default ``num_image_tokens``).
        history: how Task 6 sees the past: ``"text"``, ``"images"`` or ``"both"`` (see the module docstring).
        temporal_facts: Task 5/6 targets state the two facts before the option (see the module docstring).
    """

    def __init__(
        self,
        tokenizer,
        *,
        num_image_tokens: int,
        max_length: int = 512,
        max_prior_volumes: int = 0,
        num_prior_image_tokens: int | None = None,
        history: str = "text",
        temporal_facts: bool = False,
    ) -> None:
        if num_image_tokens <= 0:
            raise ValueError(f"num_image_tokens must be positive, got {num_image_tokens}")
        if max_prior_volumes < 0:
            raise ValueError(f"max_prior_volumes must be >= 0, got {max_prior_volumes}")
        if num_prior_image_tokens is not None and num_prior_image_tokens <= 0:
            raise ValueError(f"num_prior_image_tokens must be positive, got {num_prior_image_tokens}")
        if history not in HISTORY_MODES:
            raise ValueError(f"history must be one of {', '.join(HISTORY_MODES)}, got {history!r}")
        if IMAGE_TOKEN not in tokenizer.get_vocab():
            raise ValueError(f"the tokenizer has no {IMAGE_TOKEN!r} token; call ensure_special_tokens(tokenizer) first")
        if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs an eos and a pad token; call ensure_special_tokens(tokenizer) first")
        if max_length <= num_image_tokens:
            raise ValueError(f"max_length {max_length} leaves no room after {num_image_tokens} image tokens")
        self.tokenizer = tokenizer
        self.num_image_tokens = num_image_tokens
        self.max_length = max_length
        self.max_prior_volumes = int(max_prior_volumes)
        self.num_prior_image_tokens = int(num_prior_image_tokens or num_image_tokens)
        self.history = history
        self.temporal_facts = bool(temporal_facts)
        self.truncated_ids: list[str] = []

    @classmethod
    def for_config(
        cls, tokenizer, config, *, max_length: int = 512, history: str = "text", temporal_facts: bool = False
    ) -> M3DRadProcessor:
        """A processor writing the image tokens an ``M3DRadConfig`` expects (its earlier scans' too)."""
        return cls(
            tokenizer,
            num_image_tokens=config.num_image_tokens,
            max_length=max_length,
            max_prior_volumes=config.max_prior_volumes,
            num_prior_image_tokens=config.num_prior_image_tokens,
            history=history,
            temporal_facts=temporal_facts,
        )

    @property
    def image_token_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))

    def reads_priors(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` is shown its earlier scans: Task 5, and Task 6 unless ``history="text"``.

        A row without a ``task`` field is shown whatever earlier scans it carries.
        """
        if self.max_prior_volumes == 0:
            return False
        task = row.get("task")
        if task is None:
            return True
        return int(task) == 5 or (int(task) == 6 and self.history != "text")

    def question_text(self, row: Mapping[str, Any]) -> str:
        """The question prompt; Task 6 without its label list when ``history="images"``."""
        if self.history == "images" and row.get("task") is not None and int(row["task"]) == 6:
            return question_prompt({**row, "question": question_without_history(row)})
        return question_prompt(row)

    def prompt_text(self, row: Mapping[str, Any], num_priors: int = 0) -> str:
        """Image tokens, a space, then the question prompt ending in ``\\nAnswer:``.

        With ``num_priors`` earlier scans, one marked span per scan (oldest first), the current one last.
        """
        if num_priors < 0 or num_priors > self.max_prior_volumes:
            raise ValueError(
                f"row {row.get('id')}: {num_priors} earlier scans, this processor takes 0..{self.max_prior_volumes}"
            )
        current = IMAGE_TOKEN * self.num_image_tokens
        if num_priors:
            earlier = IMAGE_TOKEN * self.num_prior_image_tokens
            spans = [EARLIER_SCAN_MARKER.format(k=k) + earlier for k in range(1, num_priors + 1)]
            current = "\n".join([*spans, CURRENT_SCAN_MARKER + current])
        return current + " " + self.question_text(row)

    def target_text(self, row: Mapping[str, Any]) -> str:
        """The answer the model is trained to produce (with the temporal facts first when the processor says so)."""
        return target_text(row, with_temporal_facts=self.temporal_facts)

    def image_tokens_for(self, num_priors: int) -> int:
        """How many image tokens a prompt with ``num_priors`` earlier scans holds."""
        return self.num_image_tokens + num_priors * self.num_prior_image_tokens

    def _prompt_ids(self, row: Mapping[str, Any], num_priors: int = 0) -> list[int]:
        ids = self.tokenizer(self.prompt_text(row, num_priors))["input_ids"]
        found = sum(1 for i in ids if i == self.image_token_id)
        expected = self.image_tokens_for(num_priors)
        if found != expected:
            raise ValueError(f"row {row.get('id')}: the prompt tokenizes to {found} image tokens, expected {expected}")
        if len(ids) >= self.max_length:
            raise ValueError(
                f"row {row.get('id')}: the prompt alone is {len(ids)} tokens, max_length is {self.max_length}"
            )
        return list(ids)

    def encode(self, row: Mapping[str, Any], *, with_target: bool, num_priors: int = 0) -> dict[str, list[int]]:
        """Token ids (and labels when ``with_target``) for one row with ``num_priors`` earlier scans, unpadded."""
        prompt_ids = self._prompt_ids(row, num_priors)
        if not with_target:
            return {"input_ids": prompt_ids}
        full = list(self.tokenizer(self.prompt_text(row, num_priors) + " " + self.target_text(row))["input_ids"])
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
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        with_target: bool = False,
        padding_side: str | None = None,
        num_priors: Sequence[int] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Batch of rows -> ``input_ids``, ``attention_mask`` (+ ``labels``); right-padded with targets, else left.

        ``num_priors`` gives each row's number of earlier scans (default none).
        """
        if not rows:
            raise ValueError("no rows to process")
        counts = [0] * len(rows) if num_priors is None else list(num_priors)
        if len(counts) != len(rows):
            raise ValueError(f"num_priors has {len(counts)} entries for {len(rows)} rows")
        side = padding_side or ("right" if with_target else "left")
        encoded = [self.encode(r, with_target=with_target, num_priors=n) for r, n in zip(rows, counts)]
        return self.pad(encoded, padding_side=side)

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
            "max_prior_volumes": self.max_prior_volumes,
            "num_prior_image_tokens": self.num_prior_image_tokens,
            "history": self.history,
            "temporal_facts": self.temporal_facts,
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

    For a temporal processor, rows that read earlier scans (:meth:`M3DRadProcessor.reads_priors`) take them from
    ``prior_key`` (a list of (C, D, H, W) images) or, through the same transform, from ``prior_column`` (the
    dataset's ``prior_volumes``, loaded with ``prior_volumes=True``); the latest ``max_prior_volumes`` are kept.
    The batch then also holds ``prior_pixel_values`` (B, P, C, D, H, W), zero-padded, and ``prior_mask`` (B, P).
    """

    processor: M3DRadProcessor
    image_transform: Callable[[Any], Any] | None = None
    with_target: bool = True
    padding_side: str | None = None
    image_key: str = "pixel_values"
    volume_column: str | None = "volume"
    prior_key: str = "prior_pixel_values"
    prior_column: str = "prior_volumes"
    # Training augmentation, ``augment(image, key=row id)``, e.g. rad3d_hf.transforms.M3DAugment. Earlier scans are
    # augmented with their row's key too: M3DAugment draws from (seed, epoch, key), so every scan of a row gets the
    # same rotation, flips and intensity change and the scans stay comparable, as one patient seen once.
    augment: Callable[..., Any] | None = None

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
        if self.augment is not None:
            tensor = self.augment(tensor, key=str(row.get("id")))
        return tensor

    def priors(self, row: Mapping[str, Any]) -> list[torch.Tensor]:
        """The row's earlier scans as (C, D, H, W) tensors, oldest first; [] for rows that read none."""
        if not self.processor.reads_priors(row):
            return []
        limit = self.processor.max_prior_volumes
        if row.get(self.prior_key) is not None:
            values = list(row[self.prior_key])[-limit:]
        elif row.get(self.prior_column) is not None:
            if self.image_transform is None:
                raise ValueError(f"row {row.get('id')}: no {self.prior_key!r} and no image_transform to make them")
            values = [self.image_transform(v) for v in list(row[self.prior_column])[-limit:]]
        elif row.get("prior_volume_names"):
            raise ValueError(
                f"row {row.get('id')}: earlier scans {list(row['prior_volume_names'])} are not loaded; load the "
                "dataset with prior_volumes=True (--prior_volumes)"
            )
        else:
            return []
        out = [torch.as_tensor(v, dtype=torch.float32) for v in values]
        for tensor in out:
            if tensor.ndim != 4:
                raise ValueError(f"row {row.get('id')}: earlier image must be (C, D, H, W), got {tuple(tensor.shape)}")
        if self.augment is not None:
            out = [self.augment(tensor, key=str(row.get("id"))) for tensor in out]
        return out

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        priors = [self.priors(r) for r in rows]
        batch = self.processor(
            rows, with_target=self.with_target, padding_side=self.padding_side, num_priors=[len(p) for p in priors]
        )
        batch["pixel_values"] = torch.stack([self.image(r) for r in rows])
        slots = max(len(p) for p in priors)
        if slots:
            shape = tuple(batch["pixel_values"].shape[1:])
            batch["prior_pixel_values"] = torch.zeros((len(rows), slots, *shape))
            batch["prior_mask"] = torch.zeros((len(rows), slots), dtype=torch.bool)
            for i, scans in enumerate(priors):
                for j, scan in enumerate(scans):
                    if tuple(scan.shape) != shape:
                        raise ValueError(
                            f"row {rows[i].get('id')}: earlier image has shape {tuple(scan.shape)}, the current {shape}"
                        )
                    batch["prior_pixel_values"][i, j] = scan
                    batch["prior_mask"][i, j] = True
        return batch


__all__ = ["HISTORY_MODES", "IGNORE_INDEX", "IMAGE_TOKEN", "SPECIAL_TOKENS", "M3DRadCollator", "M3DRadProcessor"]
