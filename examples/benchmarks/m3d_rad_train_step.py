"""Memory and time of M3D-RAD training steps with the paper's recipe, random weights, synthetic inputs (no data).

    python examples/benchmarks/m3d_rad_train_step.py --preset phi3-4b        # one GPU, bf16
    python examples/benchmarks/m3d_rad_train_step.py --preset llama2-7b --gradient-checkpointing
    python examples/benchmarks/m3d_rad_train_step.py --preset tiny --device cpu --dtype float32   # smoke run

Builds the preset's architecture (M3D's 32x256x256 ViT + Phi-3-mini or Llama-2-7B), applies the LoRA recipe (LoRA
r 16 on every language-model Linear; vision tower, projector, embeddings and lm_head trained in full), and runs
``--steps`` AdamW steps on batches of ``--batch-size`` questions of ``--seq-len`` tokens (256 of them image tokens),
under bf16 autocast as the Trainer's ``--bf16`` does. Prints parameter counts, the first step's time, the mean of the
others, and peak GPU memory. The model cards quote its output.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    import torch

    from rad3d_hf.models.m3d_rad import M3DRadForCausalLM
    from rad3d_hf.models.m3d_rad.lora import apply_lora
    from rad3d_hf.models.m3d_rad.presets import RECIPES, TINY_VISION, llama2_7b_config, phi3_4b_config, tiny_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="phi3-4b", choices=("tiny", "phi3-4b", "llama2-7b"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"), help="autocast dtype")
    parser.add_argument("--batch-size", type=int, default=8, help="the recipe's 8 per device")
    parser.add_argument("--seq-len", type=int, default=320, help="tokens per question (256 image tokens + text)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--no-lora", action="store_true", help="train every parameter instead")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.preset == "tiny":
        config = tiny_config(vocab_size=600, image_token_id=4, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    elif args.preset == "phi3-4b":
        config = phi3_4b_config()
    else:
        config = llama2_7b_config()
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
        f"trainable; batch {args.batch_size} x {args.seq_len} tokens; {args.dtype} autocast on {device}"
        f"{'; gradient checkpointing' if args.gradient_checkpointing else ''}"
    )
    optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=0.0)

    n_image = config.num_image_tokens
    if args.seq_len <= n_image + 2:
        raise SystemExit(f"--seq-len must exceed the {n_image} image tokens + BOS + one text token")
    vision = config.vision_config if args.preset != "tiny" else None
    image_shape = (vision.in_channels, *vision.image_size) if vision else (1, *TINY_VISION["image_size"])
    ids = torch.randint(10, config.text_config.vocab_size, (args.batch_size, args.seq_len), device=device)
    ids[:, 0] = 1
    ids[:, 1 : 1 + n_image] = config.image_token_id
    labels = ids.clone()
    labels[:, : 1 + n_image + 8] = -100
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "pixel_values": torch.rand(args.batch_size, *image_shape, device=device),
    }
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
