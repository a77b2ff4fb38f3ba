"""M3D-RAD's fine-tuning recipe as a peft model: LoRA on every Linear of the language model, the rest trained fully.

LoRA (r 16, alpha 32, dropout 0.05) goes on each ``nn.Linear`` inside the language model's decoder; the vision tower,
the projector, the input embeddings and the ``lm_head`` are peft ``modules_to_save``, so they are trained in full and
saved with the adapter (a checkpoint is complete, and ``merge_and_unload()`` gives a plain M3D-RAD model back). The
temporal variant's time-position embedding (``scan_positions``) is trained in full too.
"""

from __future__ import annotations

from torch import nn

FULLY_TRAINED: tuple[str, ...] = ("vision_tower", "mm_projector", "embed_tokens", "lm_head")


def language_model_linear_names(model: nn.Module) -> list[str]:
    """Full names of every ``nn.Linear`` in the language model except the output layer."""
    output = model.get_output_embeddings()
    return [
        f"language_model.{name}"
        for name, module in model.language_model.named_modules()
        if isinstance(module, nn.Linear) and module is not output
    ]


def apply_lora(
    model: nn.Module, *, r: int = 16, alpha: int = 32, dropout: float = 0.05, freeze_vision_tower: bool = False
):
    """Wrap ``model`` (an :class:`M3DRadForCausalLM`) in a peft ``PeftModel`` with M3D-RAD's recipe.

    ``freeze_vision_tower`` (M3D's flag of that name) leaves the vision tower out of the trained modules.
    """
    from peft import LoraConfig, get_peft_model

    targets = language_model_linear_names(model)
    if not targets:
        raise ValueError("the language model has no nn.Linear layers to adapt")
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        # Exact names: suffix matching on short names like "q_proj" would also catch Linear layers elsewhere.
        target_modules=targets,
        modules_to_save=[m for m in FULLY_TRAINED if not (freeze_vision_tower and m == "vision_tower")]
        + (["scan_positions"] if getattr(model, "scan_positions", None) is not None else []),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


__all__ = ["FULLY_TRAINED", "apply_lora", "language_model_linear_names"]
