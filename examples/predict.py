"""Answer a 3D-RAD split with a model: batched greedy generation -> predictions JSONL keyed by id.

    python examples/predict.py --model runs/m3d-rad-tiny/final --demo --output runs/m3d-rad-tiny/test.jsonl
    python examples/predict.py --model checkpoints/M3D-LaMed-Phi-3-4B --config task4 \\
        --data-dir path/to/3D-RAD --volumes-dir path/to/CT-RATE --output preds/task4.jsonl --dtype bfloat16
    rad3d-hf score preds/task4.jsonl --config task4 --data-dir path/to/3D-RAD

    accelerate launch --multi_gpu --num_processes 8 examples/predict.py --model ... --output preds/all.jsonl
    torchrun --nproc_per_node 8 examples/predict.py --model ... --output preds/all.jsonl

``--model`` is a folder saved by ``examples/finetune_m3d_rad.py`` (``final/``), a local copy of a released M3D-LaMed
checkpoint, or any transformers image-text-to-text model (Qwen2.5-VL, LLaVA-OneVision, Gemma 3 / MedGemma, ...):
that answers zero-shot from rendered axial slices (``--render``, ``--slices``, ``--size``, ``--montage``) through its
own chat template. What the answers depend on besides the weights (the volume format in use; the renderer settings,
with the preset ``auto`` chose) is written beside the output (``<output>.params.json``), and a resumed run with other
settings is refused.

The published ``Images/test.zip`` works as it comes: ``--volumes-dir Images/test.zip`` (``.npy`` arrays, found at
any depth; only the asked split is prepared).

The work is ordered by CT volume: each volume is decoded and preprocessed (or rendered) once, in ``--num-workers``
DataLoader workers; for M3D-RAD the vision tower and projector run once on it; all its questions are answered from
that (``--batch-size`` of them at a time), with the same answers as asking one question at a time.

Under ``accelerate launch`` or ``torchrun`` each process answers a share of the volumes (whole volumes, balanced by
question count) and appends to its own part, ``<output stem>.part-<rank>-of-<n>.jsonl``, after every volume; when
all are done the parts are merged into ``--output``: each id once, in the split's order, the same file a one-process
run writes. An interrupted run resumes where it stopped (rerun the same command, with any number of processes): ids
already in the output or in any part are skipped, and a last line cut off mid-write is dropped and redone.

A temporal model (``--preset tiny-temporal`` / ``phi3-4b-temporal`` runs) reads each question's earlier scans: they are
loaded from the dataset (``--prior-volumes``, on by default for such a model) and preprocessed like the current ones,
each file once per worker. ``--history text|images|both`` overrides what Task 6 sees of the past (default: what the
model was trained with).

``--compose-temporal`` (``--config task5`` or ``task6``) answers the temporal questions with a model that reads one scan
at a time: it asks the model whether the question's finding is on each scan of the question (one Task 4 style
question per scan and finding, answered as above into ``<output stem>.existence.jsonl``), then writes the category
those answers make to ``--output`` (``rad3d_hf.scoring.temporal_composition``; unreadable answers are never guessed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger("predict")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", required=True, help="local model folder (M3D-RAD, M3D-LaMed, or an image-text-to-text model)"
    )
    parser.add_argument(
        "--output", required=True, type=Path, help="predictions file (.jsonl), written when every process is done"
    )
    parser.add_argument("--config", default="all", help="3d-rad config (default: all)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--demo", action="store_true", help="the built-in demo data")
    parser.add_argument("--data-dir", default=None, help="QA tables (default: the Hub dataset)")
    parser.add_argument(
        "--volumes-dir", default=None, help="CT volumes, found by name: a folder, a .zip (Images/test.zip) or a URL"
    )
    parser.add_argument(
        "--volume-format",
        default="auto",
        choices=("auto", "nifti", "npy"),
        help="nifti, npy, or auto (default: the format --volumes-dir holds; recorded in <output>.params.json)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="questions of one volume generated together")
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding volumes")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="the 3D-RAD evaluation's limit is 256")
    parser.add_argument("--max-samples", type=int, default=None, help="answer only the first N questions")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK if available, else cpu")
    parser.add_argument(
        "--prior-volumes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load each question's earlier scans (default: when the model reads them)",
    )
    parser.add_argument("--history", default=None, choices=("text", "images", "both"), help="what Task 6 sees")
    parser.add_argument(
        "--compose-temporal",
        action="store_true",
        help="Tasks 5/6 from one existence question per scan (Task 4 style), composed into the category; "
        "the questions' answers go to <output stem>.existence.jsonl",
    )
    zero_shot = parser.add_argument_group("image-text-to-text models (zero-shot, from rendered slices)")
    zero_shot.add_argument(
        "--render",
        default="auto",
        help="SliceRenderer preset (default: auto, medgemma windows for HU, unit for [0, 1])",
    )
    zero_shot.add_argument("--slices", type=int, default=16, help="axial slices per volume (default 16, at most 85)")
    zero_shot.add_argument("--size", type=int, default=448, help="pixels per slice side (default 448)")
    zero_shot.add_argument("--montage", action="store_true", help="one montage image instead of N slices")
    zero_shot.add_argument("--system-prompt", default=None, help="a system turn before each question")
    args = parser.parse_args(argv)
    if args.compose_temporal:
        if args.config not in ("task5", "task6"):
            parser.error(f"--compose-temporal answers Task 5 or 6: pass --config task5 or task6, not {args.config}")
        if args.prior_volumes is not None or args.history is not None:
            parser.error("--compose-temporal loads the earlier scans itself and shows the model one scan at a time")
    return args


def load_rows(args: argparse.Namespace):
    """The split's rows with lazy volumes, the first ``--max-samples`` of them."""
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)

    # Only this split is prepared, so a volumes_dir holding its volumes alone (Images/test.zip) is enough.
    kwargs = dict(split=args.split, splits=(args.split,), demo=args.demo, volume_format=args.volume_format)
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
    return dataset


