"""How much faster batched greedy answering is than one question at a time (M3D-LaMed's evaluation loop), same run.

    python examples/benchmarks/m3d_rad_batched_generation.py [--questions 32] [--batch-size 8] [--max-new-tokens 16]

Uses the tiny M3D-RAD preset with random weights and synthetic images (no data needed), checks that both ways give the
same answers, and prints questions per second of each and their ratio.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    import torch

    from rad3d_hf.data.catalogue import EXISTENCE_OPTIONS, TEMPORAL_OPTIONS
    from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers
    from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    templates = [
        ("Is there a lung nodule in this image?", "closed", list(EXISTENCE_OPTIONS), "No", "B"),
        ("What is the diameter of the largest nodule?", "open", [], "12 mm", ""),
        (
            "Pleural effusion was [0, 1] earlier. What is its status now?",
            "closed",
            list(TEMPORAL_OPTIONS),
            TEMPORAL_OPTIONS[0],
            "A",
        ),
        ("Describe the abnormality in the right upper lobe.", "open", [], "A solid nodule.", ""),
    ]
    rows = [
        {"id": f"q{i}", "question": q, "question_type": t, "choices": c, "answer": a, "answer_choice": letter}
        for i, (q, t, c, a, letter) in ((i, templates[i % len(templates)]) for i in range(args.questions))
    ]
    model, processor = build_tiny(tokenizer_corpus(rows), seed=0)
    model.eval()
    shape = (1, *model.config.vision_config.image_size)
    gen = torch.Generator().manual_seed(0)
    for row in rows:
        row["pixel_values"] = torch.rand(shape, generator=gen)
    collate = PredictionCollator(processor)

    def run(batch_size: int) -> tuple[float, list[str]]:
        start = time.perf_counter()
        answers: list[str] = []
        for i in range(0, len(rows), batch_size):
            answers += generate_answers(
                model, processor, collate(rows[i : i + batch_size]), max_new_tokens=args.max_new_tokens
            )
        return time.perf_counter() - start, answers

    run(args.batch_size)  # warm-up
    one_time, one_answers = run(1)
    batch_time, batch_answers = run(args.batch_size)
    same = sum(a == b for a, b in zip(one_answers, batch_answers))
    print(f"questions: {len(rows)}, max_new_tokens: {args.max_new_tokens}, torch threads: {torch.get_num_threads()}")
    print(f"one at a time      : {len(rows) / one_time:8.1f} questions/s")
    print(f"batches of {args.batch_size:<8}: {len(rows) / batch_time:8.1f} questions/s")
    print(f"ratio (batched / one at a time): {one_time / batch_time:.2f}x; identical answers: {same}/{len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
