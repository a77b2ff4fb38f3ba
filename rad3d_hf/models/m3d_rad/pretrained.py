"""Loading an M3D-RAD model and its processor from a folder: one saved by this package, or a M3D-LaMed checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig
from rad3d_hf.models.m3d_rad.processing_m3d_rad import PROCESSOR_CONFIG, M3DRadProcessor


def is_m3d_rad_folder(directory: str | Path) -> bool:
    """Whether ``directory`` holds a model saved by :class:`M3DRadForCausalLM.save_pretrained`."""
    config = Path(directory) / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("model_type") == M3DRadConfig.model_type


def load_model_and_processor(directory: str | Path, *, dtype=None, max_length: int = 512):
    """``(model, processor)`` from a local folder.

    An M3D-RAD folder (``model_type: m3d_rad``) loads through ``AutoModelForCausalLM``, with the processor saved
    beside it (or its tokenizer); any other folder is read as a released M3D-LaMed checkpoint
    (:func:`~rad3d_hf.models.m3d_rad.checkpoint_keys.from_lamed_checkpoint`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rad3d_hf.models.m3d_rad.checkpoint_keys import from_lamed_checkpoint

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a folder (pass a local model folder; nothing is downloaded)")
    if is_m3d_rad_folder(directory):
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
        if (directory / PROCESSOR_CONFIG).is_file():
            processor = M3DRadProcessor.from_pretrained(directory)
        else:
            processor = M3DRadProcessor.for_config(
                AutoTokenizer.from_pretrained(directory), model.config, max_length=max_length
            )
    else:
        model, tokenizer, _ = from_lamed_checkpoint(directory, dtype=dtype)
        processor = M3DRadProcessor(tokenizer, num_image_tokens=model.config.num_image_tokens, max_length=max_length)
    if processor.num_image_tokens != model.config.num_image_tokens:
        raise ValueError(
            f"{directory}: the processor writes {processor.num_image_tokens} image tokens but the model "
            f"expects {model.config.num_image_tokens}"
        )
    if processor.max_prior_volumes > model.config.max_prior_volumes or (
        processor.max_prior_volumes and processor.num_prior_image_tokens != model.config.num_prior_image_tokens
    ):
        raise ValueError(
            f"{directory}: the processor writes up to {processor.max_prior_volumes} earlier scans of "
            f"{processor.num_prior_image_tokens} image tokens but the model reads up to "
            f"{model.config.max_prior_volumes} of {model.config.num_prior_image_tokens}"
        )
    return model, processor


__all__ = ["is_m3d_rad_folder", "load_model_and_processor"]