def build_answerer(args: argparse.Namespace, device):
    """The model family that answers one volume's questions (a ``rad3d_hf.prediction.VolumeAnswerer``)."""
    import torch

    import rad3d_hf
    from rad3d_hf.models.image_text import ImageTextAnswerer, is_image_text_folder

    if is_image_text_folder(args.model):
        answerer = ImageTextAnswerer.from_pretrained(
            args.model,
            dtype=getattr(torch, args.dtype),
            renderer=zero_shot_renderer(args),
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            system_prompt=args.system_prompt,
        )
        answerer.model.to(device)
        if {"model": str(args.model), **answerer.params()} != zero_shot_settings(args):
            raise RuntimeError("the recorded settings differ from the answerer's")
        return answerer
    from rad3d_hf.models.m3d_rad.inference import M3DRadAnswerer
    from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
    from rad3d_hf.transforms.memo import MemoizedTransform

    model, processor = load_model_and_processor(args.model, dtype=getattr(torch, args.dtype))
    model.to(device).eval()
    if args.history is not None:
        processor.history = args.history
    size = tuple(model.config.vision_config.image_size)
    transform = rad3d_hf.M3DTransform(size=size)
    # A scan is the current volume of its questions and an earlier one of later questions: preprocess it once.
    return M3DRadAnswerer(
        model,
        processor,
        image_transform=MemoizedTransform(transform, max_items=16) if args.prior_volumes else transform,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )


def settle_earlier_scans(args: argparse.Namespace) -> None:
    """``--prior-volumes`` defaults to whether the model reads earlier scans; asking a single-scan model is an error."""
    import json

    config = Path(args.model) / "config.json"
    reads = config.is_file() and int(json.loads(config.read_text()).get("max_prior_volumes") or 0) > 0
    if args.prior_volumes is None:
        args.prior_volumes = reads
    if (args.prior_volumes or args.history not in (None, "text")) and not reads:
        raise SystemExit(f"--prior-volumes / --history {args.history}: {args.model} reads no earlier scans")


