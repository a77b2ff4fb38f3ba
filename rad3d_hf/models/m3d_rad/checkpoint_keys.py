"""Loading released M3D-LaMed checkpoints (``GoodBaiBai88/M3D-LaMed-Phi-3-4B``, ``-Llama-2-7B``) into M3D-RAD.

Key map, applied in order (first matching prefix wins):

============================================  ==========================================  =======================
M3D-LaMed key                                 M3D-RAD key                                 what it is
============================================  ==========================================  =======================
``model.vision_tower.vision_tower.*``         ``vision_tower.*``                          MONAI 3D ViT
``model.mm_projector.projector.{0,2}.*``      ``mm_projector.projector.{0,2}.*``          spatial-pooling MLP
``model.seg_projector.*``                     (unused, reported by name)                  segmentation head
``model.seg_module.*``                        (unused, reported by name)                  SegVol decoder
``model.*`` (everything else)                 ``language_model.model.*``                  language model body
``lm_head.*``                                 ``language_model.lm_head.*``                output layer
============================================  ==========================================  =======================

Keys ending in ``rotary_emb.inv_freq`` (saved by older transformers, recomputed at load) are dropped and listed.
Expected missing: ``vision_tower.blocks.N.norm_cross_attn.*`` and ``vision_tower.classification_head.*``, which MONAI
creates and M3D never had (this package deletes them from its ViT, so they only matter for a tower built otherwise),
and ``language_model.lm_head.weight`` when the language model ties it to the input embeddings. Anything else missing
or left over is an error naming the keys.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

KEY_MAP: tuple[tuple[str, str], ...] = (
    ("model.vision_tower.vision_tower.", "vision_tower."),
    ("model.mm_projector.", "mm_projector."),
    ("model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
)
UNUSED_PREFIXES: tuple[str, ...] = ("model.seg_projector.", "model.seg_module.")
RECOMPUTED_SUFFIXES: tuple[str, ...] = ("rotary_emb.inv_freq",)
EXPECTED_MISSING: tuple[str, ...] = (
    r"vision_tower\.blocks\.\d+\.norm_cross_attn\.(weight|bias)",
    r"vision_tower\.classification_head\.\d+\.(weight|bias)",
)
_LAMED_TEXT_MODEL_TYPES = {"lamed_phi3": "phi3", "lamed_llama": "llama", "lamed_mistral": "mistral"}
# LaMed config fields -> required value (None: any), checked so an unsupported variant fails loudly.
_LAMED_VISION_FIELDS = {
    "vision_tower": "vit3d",
    "mm_projector_type": "spp",
    "proj_layer_type": "mlp",
    "proj_layer_num": 2,
    "proj_pooling_type": "spatial",
    "vision_select_layer": -1,
    "vision_select_feature": "patch",
}
_LAMED_ONLY_FIELDS = (
    "image_channel",
    "image_size",
    "patch_size",
    "mm_hidden_size",
    "proj_pooling_size",
    "segmentation_module",
    "num_new_tokens",
    "seg_token_id",
    "freeze_vision_tower",
    "tune_mm_mlp_adapter",
    "pretrain_mm_mlp_adapter",
    "pretrain_vision_model",
    "pretrain_seg_module",
    "auto_map",
    "architectures",
    *_LAMED_VISION_FIELDS,
)


def map_lamed_key(key: str) -> str | None:
    """The M3D-RAD name of a M3D-LaMed key, or None for the unused segmentation module."""
    if key.startswith(UNUSED_PREFIXES):
        return None
    for old, new in KEY_MAP:
        if key.startswith(old):
            return new + key[len(old) :]
    raise KeyError(
        f"{key!r} is not a M3D-LaMed key (expected one of the prefixes "
        f"{[p for p, _ in KEY_MAP] + list(UNUSED_PREFIXES)})"
    )


@dataclass
class LoadReport:
    """What loading a M3D-LaMed state dict did: keys not used, dropped, expected missing."""

    unused: list[str] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    expected_missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        families = sorted({".".join(k.split(".")[:2]) for k in self.unused})
        return (
            f"{len(self.unused)} unused keys ({', '.join(families) or 'none'}), "
            f"{len(self.recomputed)} recomputed buffers dropped, "
            f"{len(self.expected_missing)} expected-missing keys"
        )


def convert_lamed_state_dict(state_dict: Mapping[str, Any]) -> tuple[dict[str, Any], LoadReport]:
    """Rename a M3D-LaMed state dict to M3D-RAD's names; the report lists what was set aside."""
    converted: dict[str, Any] = {}
    report = LoadReport()
    for key, value in state_dict.items():
        if key.endswith(RECOMPUTED_SUFFIXES):
            report.recomputed.append(key)
            continue
        new = map_lamed_key(key)
        if new is None:
            report.unused.append(key)
        else:
            converted[new] = value
    return converted, report


