"""``lmms-eval --model m3d_rad --model_args pretrained=DIR``: M3D-RAD answering from the CT volume itself.

The model ignores ``doc_to_visual`` (2D renderings): it reads each document's ``volume`` and preprocesses it with
:class:`~rad3d_hf.transforms.m3d.M3DTransform` at the model's input size, once per volume (requests are answered in
volume order, a volume's questions in one batch where they fit). The prompt is built from the document by the
model's own processor, as ``examples/predict.py`` does, so the answers equal that script's for the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from tqdm.auto import tqdm


class M3DRadLmms(lmms):
    """An lmms-eval model over a local M3D-RAD (or released M3D-LaMed) folder.

    Model args: ``pretrained`` (the folder), ``batch_size`` (8), ``device`` (cuda if available, else cpu),
    ``dtype`` (float32 | bfloat16 | float16), ``max_new_tokens`` (256, the 3D-RAD evaluation's limit; a task's
    ``max_new_tokens`` generation argument overrides it).
    """

    is_simple = True

    def __init__(
        self,
        pretrained: str,
        batch_size: int | str = 8,
        device: str | None = None,
        dtype: str = "float32",
        max_new_tokens: int | str = 256,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        import torch

        from rad3d_hf.models.m3d_rad.inference import PredictionCollator
        from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
        from rad3d_hf.transforms.m3d import M3DTransform

        unused = {k: v for k, v in kwargs.items() if v is not None and k != "max_batch_size"}
        if unused:
            raise ValueError(f"m3d_rad: unknown model_args {sorted(unused)}")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"m3d_rad: dtype={dtype!r}; expected float32, bfloat16 or float16")
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError("m3d_rad: batch_size and max_new_tokens must be positive")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.processor = load_model_and_processor(pretrained, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.transform = M3DTransform(size=tuple(self.model.config.vision_config.image_size))
        self.collator = PredictionCollator(self.processor)

    def _document(self, request: Instance) -> Mapping[str, Any]:
        _context, _kwargs, _visual, doc_id, task, split = request.args
        return self.task_dict[task][split][doc_id]

    def generate_until(self, requests: list[Instance]) -> list[str]:
        from rad3d_hf.models.m3d_rad.inference import generate_answers

        docs = [self._document(r) for r in requests]
        for doc in docs:
            if doc.get("volume") is None:
                raise ValueError(f"m3d_rad: document {doc.get('id')!r} has no volume (set RAD3D_VOLUMES_DIR)")
        order = sorted(range(len(docs)), key=lambda i: (str(docs[i].get("volume_name")), i))
        answers: list[str] = [""] * len(docs)
        pixels: dict[str, Any] = {}
        bar = tqdm(total=len(docs), desc="m3d_rad answering", disable=self.rank != 0)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            needed = {str(docs[i]["volume_name"]) for i in chunk}
            pixels = {name: value for name, value in pixels.items() if name in needed}  # volume order: keep a few
            rows = []
            for i in chunk:
                name = str(docs[i]["volume_name"])
                if name not in pixels:
                    pixels[name] = self.transform(docs[i]["volume"])
                rows.append({**docs[i], "pixel_values": pixels[name]})
            max_new_tokens = int(requests[chunk[0]].args[1].get("max_new_tokens") or self.max_new_tokens)
            texts = generate_answers(self.model, self.processor, self.collator(rows), max_new_tokens=max_new_tokens)
            for i, text in zip(chunk, texts):
                answers[i] = text
            bar.update(len(chunk))
        bar.close()
        return answers

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "m3d_rad answers generate_until tasks (the 3drad tasks); loglikelihood is not offered"
        )

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("m3d_rad answers single-round questions (the 3drad tasks)")