def main(argv: list[str] | None = None) -> int:
    import torch

    import rad3d_hf
    from rad3d_hf.prediction.processes import leave, process_place

    args = parse_args(sys.argv[1:] if argv is None else argv)
    place = process_place()
    logging.basicConfig(
        level=logging.INFO if place.is_main else logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
    )
    if args.device is not None:
        device = torch.device(args.device)
    else:
        device = torch.device(f"cuda:{place.local_rank}" if torch.cuda.is_available() else "cpu")

    if args.compose_temporal:
        args.prior_volumes = True  # to find the earlier scans; the model is asked about one scan at a time
    else:
        settle_earlier_scans(args)
    dataset = load_rows(args)
    if place.is_main:
        record_settings(args.output, run_settings(args, dataset))
    if args.compose_temporal:
        compose_temporal(args, place, device, dataset)
    else:
        question_rows = dataset.remove_columns([c for c in ("volume", "prior_volumes") if c in dataset.column_names])
        table = dataset.select_columns(["id", "volume_name"]).to_dict()
        ids = [str(i) for i in table["id"]]
        answer_questions(args, place, device, ids, table["volume_name"], dataset, question_rows, args.output)
    if place.is_main:
        data_dir = rad3d_hf.ensure_demo_data() if args.demo else args.data_dir
        logger.info(
            "score it with: rad3d-hf score %s --split %s --config %s%s",
            args.output, args.split, args.config, f" --data-dir {data_dir}" if data_dir else "",
        )  # fmt: skip
    leave(place)
    return 0


