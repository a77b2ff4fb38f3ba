"""M3D-RAD, the 3D-RAD baseline (M3D-LaMed fine-tuned on 3D-RAD-T), as a transformers model.

Importing this package registers ``m3d_rad`` with ``AutoConfig``, ``AutoModelForCausalLM`` and
``AutoModelForImageTextToText``, so a saved model reloads with ``AutoModelForCausalLM.from_pretrained(path)``.
Modules: the config, the model, the processor (prompts, labels, padding), the M3D-LaMed key map
(``checkpoint_keys``), the LoRA recipe (``lora``), presets, batched answering (``inference``), and a Trainer with
generation-based evaluation (``trainer``).
Needs torch, transformers, monai and einops (``pip install "rad3d-hf[train]"``).
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig, M3DRadVisionConfig
from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers
from rad3d_hf.models.m3d_rad.lora import apply_lora
from rad3d_hf.models.m3d_rad.modeling_m3d_rad import M3DRadForCausalLM, M3DRadPreTrainedModel
from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
from rad3d_hf.models.m3d_rad.processing_m3d_rad import IMAGE_TOKEN, SPECIAL_TOKENS, M3DRadCollator, M3DRadProcessor


def _register() -> None:
    # exist_ok: re-importing (e.g. a reloaded module in a notebook) must not fail.
    AutoConfig.register(M3DRadVisionConfig.model_type, M3DRadVisionConfig, exist_ok=True)
    AutoConfig.register(M3DRadConfig.model_type, M3DRadConfig, exist_ok=True)
    AutoModelForCausalLM.register(M3DRadConfig, M3DRadForCausalLM, exist_ok=True)
    AutoModelForImageTextToText.register(M3DRadConfig, M3DRadForCausalLM, exist_ok=True)


_register()

__all__ = [
    "IMAGE_TOKEN",
    "SPECIAL_TOKENS",
    "M3DRadCollator",
    "M3DRadConfig",
    "M3DRadForCausalLM",
    "M3DRadPreTrainedModel",
    "M3DRadProcessor",
    "M3DRadVisionConfig",
    "PredictionCollator",
    "apply_lora",
    "generate_answers",
    "load_model_and_processor",
]