def load_lamed_state_dict(model, state_dict: Mapping[str, Any]) -> LoadReport:
    """Load a M3D-LaMed state dict into ``model`` (a :class:`M3DRadForCausalLM`); strict apart from the documented
    expected-missing keys. Raises ``ValueError`` naming any other missing or unexpected key; shapes must match."""
    converted, report = convert_lamed_state_dict(state_dict)
    try:
        result = model.load_state_dict(converted, strict=False)
    except RuntimeError as err:  # torch reports shape mismatches this way
        raise ValueError(f"the checkpoint does not fit the model: {err}") from err
    patterns = list(EXPECTED_MISSING)
    if model.config.tie_word_embeddings:
        patterns.append(r"language_model\.lm_head\.weight")
    allowed = re.compile("|".join(f"(?:{p})" for p in patterns))
    missing = [k for k in result.missing_keys if not allowed.fullmatch(k)]
    report.expected_missing = [k for k in result.missing_keys if allowed.fullmatch(k)]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"the checkpoint does not fit the model: missing {missing}, unexpected {list(result.unexpected_keys)}"
        )
    if report.unused:
        logger.info("not used by M3D-RAD (VQA needs no segmentation): %s", ", ".join(report.unused))
    return report


def config_from_lamed(lamed_config: Mapping[str, Any], *, image_token_id: int, vision: Mapping[str, Any] | None = None):
    """An :class:`M3DRadConfig` from a M3D-LaMed ``config.json`` (model_type ``lamed_phi3`` or ``lamed_llama``).

    M3D-LaMed's config does not record the ViT's width and depth (M3D always used 768 wide, 12 layers, 12 heads);
    ``vision`` overrides :class:`M3DRadVisionConfig` fields for a checkpoint with another ViT.
    """
    from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig

    settings = dict(lamed_config)
    lamed_type = settings.get("model_type")
    if lamed_type not in _LAMED_TEXT_MODEL_TYPES:
        raise ValueError(f"model_type {lamed_type!r} is not a M3D-LaMed type ({sorted(_LAMED_TEXT_MODEL_TYPES)})")
    for name, required in _LAMED_VISION_FIELDS.items():
        if name in settings and settings[name] != required:
            raise ValueError(
                f"M3D-LaMed config field {name}={settings[name]!r} is not supported (expected {required!r})"
            )
    vision_fields = {
        "in_channels": settings.get("image_channel", 1),
        "image_size": list(settings.get("image_size", (32, 256, 256))),
        "patch_size": list(settings.get("patch_size", (4, 16, 16))),
        **(vision or {}),
    }
    width = vision_fields.get("hidden_size", 768)
    if settings.get("mm_hidden_size", width) != width:
        raise ValueError(
            f"mm_hidden_size={settings['mm_hidden_size']} but the ViT is {width} wide; pass "
            f"vision={{'hidden_size': ...}} for a checkpoint with another ViT"
        )
    pooling = settings.get("proj_pooling_size", 2)
    # dtype rule: the whole model is built in one dtype, the caller's (float32 unless ``dtype`` is given). The
    # released configs record torch_dtype bfloat16 (how the weights were saved); applied to the language model
    # alone it would put a bfloat16 LM under a float32 vision tower, which M3D never ran.
    text = {k: v for k, v in settings.items() if k not in _LAMED_ONLY_FIELDS and k not in ("torch_dtype", "dtype")}
    text["model_type"] = _LAMED_TEXT_MODEL_TYPES[lamed_type]
    return M3DRadConfig(
        vision_config=vision_fields,
        text_config=text,
        pooling_size=pooling,
        image_token_id=image_token_id,
        image_placement="after_first_token",  # where M3D's code writes image features (see M3DRadConfig)
    )