def answer_questions(args, place, device, ids, volume_names, volume_rows, question_rows, output: Path) -> None:
    """Answer questions ``ids`` (with their volumes in ``volume_rows``) into ``output``: by volume, sharded over the
    processes, resumable; the main process merges the parts once every process is done."""
    from tqdm.auto import tqdm

    from rad3d_hf.prediction.parts import answered_ids, append_answers, merge_parts, part_path
    from rad3d_hf.prediction.processes import wait_for_all
    from rad3d_hf.prediction.volume_work import VolumeGroup, answer_by_volume, group_by_volume, shard_groups

    groups = group_by_volume(volume_names)
    mine = shard_groups(groups, place.rank, place.world_size)
    part = part_path(output, place.rank, place.world_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    done = answered_ids(output, own_part=part)
    todo = [VolumeGroup(g.volume_name, tuple(i for i in g.indices if ids[i] not in done)) for g in mine]
    todo = [g for g in todo if len(g)]
    questions = sum(len(g) for g in todo)
    logger.info(
        "%d questions over %d volumes, %d already answered; process %d of %d answers %d over %d volumes",
        len(ids), len(groups), len(done & set(ids)), place.rank, place.world_size, questions, len(todo),
    )  # fmt: skip
    if todo:
        answerer = build_answerer(args, device)
        bar = tqdm(total=questions, unit="q", desc=f"answering ({place.rank + 1}/{place.world_size})")
        with part.open("a", encoding="utf-8") as out, bar:
            work = answer_by_volume(answerer, volume_rows, question_rows, todo, num_workers=args.num_workers)
            for group, answers in work:
                append_answers(out, zip((ids[i] for i in group.indices), answers))
                bar.update(len(answers))
    wait_for_all(place)
    if place.is_main:
        written = merge_parts(output, ids)
        logger.info("wrote %d answers to %s", written, output)


def compose_temporal(args, place, device, dataset) -> None:
    """``--compose-temporal``: ask the model whether the question's finding is on each of its scans, one scan at a
    time, and write the categories those answers make (``rad3d_hf.scoring.temporal_composition``) to ``--output``."""
    from rad3d_hf.atomic_files import write_text_atomically
    from rad3d_hf.prediction.parts import prediction_line, read_predictions_file
    from rad3d_hf.scoring.temporal_composition import compose_answers, existence_questions

    rows, volumes = [], {}
    for row in dataset:  # one pass: the rows without their volumes, and each scan's (lazy) volume by name
        if len(row["prior_volumes"]) != len(row["prior_volume_names"]):  # a skipped one would shift the names
            raise SystemExit(f"--compose-temporal: row {row['id']}: not every earlier scan's volume was found")
        volumes.setdefault(row["volume_name"], row["volume"])
        for name, volume in zip(row["prior_volume_names"], row["prior_volumes"]):
            volumes.setdefault(name, volume)
        rows.append({k: v for k, v in row.items() if k not in ("volume", "prior_volumes")})
    try:
        questions = existence_questions(rows)
    except ValueError as error:
        raise SystemExit(f"--compose-temporal: {error}") from None
    volume_rows = [{**q, "volume": volumes[q["volume_name"]]} for q in questions]
    existence_file = args.output.with_name(args.output.stem + ".existence.jsonl")
    ids = [q["id"] for q in questions]
    answer_questions(args, place, device, ids, [q["volume_name"] for q in questions], volume_rows, questions,
                     existence_file)  # fmt: skip
    if not place.is_main:
        return
    composition = compose_answers(rows, read_predictions_file(existence_file))
    lines = (prediction_line(str(r["id"]), answer) for r, answer in zip(rows, composition.answers))
    write_text_atomically(args.output, "".join(lines))
    unread = composition.unread
    logger.info(
        "composed %d answers from %d existence questions into %s; %d unread%s",
        len(rows), len(questions), args.output, len(unread), f" (first: {next(iter(unread.items()))})" if unread else "",
    )  # fmt: skip


def zero_shot_renderer(args: argparse.Namespace):
    """The SliceRenderer the zero-shot options describe (one per run: with ``auto`` it keeps its choice)."""
    import rad3d_hf

    if getattr(args, "renderer", None) is None:
        args.renderer = rad3d_hf.SliceRenderer(
            args.render, num_slices=args.slices, size=args.size, montage=args.montage
        )
    return args.renderer


def run_settings(args: argparse.Namespace, dataset) -> dict:
    """What the answers depend on besides the weights: the volume format in use, and a zero-shot run's settings
    (the ``auto`` render preset settles on the first volume, so the file says what it drew)."""
    import datasets

    from rad3d_hf.models.image_text import is_image_text_folder

    volume_format = "nifti" if isinstance(dataset.features["volume"], datasets.Nifti) else "npy"
    if not is_image_text_folder(args.model):
        import json

        from rad3d_hf.transforms import M3D_SIZE, M3DTransform

        config = Path(args.model) / "config.json"
        vision = (json.loads(config.read_text()).get("vision_config") or {}) if config.is_file() else {}
        transform = M3DTransform(size=tuple(vision.get("image_size") or M3D_SIZE))
        return {"model": str(args.model), "volume_format": volume_format, "max_new_tokens": args.max_new_tokens,
                **transform.params()}  # fmt: skip
    renderer = zero_shot_renderer(args)
    if len(dataset):
        renderer.settle(dataset[0]["volume"])
    return {**zero_shot_settings(args), "volume_format": volume_format}


def zero_shot_settings(args: argparse.Namespace) -> dict:
    """What a zero-shot run's answers depend on besides the weights (written to ``<output>.params.json``)."""
    return {
        "model": str(args.model),
        **zero_shot_renderer(args).params(),
        "max_new_tokens": args.max_new_tokens,
        "system_prompt": args.system_prompt,
    }


def record_settings(output: Path, settings: dict) -> None:
    """Write ``<output>.params.json``; a run resumed with other settings is refused (its answers would mix)."""
    import json

    settings = json.loads(json.dumps(settings))  # as it reads back: tuples become lists
    path = output.with_name(output.name + ".params.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and json.loads(path.read_text()) != settings:
        raise SystemExit(f"{output} was written with other settings ({path}); use another --output")
    path.write_text(json.dumps(settings, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
