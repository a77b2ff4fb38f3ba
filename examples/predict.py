"""Answer a 3D-RAD split with an M3D-RAD model: batched greedy generation -> predictions JSONL keyed by id.

    python examples/predict.py --model runs/m3d-rad-tiny/final --demo --output runs/m3d-rad-tiny/test.jsonl
    python examples/predict.py --model checkpoints/M3D-LaMed-Phi-3-4B --config task4 \\
        --data-dir path/to/3D-RAD --volumes-dir path/to/CT-RATE --output preds/task4.jsonl --dtype bfloat16
    rad3d-hf score preds/task4.jsonl --config task4 --data-dir path/to/3D-RAD

``--model`` is a folder saved by ``examples/finetune_m3d_rad.py`` (``final/``) or a local copy of a released M3D-LaMed
checkpoint. The output is appended to one line per question as soon as a batch is answered, so an interrupted run
resumes where it stopped: ids already in the file are skipped (a last line cut off mid-write is dropped and redone).

A temporal model (``--preset tiny-temporal`` / ``phi3-4b-temporal`` runs) reads each question's earlier scans: they are
loaded from the dataset (``--prior-volumes``, on by default for such a model) and preprocessed like the current ones,
each file once per worker. ``--history text|images|both`` overrides what Task 6 sees of the past (default: what the
model was trained with).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger("predict")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="local model folder (M3D-RAD or M3D-LaMed)")
    parser.add_argument("--output", required=True, type=Path, help="predictions file (.jsonl), appended to")
    parser.add_argument("--config", default="all", help="3d-rad config (default: all)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--demo", action="store_true", help="the built-in demo data")
    parser.add_argument("--data-dir", default=None, help="QA tables (default: the Hub dataset)")
    parser.add_argument("--volumes-dir", default=None, help="CT-RATE volumes, found by name")
    parser.add_argument("--volume-format", default="nifti", choices=("nifti", "npy"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding volumes")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="the 3D-RAD evaluation's limit is 256")
    parser.add_argument("--max-samples", type=int, default=None, help="answer only the first N questions")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--prior-volumes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load each question's earlier scans (default: when the model reads them)",
    )
    parser.add_argument("--history", default=None, choices=("text", "images", "both"), help="what Task 6 sees")
    return parser.parse_args(argv)


def read_done(path: Path) -> set[str]:
    """Ids already answered in ``path``; a last line cut off by an interruption is removed from the file."""
    if not path.exists():
        return set()
    done: set[str] = set()
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not line.endswith("\n"):
                logger.warning("%s: dropping the incomplete last line (it will be answered again)", path)
                path.write_text("".join(lines[:-1]))
                break
            raise ValueError(f"{path}:{number}: not a JSON line: {line[:80]!r}") from None
        if not isinstance(record, dict) or "id" not in record or "prediction" not in record:
            raise ValueError(f'{path}:{number}: expected {{"id", "prediction"}}, got {line[:80]!r}')
        done.add(str(record["id"]))
    return done


def main(argv: list[str] | None = None) -> int:
    import torch
    from datasets import load_dataset
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    import rad3d_hf
    from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers
    from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
    from rad3d_hf.transforms.memo import MemoizedTransform

    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, processor = load_model_and_processor(args.model, dtype=getattr(torch, args.dtype))
    model.to(device).eval()
    temporal = processor.max_prior_volumes > 0
    if args.prior_volumes is None:
        args.prior_volumes = temporal
    if (args.prior_volumes or args.history not in (None, "text")) and not temporal:
        raise SystemExit(f"--prior-volumes / --history {args.history}: {args.model} reads no earlier scans")
    if args.history is not None:
        processor.history = args.history

    kwargs = dict(split=args.split, demo=args.demo, volume_format=args.volume_format)
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    if args.volumes_dir is not None:
        kwargs["volumes_dir"] = args.volumes_dir
    if args.prior_volumes:
        kwargs["prior_volumes"] = True
    dataset = load_dataset("3d-rad", args.config, **kwargs)
    if "volume" not in dataset.column_names:
        raise SystemExit("the rows have no volumes: pass --volumes-dir (or --demo)")
    if args.max_samples is not None:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    done = read_done(args.output)
    todo = dataset.filter(lambda i: i not in done, input_columns="id") if done else dataset
    logger.info(
        "%d questions, %d already in %s, %d to answer", len(dataset), len(dataset) - len(todo), args.output, len(todo)
    )

    size = tuple(model.config.vision_config.image_size)
    transform = rad3d_hf.M3DTransform(size=size)
    # A scan is the current volume of its questions and an earlier one of later questions: preprocess it once.
    image_transform = MemoizedTransform(transform, max_items=64) if temporal else transform
    collator = PredictionCollator(processor, image_transform=image_transform)
    loader = DataLoader(todo, batch_size=args.batch_size, collate_fn=collator, num_workers=args.num_workers)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("a") as out, tqdm(total=len(todo), unit="q", desc="answering") as bar:
        for batch in loader:
            answers = generate_answers(model, processor, batch, max_new_tokens=args.max_new_tokens)
            for question_id, answer in zip(batch["ids"], answers):
                out.write(json.dumps({"id": question_id, "prediction": answer}) + "\n")
            out.flush()
            bar.update(len(answers))
    data_dir = rad3d_hf.ensure_demo_data() if args.demo else args.data_dir
    logger.info(
        "wrote %s; score it with: rad3d-hf score %s --split %s --config %s%s",
        args.output,
        args.output,
        args.split,
        args.config,
        f" --data-dir {data_dir}" if data_dir else "",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
