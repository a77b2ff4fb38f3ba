"""Memory and time of M3D-RAD training steps with the paper's recipe, random weights, synthetic inputs (no data).

    python examples/benchmarks/m3d_rad_train_step.py --preset phi3-4b        # one GPU, bf16
    python examples/benchmarks/m3d_rad_train_step.py --preset llama2-7b --gradient-checkpointing
    python examples/benchmarks/m3d_rad_train_step.py --preset tiny --device cpu --dtype float32   # smoke run
    python examples/benchmarks/m3d_rad_train_step.py --preset phi3-4b-temporal      # + 6 earlier scans per question
    python examples/benchmarks/m3d_rad_train_step.py --preset phi3-4b-temporal --reduced --device cpu \
        --dtype float32 --batch-size 1 --priors 1 --steps 2                            # CPU smoke run, full-size input

Builds the preset's architecture (M3D's 32x256x256 ViT + Phi-3-mini or Llama-2-7B), applies the LoRA recipe (LoRA
r 16 on every language-model Linear; vision tower, projector, embeddings and lm_head trained in full), and runs
``--steps`` AdamW steps on batches of ``--batch-size`` questions of ``--seq-len`` tokens (256 of them image tokens),
under bf16 autocast as the Trainer's ``--bf16`` does. Prints parameter counts, the first step's time, the mean of the
others, and peak GPU memory. The model cards quote its output.

The temporal presets add ``--priors`` earlier scans per question (default: the preset's maximum, 6 for
``phi3-4b-temporal``), each full-size (1x32x256x256) and pooled to its 64 tokens, with their marked image-token spans
in the sequence (``--seq-len`` defaults to the image tokens + 64). ``--reduced`` keeps the input and token geometry
but shrinks both transformers to 2 layers (widths 96 and 256), for a CPU check of the code path.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    import torch

    from rad3d_hf.models.m3d_rad import M3DRadForCausalLM
    from rad3d_hf.models.m3d_rad.lora import apply_lora
    from rad3d_hf.models.m3d_rad.presets import (
        RECIPES,
        TINY_VISION,
        base_preset,
        llama2_7b_config,
        phi3_4b_config,
        temporal_kwargs,
        tiny_config,
    )

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="phi3-4b", choices=tuple(RECIPES))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"), help="autocast dtype")
    parser.add_argument("--batch-size", type=int, default=8, help="the recipe's 8 per device")
    parser.add_argument("--seq-len", type=int, default=None, help="tokens per question (default: image tokens + 64)")
    parser.add_argument("--priors", type=int, default=None, help="earlier scans per question (temporal presets)")
    parser.add_argument("--reduced", action="store_true", help="2-layer transformers, same input (CPU smoke run)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--no-lora", action="store_true", help="train every parameter instead")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    base, temporal = base_preset(args.preset), temporal_kwargs(args.preset)
    if base == "tiny":
        ids = dict(vocab_size=600, image_token_id=4, bos_token_id=1, eos_token_id=2, pad_token_id=0)
        config = tiny_config(**ids, **temporal)
    else:
        config = (phi3_4b_config if base == "phi3-4b" else llama2_7b_config)(**temporal)
    if args.reduced:
        text = config.text_config
        text.hidden_size, text.intermediate_size, text.num_hidden_layers = 256, 512, 2
        text.num_attention_heads = text.num_key_value_heads = 4
        text.head_dim = 64
        vision = config.vision_config
        vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers, vision.num_attention_heads = (
            96,
            192,
            2,
            4,
        )
    priors = config.max_prior_volumes if args.priors is None else args.priors
    if not 0 <= priors <= config.max_prior_volumes:
        raise SystemExit(f"--priors must be 0..{config.max_prior_volumes} for --preset {args.preset}")
    n_image = config.num_image_tokens + priors * config.num_prior_image_tokens
    seq_len = args.seq_len or n_image + 64
    # BOS, then per earlier scan a 4-token marker and its span, a 4-token marker and the current span, then text
    n_prefix = 1 + n_image + 4 * (priors + 1) if priors else 1 + n_image
    if seq_len <= n_prefix + 8:
        raise SystemExit(f"--seq-len must exceed the {n_prefix} prompt tokens before the question + 8 text tokens")
    model = M3DRadForCausalLM(config).to(device)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    recipe = RECIPES[args.preset]
    if not args.no_lora:
        model = apply_lora(model, r=recipe.lora_r, alpha=recipe.lora_alpha, dropout=recipe.lora_dropout)
    trainable = [p for p in model.parameters() if p.requires_grad]
    total = sum(p.numel() for p in model.parameters())
    print(
        f"preset {args.preset}: {total / 1e6:.1f}M parameters, {sum(p.numel() for p in trainable) / 1e6:.1f}M "
        f"trainable; batch {args.batch_size} x {seq_len} tokens ({priors} earlier scans each); {args.dtype} autocast "
        f"on {device}"
        f"{'; gradient checkpointing' if args.gradient_checkpointing else ''}"
    )
    optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=0.0)

    vision = config.vision_config if base != "tiny" else None
    image_shape = (vision.in_channels, *vision.image_size) if vision else (1, *TINY_VISION["image_size"])
    ids = torch.randint(10, config.text_config.vocab_size, (args.batch_size, seq_len), device=device)
    ids[:, 0] = 1
    position = 1
    for span in [config.num_prior_image_tokens] * priors + [config.num_image_tokens]:
        position += 4 if priors else 0  # "Earlier scan k: " / "Current scan: " are ordinary tokens
        ids[:, position : position + span] = config.image_token_id
        position += span
    labels = ids.clone()
    labels[:, : n_prefix + 8] = -100
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "pixel_values": torch.rand(args.batch_size, *image_shape, device=device),
    }
    if priors:
        batch["prior_pixel_values"] = torch.rand(args.batch_size, priors, *image_shape, device=device)
        batch["prior_mask"] = torch.ones(args.batch_size, priors, dtype=torch.bool, device=device)
    dtype = getattr(torch, args.dtype)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.steps):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=args.dtype != "float32"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    rest = times[1:] or times
    print(f"step 1: {times[0]:.3f} s; steps 2-{len(times)}: {sum(rest) / len(rest):.3f} s mean; loss {loss.item():.3f}")
    if cuda:
        print(
            f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated, "
            f"{torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB reserved"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
