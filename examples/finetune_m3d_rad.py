"""Fine-tune M3D-RAD on 3D-RAD with the transformers Trainer, then answer the test split and score it.

Presets:
  tiny       a random ~0.45M-parameter model (1x16x64x64 input) on the built-in demo data, CPU, in two stages:
             stage 1 (``--vision-pretrain-steps``) trains the vision tower alone on the train split's Task 4 labels,
             then the Trainer fine-tunes the rest on the questions with the vision tower frozen
             (``--freeze-vision-tower``) and each volume's features computed once (``--cache-patch-features``).
             About 8 minutes on 2 cores (model_cards/m3d-rad-tiny.md states the measured time and scores).
  phi3-4b    M3D-RAD's recipe from M3D-LaMed-Phi-3-4B (LoRA r16/alpha 32 on the language model, the rest trained
             fully, lr 5e-5, batch 8 per device, cosine, warmup 0.03, bf16, max length 512, 5 epochs, seed 42).
  llama2-7b  the same from M3D-LaMed-Llama-2-7B, 4 epochs.
  tiny-temporal     tiny reading up to 2 earlier scans too, on Tasks 5 and 6; compared with tiny (``--compare_single``).
  phi3-4b-temporal  phi3-4b reading up to 6 earlier scans (64 tokens each), max length 1024; ``--init_from`` a released
                    single-scan checkpoint starts it as that model (its time-position embedding starts at zero).

    python examples/finetune_m3d_rad.py --preset tiny
    accelerate launch --num_processes 8 examples/finetune_m3d_rad.py --preset phi3-4b \\
        --init-from checkpoints/M3D-LaMed-Phi-3-4B --data-dir path/to/3D-RAD --volumes-dir path/to/CT-RATE \\
        --output-dir runs/m3d-rad-phi3
    torchrun --nproc_per_node 8 examples/finetune_m3d_rad.py ...   (the same arguments)

Options are spelled with dashes, as in the ``rad3d-hf`` commands; the transformers spelling with underscores
(``--output_dir``) is accepted too. Any TrainingArguments flag overrides the preset (``--num-train-epochs 1``,
``--max-steps 100``...). ``--streaming`` reads the tables and volumes as a stream (needs ``--max-steps``); several
processes then each read their own source files. Every ``--eval-steps`` the model answers ``--max-eval-samples``
test questions and the 3D-RAD scoring is logged; answering goes one volume at a time (decoded once, vision tower
once, all its questions), each process a share of the volumes. With ``--do-predict`` (default for tiny) the test split is answered
at the end twice, with its volumes and with every volume blanked, into ``<output-dir>/predictions.jsonl`` and
``predictions_blanked.jsonl``; the first is scored into ``scores.json`` and the folder ``scores/`` (report, per-question
log, table, figure), and a table compares both runs with the blind answers. The default ``--output-dir`` is
``$HF_HOME/rad3d_hf/runs/m3d-rad-<preset>`` (outside the clone).

Train on a ``rad3d-hf preprocess`` folder with ``--volumes-dir ct-m3d/ --volume-format npy`` (each volume decoded
once, ever). The phi3-4b / llama2-7b presets apply M3D's MONAI augmentations (``rad3d_hf.transforms.M3DAugment``) to
the training images in the DataLoader workers, seeded per (seed, epoch, question id); ``--augment false`` turns
them off, ``--augment true`` on for tiny.

Temporal presets load each question's earlier volumes (``--prior-volumes``), preprocessed like the current one (each
file once per process). Task 5 questions get them; Task 6 ones as ``--history`` says: ``text`` the published question
(label list) only, ``images`` the earlier scans with the label list left out, ``both`` (default) the two. With
``--compare-single`` the temporal and the single-scan model train with the same seed and budget into
``<output-dir>/temporal`` and ``/single``; their Task 5/6 accuracy, macro-F1 and per-class recall are printed beside
the blind baselines', and ``<output-dir>/comparison.json`` holds ``{"single": report, "temporal": report}``
(``rad3d_hf.scoring.temporal_runs``). ``--temporal-facts`` makes Task 5/6 targets state their two facts first
(``Earlier scans: Yes. Current scan: No. B. ...``) and ``--scan-pairs N`` adds N Task 5 questions made from pairs of
Task 4 scans (``rad3d_hf.models.m3d_rad.scan_pairs``); both are on for tiny-temporal, for both of its models.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

# The script's two companions sit beside it; loaded by path (as the tests do), their folder is not on sys.path.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from m3d_rad_arguments import DataArguments, ModelArguments, parse_args, preset_defaults
from m3d_rad_evaluation import QA_COLUMNS, BlankVolume, answer_and_compare, make_answer_metrics

__all__ = ["BlankVolume", "DataArguments", "ModelArguments", "main", "parse_args", "preset_defaults", "run"]

logger = logging.getLogger("finetune_m3d_rad")


def load_split(data_args: DataArguments, split: str, *, streaming: bool, with_volumes: bool = True):
    from datasets import concatenate_datasets, load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)

    kwargs = dict(split=split, streaming=streaming, demo=data_args.demo, volume_format=data_args.volume_format)
    if data_args.data_dir is not None:
        kwargs["data_dir"] = data_args.data_dir
    if data_args.volumes_dir is not None and with_volumes:
        kwargs["volumes_dir"] = data_args.volumes_dir
    if data_args.prior_volumes and with_volumes:
        kwargs["prior_volumes"] = True
    configs = [c.strip() for c in data_args.dataset_config.split(",") if c.strip()]
    parts = [load_dataset("3d-rad", config, **kwargs) for config in configs]
    dataset = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    if not with_volumes:
        dropped = [c for c in ("volume", "prior_volumes") if c in (dataset.column_names or [])]
        dataset = dataset.remove_columns(dropped) if dropped else dataset
    return dataset


def first_rows(dataset, n: int | None) -> list[dict]:
    """The first ``n`` rows (all when None) as dicts, in order; volumes stay lazy."""
    if n is None:
        return list(dataset)
    if hasattr(dataset, "select"):
        return list(dataset.select(range(min(n, len(dataset)))))
    return list(dataset.take(n))


def build_model(
    model_args: ModelArguments, data_args: DataArguments, seed: int, max_length: int, preset: str | None = None
):
    """``(model, processor)`` of ``preset`` (default ``model_args.preset``); temporal presets read earlier scans."""
    from rad3d_hf.models.m3d_rad.presets import (
        TEMPORAL,
        base_preset,
        build_tiny,
        released_config,
        temporal_kwargs,
        tokenizer_corpus,
    )

    preset = preset or model_args.preset
    temporal = temporal_kwargs(preset)
    history = data_args.history if preset in TEMPORAL else "text"
    facts = bool(model_args.temporal_facts)
    if model_args.init_from is not None:
        from rad3d_hf.models.m3d_rad import M3DRadProcessor
        from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
        from rad3d_hf.models.m3d_rad.temporal import add_prior_volumes

        model, processor = load_model_and_processor(model_args.init_from, max_length=max_length)
        # a model trained here reads its image features on the <im_patch> tokens, whatever the tokenizer's BOS; a
        # released checkpoint loads with M3D's positions 1..N (its config's image_placement, recorded when saved)
        model.config.image_placement = "image_tokens"
        if temporal and model.config.max_prior_volumes == 0:
            model = add_prior_volumes(model, **temporal)  # a single-scan checkpoint starts the temporal model
        length = max(max_length, processor.max_length)
        return model, M3DRadProcessor.for_config(
            processor.tokenizer, model.config, max_length=length, history=history, temporal_facts=facts
        )
    texts = tokenizer_corpus(
        load_split(data_args, data_args.train_split, streaming=False, with_volumes=False).select_columns(QA_COLUMNS)
    )
    # A temporal run's tokenizers (also its single-scan comparison's) know the scan markers: one tokenizer for both.
    texts += ["Earlier scan 1: Earlier scan 2: Current scan:"] * 8 if model_args.preset in TEMPORAL else []
    if base_preset(preset) == "tiny":
        return build_tiny(texts, seed=seed, max_length=max_length, history=history, temporal_facts=facts, **temporal)
    if not model_args.random_init:
        released = "Phi-3-4B" if base_preset(preset) == "phi3-4b" else "Llama-2-7B"
        raise SystemExit(
            f"--preset {preset} fine-tunes released weights: pass --init-from <local folder>, e.g. after "
            f"`hf download GoodBaiBai88/M3D-LaMed-{released} --local-dir checkpoints/M3D-LaMed-{released}`"
            f", or --random-init for an architecture check"
        )
    import torch

    from rad3d_hf.models.m3d_rad import M3DRadForCausalLM, M3DRadProcessor
    from rad3d_hf.models.m3d_rad.tokenization_m3d_rad import IMAGE_TOKEN, train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(texts, vocab_size=2000)
    config = released_config(preset, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), **temporal)
    torch.manual_seed(seed)
    model = M3DRadForCausalLM(config)
    return model, M3DRadProcessor.for_config(
        tokenizer, config, max_length=max_length, history=history, temporal_facts=facts
    )


def main(argv: list[str] | None = None) -> int:
    import torch

    model_args, data_args, training_args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO if training_args.process_index == 0 else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    from rad3d_hf.models.m3d_rad.presets import base_preset

    if base_preset(model_args.preset) == "tiny":
        torch.set_num_threads(1)  # tiny ops: a second thread only waits on the first, badly so on a busy machine
    if not model_args.compare_single:
        run(model_args.preset, model_args, data_args, training_args, Path(training_args.output_dir))
    else:
        compare(model_args, data_args, training_args)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return 0


def compare(model_args: ModelArguments, data_args: DataArguments, training_args) -> dict:
    """Train and score the temporal preset and its single-scan base with the same seed and budget; compare them."""
    import copy
    from dataclasses import replace

    from rad3d_hf.models.m3d_rad.presets import base_preset
    from rad3d_hf.scoring.temporal_runs import compare_temporal_runs

    single = replace(data_args, prior_volumes=False, history="text")
    shared: dict = {}  # the single-scan model starts as the temporal one: the same stage 1, trained once

    def train_and_score(name: str, output_dir: Path):
        if name == "temporal":  # trained first, on a copy: the single-scan run gets the arguments as they came
            return run(model_args.preset, model_args, data_args, copy.deepcopy(training_args), output_dir, shared)
        return run(base_preset(model_args.preset), model_args, single, training_args, output_dir, shared)

    def test_rows() -> list[dict]:
        test = load_split(data_args, data_args.test_split, streaming=False, with_volumes=False)
        return [{k: r[k] for k in QA_COLUMNS} for r in first_rows(test, data_args.max_predict_samples)]

    root, split, seed = Path(training_args.output_dir), data_args.test_split, training_args.seed
    return compare_temporal_runs(train_and_score, test_rows, root, split=split, seed=seed)


def run(
    preset: str,
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args,
    output_dir: Path,
    shared: dict | None = None,
):
    """Fine-tune ``preset``, save it, then (``--do_predict``) answer and score the test split: the report or None.

    ``shared`` (a dict kept across runs of one process) lets a second run reuse the first one's stage 1.
    """
    from transformers import set_seed

    from rad3d_hf import M3DTransform
    from rad3d_hf.models.m3d_rad import M3DRadCollator
    from rad3d_hf.models.m3d_rad.inference import PredictionCollator
    from rad3d_hf.models.m3d_rad.lora import apply_lora
    from rad3d_hf.models.m3d_rad.presets import RECIPES, base_preset
    from rad3d_hf.models.m3d_rad.trainer import AugmentationEpoch, M3DRadTrainer
    from rad3d_hf.transforms import M3DAugment
    from rad3d_hf.transforms.memo import MemoizedTransform

    training_args.output_dir = str(output_dir)
    set_seed(training_args.seed)
    recipe = RECIPES[preset]
    model, processor = build_model(model_args, data_args, training_args.seed, recipe.max_length, preset)
    if training_args.gradient_checkpointing:
        training_args.gradient_checkpointing_kwargs = {"use_reentrant": False}
    image_size = tuple(model.config.vision_config.image_size)
    transform = M3DTransform(size=image_size)
    if base_preset(preset) == "tiny":
        # A demo volume is a current scan and an earlier one of many questions: preprocess each file once.
        transform = MemoizedTransform(transform, max_items=1024)
    train = load_split(data_args, data_args.train_split, streaming=data_args.streaming)
    if "volume" not in (train.column_names or []):
        raise SystemExit("the rows have no CT volumes: pass --volumes-dir DIR (or --demo true)")
    if data_args.scan_pairs:
        train = with_scan_pairs(train, data_args, training_args.seed)
    if model_args.vision_pretrain_steps:
        stage1 = vision_stage(model, data_args, transform, model_args.vision_pretrain_steps, training_args.seed, shared)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "vision_pretraining.json").write_text(json.dumps(stage1.to_dict(), indent=2) + "\n")
        logger.info("stage 1: vision tower trained on %d volumes' labels, loss %.4f", stage1.volumes, stage1.losses[-1])
    if model_args.freeze_vision_tower:
        model.vision_tower.requires_grad_(False)
    if model_args.cache_patch_features:
        model.cache_patch_features(max_items=4096)
    if model_args.lora:
        model = apply_lora(
            model,
            r=recipe.lora_r,
            alpha=recipe.lora_alpha,
            dropout=recipe.lora_dropout,
            freeze_vision_tower=model_args.freeze_vision_tower,
        )
    # M3D's augmentations run in the DataLoader workers on the preprocessed image, seeded per (seed, epoch, id).
    augment = M3DAugment(seed=training_args.seed) if model_args.augment else None
    train_collator = M3DRadCollator(processor, image_transform=transform, augment=augment)
    predict_collator = PredictionCollator(processor, image_transform=transform)
    if data_args.streaming:
        if training_args.max_steps <= 0:
            raise SystemExit("--streaming needs --max-steps N (a stream has no length to count epochs by)")
        # Each process reads its own source files instead of the main process dispatching batches.
        training_args.accelerator_config.dispatch_batches = False
        train = train.shuffle(seed=training_args.seed, buffer_size=data_args.shuffle_buffer)
        if data_args.max_train_samples is not None:
            train = train.take(data_args.max_train_samples)
    elif data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    test = load_split(data_args, data_args.test_split, streaming=False)
    eval_set = test.shuffle(seed=training_args.seed).select(range(min(data_args.max_eval_samples, len(test))))
    eval_rows = first_rows(eval_set, None)
    if training_args.train_sampling_strategy == "group_by_length" and not data_args.streaming:
        train = with_lengths(train, processor, training_args.length_column_name)
        eval_set = with_lengths(eval_set, processor, training_args.length_column_name)

    trainer = M3DRadTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=eval_set if training_args.eval_strategy != "no" else None,
        data_collator=train_collator,
        processing_class=processor.tokenizer,
        generation_rows=eval_rows if training_args.eval_strategy != "no" else (),
        generation_collator=predict_collator,
        answer_metrics=make_answer_metrics(n_resamples=0),
        max_new_tokens=model_args.max_new_tokens,
        callbacks=[AugmentationEpoch(augment)] if augment is not None else None,
    )
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.log_metrics("train", result.metrics)
        trainer.save_state()  # trainer_state.json: the loss curve and evaluation history
        final = model.merge_and_unload() if model_args.lora else model
        trainer.model = final
        if trainer.is_world_process_zero():
            final.save_pretrained(output_dir / "final")
            processor.save_pretrained(output_dir / "final")
            logger.info("saved the fine-tuned model and processor to %s", output_dir / "final")

    report = None
    if training_args.do_predict:
        test_rows = first_rows(test, data_args.max_predict_samples)
        report = answer_and_compare(trainer, test_rows, output_dir, processor, image_size, seed=training_args.seed)
    return report


def vision_stage(model, data_args: DataArguments, transform, steps: int, seed: int, shared: dict | None):
    """Stage 1 on all of the train split's Task 4 labels, whichever questions the model is then fine-tuned on.

    A second model with the same initial vision weights and config, data, steps and seed (the single-scan model of
    ``--compare_single``) would train to the same weights, so it gets a copy of the first one's from ``shared``.
    """
    import hashlib
    from dataclasses import replace

    from rad3d_hf.models.m3d_rad.vision_pretraining import pretrain_vision_on_split

    parts = {"vision_tower": model.vision_tower, "mm_projector": model.mm_projector}
    # everything stage 1 depends on: its settings, the labelled volumes' source, the vision config and initial weights
    source = (steps, seed, data_args.data_dir, data_args.demo, data_args.volumes_dir, data_args.volume_format)
    digest = hashlib.blake2b(repr((*source, data_args.train_split)).encode(), digest_size=16)
    digest.update(model.config.vision_config.to_json_string().encode())
    for part in parts.values():
        for name, tensor in sorted(part.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    key = digest.hexdigest()
    if shared is not None and shared.get("key") == key:
        for name, part in parts.items():
            part.load_state_dict(shared["weights"][name])
        logger.info("stage 1: the same initial vision weights, steps and seed as the run before: its weights reused")
        return shared["record"]
    labelled = load_split(
        replace(data_args, dataset_config="task4", prior_volumes=False), data_args.train_split, streaming=False
    )
    record = pretrain_vision_on_split(model, labelled, transform, steps=steps, seed=seed)
    if shared is not None:
        weights = {n: {k: v.detach().clone() for k, v in p.state_dict().items()} for n, p in parts.items()}
        shared.update(key=key, weights=weights, record=record)
    return record


def with_scan_pairs(train, data_args: DataArguments, seed: int):
    """``train`` and ``--scan-pairs`` Task 5 questions made from pairs of the train split's Task 4 scans.

    Each pair row gets its two scans' volumes (the current one as ``volume``; the earlier one as ``prior_volumes``
    where ``train`` has that column), so both models of a comparison train on the same questions.
    """
    from dataclasses import replace

    from datasets import Dataset, Nifti, concatenate_datasets

    from rad3d_hf.models.m3d_rad.scan_pairs import scan_pair_rows

    scans = load_split(
        replace(data_args, dataset_config="task4", prior_volumes=False), data_args.train_split, streaming=False
    )
    if isinstance(scans.features["volume"], Nifti):  # the files, not decoded images (npy volumes are paths already)
        scans = scans.cast_column("volume", Nifti(decode=False))
    volume_of: dict[str, object] = {}  # NIfTI files ({"path", "bytes"}) or npy paths
    for name, volume in zip(scans["volume_name"], scans["volume"]):
        volume_of.setdefault(name, volume)
    questions = load_split(
        replace(data_args, dataset_config="task5"), data_args.train_split, streaming=False, with_volumes=False
    )
    pairs = scan_pair_rows(scans.remove_columns("volume"), questions, count=data_args.scan_pairs, seed=seed)
    for finding, why in sorted(pairs.skipped.items()):
        logger.info("scan pairs: %s left out (%s)", finding, why)
    columns = train.column_names
    rows = []
    for row in pairs.rows:
        row = {**row, "volume": volume_of[row["volume_name"]]}
        row["prior_volumes"] = [volume_of[name] for name in row["prior_volume_names"]]
        rows.append({c: row[c] for c in columns})
    logger.info(
        "added %d Task 5 questions made from pairs of %d Task 4 scans (seed %d) to %d questions",
        len(rows), len(volume_of), pairs.seed, len(train),
    )  # fmt: skip
    return concatenate_datasets([train, Dataset.from_list(rows, features=train.features)])


def with_lengths(dataset, processor, column: str):
    """``dataset`` with a ``column`` of token counts (prompt and target, one scan) for ``group_by_length``."""
    qa = dataset.select_columns([c for c in QA_COLUMNS if c in dataset.column_names])
    return dataset.add_column(column, [len(processor.encode(row, with_target=True)["input_ids"]) for row in qa])


if __name__ == "__main__":
    raise SystemExit(main())
