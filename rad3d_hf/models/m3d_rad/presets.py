"""Model presets: ``tiny`` (random, CPU-sized, seconds per step) and the two released M3D-LaMed architectures.

``phi3-4b`` and ``llama2-7b`` give the released checkpoints' architectures (Phi-3-mini-4k and Llama-2-7B language
models, M3D's 32x256x256 ViT); real runs take the exact language-model config from ``--init_from`` instead, since
the vocabulary size there depends on how the checkpoint's tokenizer was extended.

``tiny-temporal`` and ``phi3-4b-temporal`` are the same models reading earlier scans too (:data:`TEMPORAL`):
``tiny-temporal`` up to 2 (the demo patients have at most 3 scans), pooled like the current one (4 tokens each);
``phi3-4b-temporal`` up to 6 (3D-RAD's Task 5/6 files go up to scan ``h``), each pooled 2x4x4 to 64 tokens so six fit
beside the current scan's 256 in a 1,024-token sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig
from rad3d_hf.prompts import question_prompt, target_text

PRESET_NAMES: tuple[str, ...] = ("tiny", "phi3-4b", "llama2-7b", "tiny-temporal", "phi3-4b-temporal")

TINY_VISION = {
    "image_size": [16, 64, 64],
    "patch_size": [4, 8, 8],
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    # M3DTransform's [0, 1] output of the demo volumes has mean 0.13 (standard deviation 0.17): centred so and
    # scaled by 0.3, the random patch embedding starts at a useful scale (the vision tower learns faster; README).
    "pixel_mean": 0.13,
    "pixel_std": 0.3,
}


TINY_POOLING_SIZE = 4  # the projector pools the 4x8x8 patch grid to 1x2x2: 4 image tokens
TINY_TEXT_WIDTH = 128  # also the projector's output: 64 leaves the stage-1 vision features clearly weaker


@dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters of a preset (M3D-RAD's for the two real ones)."""

    learning_rate: float
    per_device_train_batch_size: int
    num_train_epochs: float
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler_type: str = "cosine"
    max_length: int = 512
    bf16: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 42


RECIPES: dict[str, Recipe] = {
    # The tiny model starts from random weights, so it needs a far larger step than LoRA on a pretrained model, and
    # many steps of 32 before its language model reads the image tokens (stage 1 has trained the vision tower): on
    # the demo, Task 4 balanced accuracy is near 0.67 after 9 epochs and jumps late, to about 0.79 after 12 (README).
    "tiny": Recipe(learning_rate=2e-3, per_device_train_batch_size=32, num_train_epochs=12, bf16=False, max_length=256),
    "phi3-4b": Recipe(learning_rate=5e-5, per_device_train_batch_size=8, num_train_epochs=5),
    "llama2-7b": Recipe(learning_rate=5e-5, per_device_train_batch_size=8, num_train_epochs=4),
}


@dataclass(frozen=True)
class Temporal:
    """What a temporal preset adds to its single-scan base preset."""

    base: str
    max_prior_volumes: int
    prior_pooling_size: tuple[int, int, int] | None = None
    max_length: int | None = None


TEMPORAL: dict[str, Temporal] = {
    "tiny-temporal": Temporal(base="tiny", max_prior_volumes=2),
    "phi3-4b-temporal": Temporal(base="phi3-4b", max_prior_volumes=6, prior_pooling_size=(2, 4, 4), max_length=1024),
}
for _name, _temporal in TEMPORAL.items():
    _base = RECIPES[_temporal.base]
    RECIPES[_name] = Recipe(**{**_base.__dict__, "max_length": _temporal.max_length or _base.max_length})


def base_preset(preset: str) -> str:
    """The single-scan preset a preset builds on (itself for the single-scan ones)."""
    return TEMPORAL[preset].base if preset in TEMPORAL else preset


def tiny_config(
    *,
    vocab_size: int,
    image_token_id: int,
    bos_token_id: int,
    eos_token_id: int,
    pad_token_id: int,
    **temporal: Any,
) -> M3DRadConfig:
    """A ~0.5M-parameter M3D-RAD: 1x16x64x64 input, 4x8x8 patches pooled 4x4x4 to 4 image tokens, a 2-layer 128-wide Llama.

    ``temporal`` (``max_prior_volumes``, ``prior_pooling_size``) makes the temporal variant.
    """
    from transformers import LlamaConfig

    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_TEXT_WIDTH,
        intermediate_size=2 * TINY_TEXT_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        # 1/sqrt(width) instead of Llama's 0.02: a random 2-layer model then learns which image token a question
        # names several times faster (the 0.02 of a pretrained model's config leaves its attention near uniform).
        initializer_range=TINY_TEXT_WIDTH**-0.5,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=False,
    )
    # 4 image tokens, not M3D's 2x2x2 pooling to 32: the vision tower's attention has already mixed the volume, and
    # shorter sequences make the many steps a random language model needs cheaper.
    return M3DRadConfig(
        vision_config=dict(TINY_VISION),
        text_config=text,
        image_token_id=image_token_id,
        pooling_size=TINY_POOLING_SIZE,
        **temporal,
    )


