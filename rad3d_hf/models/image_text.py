"""Zero-shot 3D-RAD answers from any transformers image-text-to-text model (Qwen2.5-VL, LLaVA-OneVision, Gemma 3 /
MedGemma, ...): the CT volume as rendered slices, the official prompt in the model's own chat template.

Each question becomes one user turn: the volume's images (:class:`~rad3d_hf.transforms.slices.SliceRenderer`), then
the prompt of :func:`rad3d_hf.prompts.question_prompt`. The model's processor applies its chat template and its
image preprocessing; answers are decoded greedily in batches (left padding), up to ``max_new_tokens`` (256, the 3D-RAD
evaluation's limit). As a ``rad3d_hf.prediction.VolumeAnswerer`` (``prepare_volume``, ``answer_volume``) it renders
each volume once, in the DataLoader workers, for all of the volume's questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rad3d_hf.prompts import question_prompt

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from rad3d_hf.transforms.slices import SliceRenderer


def is_image_text_folder(directory: str | Path) -> bool:
    """Whether ``directory`` holds a transformers model that ``AutoModelForImageTextToText`` maps (not M3D-RAD)."""
    import json

    config = Path(directory) / "config.json"
    if not config.is_file():
        return False
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type in (None, "m3d_rad"):
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


class ImageTextAnswerer:
    """Greedy batched answers of an image-text-to-text model to 3D-RAD rows, from their rendered volumes.

    Args:
        model: a transformers ``*ForConditionalGeneration`` model (anything ``AutoModelForImageTextToText`` loads).
        processor: its processor (``AutoProcessor``), with a chat template.
        renderer: how volumes become images (default: ``SliceRenderer()``: 16 slices, the ``auto`` preset, i.e.
            ``medgemma`` windows for HU volumes and the fixed ``[0, 1]`` scale for normalised arrays).
        batch_size: questions generated together by :meth:`answer_volume` (8).
        max_new_tokens: the generation limit (256).
        system_prompt: an optional system turn before each question.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        renderer: SliceRenderer | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 256,
        system_prompt: str | None = None,
    ) -> None:
        from rad3d_hf.transforms.slices import SliceRenderer

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size and max_new_tokens must be positive, got {batch_size}, {max_new_tokens}")
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(f"{type(processor).__name__} has no chat template: the prompts are written through it")
        self.model = model
        self.processor = processor
        self.renderer = renderer or SliceRenderer()
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.system_prompt = system_prompt

    @property
    def prepare_volume(self) -> RenderVolume:
        """Row -> its volume's images (picklable: runs in DataLoader workers)."""
        return RenderVolume(self.renderer)

    def answer_volume(self, prepared: Sequence[Image.Image], rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Answers to the questions ``rows`` about one volume whose images are ``prepared``, ``batch_size`` at once."""
        answers: list[str] = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            answers += self.answer(chunk, [prepared] * len(chunk))
        return answers

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, dtype: Any = None, **kwargs: Any) -> ImageTextAnswerer:
        """Load a local model folder (nothing is downloaded) with ``AutoModelForImageTextToText`` and its processor."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a folder (pass a local model folder; nothing is downloaded)")
        model = AutoModelForImageTextToText.from_pretrained(directory, dtype=dtype)
        processor = AutoProcessor.from_pretrained(directory)
        return cls(model.eval(), processor, **kwargs)

    def params(self) -> dict[str, Any]:
        """What the answers depend on besides the weights: the renderer and the generation settings."""
        return {**self.renderer.params(), "max_new_tokens": self.max_new_tokens, "system_prompt": self.system_prompt}

    def messages(self, row: Mapping[str, Any], num_images: int) -> list[dict[str, Any]]:
        """The chat of one question: the images, then the official prompt."""
        content: list[dict[str, Any]] = [{"type": "image"} for _ in range(num_images)]
        content.append({"type": "text", "text": question_prompt(row)})
        turns: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if self.system_prompt:
            turns.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return turns

    def images(self, row: Mapping[str, Any]) -> list[Image.Image]:
        """The rendered images of a row's volume (a montage counts as one image)."""
        return self.prepare_volume(row)

    def answer(
        self, rows: Sequence[Mapping[str, Any]], images: Sequence[Sequence[Image.Image]] | None = None
    ) -> list[str]:
        """Greedy answers to ``rows``, one generate call; ``images[i]`` are row i's (rendered here when not given)."""
        import torch

        if not rows:
            return []
        if images is None:
            images = [self.images(row) for row in rows]
        if len(images) != len(rows):
            raise ValueError(f"got images for {len(images)} rows, expected {len(rows)}")
        texts = [
            self.processor.apply_chat_template(
                self.messages(row, len(imgs)), add_generation_prompt=True, tokenize=False
            )
            for row, imgs in zip(rows, images)
        ]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # generation continues every row from its last token
        try:
            inputs = self.processor(text=texts, images=[list(i) for i in images], padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = side
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        inputs = {k: _to(v, device, dtype) for k, v in inputs.items()}
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


class RenderVolume:
    """Row -> the rendered images of its volume (a montage as a one-image list)."""

    def __init__(self, renderer: SliceRenderer) -> None:
        self.renderer = renderer

    def __call__(self, row: Mapping[str, Any]) -> list[Image.Image]:
        images = self.renderer(row)
        return images if isinstance(images, list) else [images]


def _to(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    return value.to(device, dtype=dtype) if value.is_floating_point() else value.to(device)


__all__ = ["ImageTextAnswerer", "RenderVolume", "is_image_text_folder"]