def read_state_dict(directory: str | Path) -> dict[str, Any]:
    """All tensors of a checkpoint folder: ``*.safetensors`` (sharded or not), else ``pytorch_model*.bin``."""
    import torch

    directory = Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    if files:
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    files = sorted(directory.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin weights in {directory}")
    state = {}
    for f in files:
        state.update(torch.load(f, map_location="cpu", weights_only=True))
    return state


def load_lamed_tokenizer(directory: Path):
    """The checkpoint's tokenizer; a folder with only a sentencepiece ``tokenizer.model`` needs sentencepiece and a
    protobuf that its generated code accepts, and says so when they are missing (transformers would otherwise fall
    back to reading the file as tiktoken and blame that)."""
    from transformers import AutoTokenizer

    if not (directory / "tokenizer.json").is_file() and (directory / "tokenizer.model").is_file():
        try:
            from sentencepiece import sentencepiece_model_pb2  # noqa: F401 (checks the protobuf runtime too)
        except Exception as error:  # ImportError, or protobuf's version check (a TypeError or VersionError)
            raise ImportError(
                f"{directory} has a sentencepiece tokenizer.model and no tokenizer.json: reading it needs the "
                f"sentencepiece and protobuf packages in versions that fit each other (pip install "
                f"'rad3d-hf[train]'); importing them failed: {error}"
            ) from error
    return AutoTokenizer.from_pretrained(directory)


def from_lamed_checkpoint(directory: str | Path, *, dtype=None, vision: Mapping[str, Any] | None = None):
    """Build M3D-RAD from a local copy of a released M3D-LaMed checkpoint: ``(model, tokenizer, report)``.

    ``vision`` as in :func:`config_from_lamed`. The tokenizer is the checkpoint's own, given the M3D tokens and a pad
    token if it lacks them (the embeddings are then resized to match).
    """
    import torch
    from transformers import GenerationConfig

    from rad3d_hf.models.m3d_rad.modeling_m3d_rad import M3DRadForCausalLM
    from rad3d_hf.models.m3d_rad.tokenization_m3d_rad import IMAGE_TOKEN, ensure_special_tokens

    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: pass the folder of a downloaded M3D-LaMed checkpoint")
    tokenizer = load_lamed_tokenizer(directory)
    added = ensure_special_tokens(tokenizer)
    config = config_from_lamed(
        json.loads(config_path.read_text()), image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), vision=vision
    )
    model = M3DRadForCausalLM._from_config(config, dtype=dtype if dtype is not None else torch.float32)
    report = load_lamed_state_dict(model, read_state_dict(directory))
    if (directory / "generation_config.json").is_file():
        # its stop tokens (Phi-3: <|end|> as well as <|endoftext|>) end the answers as in M3D's own generation
        model.generation_config = GenerationConfig.from_pretrained(directory)
    if added or len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    logger.info("loaded %s: %s", directory, report.summary())
    return model, tokenizer, report


__all__ = [
    "EXPECTED_MISSING",
    "KEY_MAP",
    "UNUSED_PREFIXES",
    "LoadReport",
    "config_from_lamed",
    "convert_lamed_state_dict",
    "from_lamed_checkpoint",
    "load_lamed_state_dict",
    "load_lamed_tokenizer",
    "map_lamed_key",
    "read_state_dict",
]