@dataclass(frozen=True)
class LanguageModel:
    """What tells the released checkpoints' language models apart; both are 32-layer, 32-head, 4,096-position
    decoders with BOS 1 behind M3D's ViT and 256 image tokens."""

    config_class: str  # the transformers config class
    hidden_size: int
    intermediate_size: int
    vocab_size: int  # the released tokenizer's, extended by M3D's image tokens
    image_token_id: int
    eos_token_id: int
    pad_token_id: int


LANGUAGE_MODELS: dict[str, LanguageModel] = {
    "phi3-4b": LanguageModel(
        "Phi3Config", 3072, 8192, vocab_size=32068, image_token_id=32064, eos_token_id=32000, pad_token_id=32000
    ),
    "llama2-7b": LanguageModel(
        "LlamaConfig", 4096, 11008, vocab_size=32004, image_token_id=32000, eos_token_id=2, pad_token_id=0
    ),
}


def released_config(
    preset: str, *, vocab_size: int | None = None, image_token_id: int | None = None, **temporal: Any
) -> M3DRadConfig:
    """The architecture of ``preset``'s released checkpoint (:data:`LANGUAGE_MODELS`; a temporal preset's base).

    ``vocab_size`` and ``image_token_id`` default to the released tokenizer's; ``temporal`` (``max_prior_volumes``,
    ``prior_pooling_size``) makes the temporal variant.
    """
    import transformers

    shape = LANGUAGE_MODELS[base_preset(preset)]
    text = getattr(transformers, shape.config_class)(
        vocab_size=shape.vocab_size if vocab_size is None else vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=shape.eos_token_id,
        pad_token_id=shape.pad_token_id,
        tie_word_embeddings=False,
    )
    token = shape.image_token_id if image_token_id is None else image_token_id
    return M3DRadConfig(text_config=text, image_token_id=token, **temporal)


def phi3_4b_config(*, vocab_size: int = 32068, image_token_id: int = 32064, **temporal: Any) -> M3DRadConfig:
    """M3D-LaMed-Phi-3-4B's shape: Phi-3-mini-4k (3072 wide, 32 layers) behind M3D's ViT, 256 image tokens."""
    return released_config("phi3-4b", vocab_size=vocab_size, image_token_id=image_token_id, **temporal)


def llama2_7b_config(*, vocab_size: int = 32004, image_token_id: int = 32000, **temporal: Any) -> M3DRadConfig:
    """M3D-LaMed-Llama-2-7B's shape: Llama-2-7B (4096 wide, 32 layers) behind M3D's ViT, 256 image tokens."""
    return released_config("llama2-7b", vocab_size=vocab_size, image_token_id=image_token_id, **temporal)


def temporal_kwargs(preset: str) -> dict[str, Any]:
    """The config arguments that make ``preset`` temporal (none for a single-scan preset)."""
    if preset not in TEMPORAL:
        return {}
    spec = TEMPORAL[preset]
    pooling = None if spec.prior_pooling_size is None else list(spec.prior_pooling_size)
    return {"max_prior_volumes": spec.max_prior_volumes, "prior_pooling_size": pooling}


def tokenizer_corpus(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Prompt and target texts of ``rows``: what the tiny preset's tokenizer is trained on."""
    return [question_prompt(r) + " " + target_text(r) for r in rows]


def build_tiny(
    texts: Iterable[str],
    *,
    seed: int = 42,
    max_length: int = 256,
    vocab_size: int = 600,
    history: str = "text",
    temporal_facts: bool = False,
    **temporal: Any,
):
    """A random tiny M3D-RAD and its processor, with a BPE tokenizer trained on ``texts``: ``(model, processor)``.

    Same texts and seed, same weights; ``temporal`` (``max_prior_volumes``, ``prior_pooling_size``) makes the
    temporal variant, whose other weights equal the single-scan model's for the same texts and seed.
    ``history`` and ``temporal_facts`` are the processor's settings.
    """
    import torch

    from rad3d_hf.models.m3d_rad.modeling_m3d_rad import M3DRadForCausalLM
    from rad3d_hf.models.m3d_rad.processing_m3d_rad import M3DRadProcessor
    from rad3d_hf.models.m3d_rad.tokenization_m3d_rad import IMAGE_TOKEN, train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab_size)
    config = tiny_config(
        vocab_size=len(tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **temporal,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = M3DRadForCausalLM(config)
    return model, M3DRadProcessor.for_config(
        tokenizer, config, max_length=max_length, history=history, temporal_facts=temporal_facts
    )


__all__ = [
    "LANGUAGE_MODELS",
    "PRESET_NAMES",
    "RECIPES",
    "TEMPORAL",
    "TINY_VISION",
    "LanguageModel",
    "Recipe",
    "Temporal",
    "base_preset",
    "build_tiny",
    "llama2_7b_config",
    "phi3_4b_config",
    "released_config",
    "temporal_kwargs",
    "tiny_config",
    "tokenizer_corpus",
]
