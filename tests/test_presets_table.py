"""The presets built from their tables keep the settings they had when each was spelled out in full."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from rad3d_hf.models.m3d_rad.presets import (
    LANGUAGE_MODELS,
    PRESET_NAMES,
    RECIPES,
    llama2_7b_config,
    phi3_4b_config,
    released_config,
    temporal_kwargs,
)

# What the recipes share, then what each preset sets otherwise: the values the presets had before the tables.
SHARED_RECIPE = {
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "lr_scheduler_type": "cosine",
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "seed": 42,
}
RECIPE_VALUES = {
    "tiny": {
        "learning_rate": 2e-3,
        "per_device_train_batch_size": 32,
        "num_train_epochs": 12,
        "bf16": False,
        "max_length": 256,
    },
    "phi3-4b": {"learning_rate": 5e-5, "per_device_train_batch_size": 8, "num_train_epochs": 5, "bf16": True},
    "llama2-7b": {"learning_rate": 5e-5, "per_device_train_batch_size": 8, "num_train_epochs": 4, "bf16": True},
    "tiny-temporal": {
        "learning_rate": 2e-3,
        "per_device_train_batch_size": 32,
        "num_train_epochs": 12,
        "bf16": False,
        "max_length": 256,
    },
    "phi3-4b-temporal": {
        "learning_rate": 5e-5,
        "per_device_train_batch_size": 8,
        "num_train_epochs": 5,
        "bf16": True,
        "max_length": 1024,
    },
}

# The language-model settings both released architectures share, then those that tell them apart.
SHARED_TEXT = {
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "bos_token_id": 1,
    "tie_word_embeddings": False,
}
TEXT_VALUES = {
    "phi3-4b": {
        "model_type": "phi3",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "vocab_size": 32068,
        "eos_token_id": 32000,
        "pad_token_id": 32000,
    },
    "llama2-7b": {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "vocab_size": 32004,
        "eos_token_id": 2,
        "pad_token_id": 0,
    },
}
IMAGE_TOKEN_IDS = {"phi3-4b": 32064, "llama2-7b": 32000}
TEMPORAL_VALUES = {
    "tiny": {"max_prior_volumes": 0},
    "tiny-temporal": {"max_prior_volumes": 2, "prior_pooling_size": None},
    "phi3-4b-temporal": {"max_prior_volumes": 6, "prior_pooling_size": [2, 4, 4]},
}


def test_every_preset_has_its_recipe():
    assert PRESET_NAMES == ("tiny", "phi3-4b", "llama2-7b", "tiny-temporal", "phi3-4b-temporal")
    assert set(RECIPES) == set(PRESET_NAMES) == set(RECIPE_VALUES)
    for preset, values in RECIPE_VALUES.items():
        assert asdict(RECIPES[preset]) == {"max_length": 512, **SHARED_RECIPE, **values}, preset


@pytest.mark.parametrize("preset", ["phi3-4b", "llama2-7b", "phi3-4b-temporal"])
def test_released_architectures_keep_their_settings(preset):
    pytest.importorskip("transformers")
    base = preset.removesuffix("-temporal")
    config = released_config(preset, **temporal_kwargs(preset))
    text = config.text_config.to_dict()
    for key, value in {**SHARED_TEXT, **TEXT_VALUES[base]}.items():
        assert text[key] == value, (preset, key)
    assert config.image_token_id == IMAGE_TOKEN_IDS[base]
    temporal = TEMPORAL_VALUES.get(preset, {"max_prior_volumes": 0})
    assert {key: getattr(config, key) for key in temporal} == temporal
    assert set(LANGUAGE_MODELS) == set(TEXT_VALUES)


def test_named_builders_equal_the_table():
    pytest.importorskip("transformers")
    assert phi3_4b_config().to_dict() == released_config("phi3-4b").to_dict()
    assert llama2_7b_config().to_dict() == released_config("llama2-7b").to_dict()
    temporal = temporal_kwargs("phi3-4b-temporal")
    assert phi3_4b_config(**temporal).to_dict() == released_config("phi3-4b-temporal", **temporal).to_dict()
    own = released_config("llama2-7b", vocab_size=2000, image_token_id=7)
    assert own.text_config.vocab_size == 2000 and own.image_token_id == 7


def test_tiny_presets_keep_their_temporal_settings():
    assert temporal_kwargs("tiny") == {}
    for preset in ("tiny-temporal", "phi3-4b-temporal"):
        assert temporal_kwargs(preset) == TEMPORAL_VALUES[preset]
