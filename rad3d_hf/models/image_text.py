"""Zero-shot 3D-RAD answers from any transformers image-text-to-text model (Qwen2.5-VL, LLaVA-OneVision, Gemma 3 /
MedGemma, ...): the CT volume as rendered slices, the official prompt in the model's own chat template.

Each question becomes one user turn: the volume's images (:class:`~rad3d_hf.transforms.slices.SliceRenderer`), then
the prompt of :func:`rad3d_hf.prompts.question_prompt`. The model's processor applies its chat template and its
image preprocessing; answers are decoded greedily in batches (left padding), up to ``max_new_tokens`` (256, the 3D-RAD
evaluation's limit). :meth:`ImageTextAnswerer.answer` takes each volume's images once for all of its questions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
        renderer: how volumes become images (default: ``SliceRenderer()``, the ``medgemma`` preset, 16 slices).
        max_new_tokens: the generation limit (256).
        system_prompt: an optional system turn before each question.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        renderer: SliceRenderer | None = None,
        max_new_tokens: int = 256,
        system_prompt: str | None = None,
    ) -> None:
        from rad3d_hf.transforms.slices import SliceRenderer

        if getattr(processor, "chat_template", None) is None:
            raise ValueError(f"{type(processor).__name__} has no chat template: the prompts are written through it")
        self.model = model
        self.processor = processor
        self.renderer = renderer or SliceRenderer()
        self.max_new_tokens = int(max_new_tokens)
        self.system_prompt = system_prompt

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
        images = self.renderer(row)
        return images if isinstance(images, list) else [images]

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


def answer_in_volume_order(
    answerer: ImageTextAnswerer, rows: Sequence[Mapping[str, Any]], *, batch_size: int = 8
) -> Iterator[list[tuple[str, str]]]:
    """Answer ``rows`` a batch at a time, in volume order, rendering each volume once: yields ``[(id, answer)]``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if hasattr(rows, "column_names"):  # a datasets.Dataset: read the two columns, not every row
        keys = list(zip(rows["volume_name"], rows["id"]))  # type: ignore[call-overload]
    else:
        keys = [(row.get("volume_name"), row.get("id")) for row in rows]
    order = sorted(range(len(rows)), key=lambda i: (str(keys[i][0]), str(keys[i][1])))
    rendered: dict[str, list[Image.Image]] = {}
    for start in range(0, len(order), batch_size):
        batch = [rows[i] for i in order[start : start + batch_size]]
        names = [str(row.get("volume_name")) for row in batch]
        rendered = {name: images for name, images in rendered.items() if name in names}  # the volume carried over
        for row, name in zip(batch, names):
            if name not in rendered:
                rendered[name] = answerer.images(row)
        answers = answerer.answer(batch, [rendered[name] for name in names])
        yield [(str(row["id"]), answer) for row, answer in zip(batch, answers)]


def _to(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    return value.to(device, dtype=dtype) if value.is_floating_point() else value.to(device)


__all__ = ["ImageTextAnswerer", "answer_in_volume_order", "is_image_text_folder"]
