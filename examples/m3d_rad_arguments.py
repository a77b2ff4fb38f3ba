"""The command line of ``finetune_m3d_rad.py``: its own arguments, each preset's defaults, and their checks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

# Task 5 questions made from Task 4 scan pairs that tiny-temporal adds (both of its models): twice its questions
TINY_TEMPORAL_SCAN_PAIRS = 1800


@dataclass
class ModelArguments:
    preset: str = field(
        default="tiny", metadata={"help": "tiny | phi3-4b | llama2-7b | tiny-temporal | phi3-4b-temporal"}
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "local folder: a released M3D-LaMed checkpoint, or a model saved by this script"},
    )
    random_init: bool = field(default=False, metadata={"help": "no weights (architecture/memory/speed checks)"})
    lora: bool | None = field(default=None, metadata={"help": "LoRA recipe (default: on, except for tiny)"})
    max_new_tokens: int | None = field(default=None, metadata={"help": "answer length limit (tiny 32, else 256)"})
    augment: bool | None = field(
        default=None,
        metadata={
            "help": "M3D's MONAI augmentations of the training images, seeded per sample (default: on, except tiny)"
        },
    )
    vision_pretrain_steps: int | None = field(
        default=None,
        metadata={
            "help": "stage 1: steps training the vision tower on the train split's Task 4 labels (tiny 1200, else and "
            "from a tiny --init_from 0)"
        },
    )
    freeze_vision_tower: bool | None = field(
        default=None,
        metadata={
            "help": "keep the vision tower fixed while fine-tuning (default: on after stage 1 or from a tiny --init_from)"
        },
    )
    cache_patch_features: bool | None = field(
        default=None,
        metadata={"help": "run each distinct volume through the frozen vision tower once (tiny: on when frozen)"},
    )
    temporal_facts: bool | None = field(
        default=None,
        metadata={
            "help": "Task 5/6 answers first state the two facts their category combines, 'Earlier scans: Yes. Current "
            "scan: No. B. ...' (default: on for tiny-temporal, both of its models)"
        },
    )
    compare_single: bool | None = field(
        default=None,
        metadata={"help": "also train the single-scan model with the same seed and budget and compare (tiny-temporal)"},
    )


@dataclass
class DataArguments:
    dataset_config: str = field(
        default="all", metadata={"help": "3d-rad config: all, task1..task6, a subtask, or a comma-separated list"}
    )
    scan_pairs: int | None = field(
        default=None,
        metadata={
            "help": "add N Task 5 questions made from pairs of the train split's Task 4 scans, the four courses "
            "equally often (rad3d_hf.models.m3d_rad.scan_pairs; default: 1800 for tiny-temporal, else 0)"
        },
    )
    prior_volumes: bool | None = field(
        default=None, metadata={"help": "load each question's earlier scans (default: on for the temporal presets)"}
    )
    history: str | None = field(
        default=None, metadata={"help": "what Task 6 sees of the past: text | images | both (temporal default: both)"}
    )
    demo: bool | None = field(default=None, metadata={"help": "use the built-in demo data (default: tiny only)"})
    data_dir: str | None = field(default=None, metadata={"help": "QA tables (default: the Hub dataset)"})
    volumes_dir: str | None = field(default=None, metadata={"help": "CT-RATE volumes, found by name"})
    volume_format: str = field(
        default="auto", metadata={"help": "auto (what --volumes_dir holds) | nifti | npy (M3D's preprocessed arrays)"}
    )
    streaming: bool = False
    shuffle_buffer: int = field(default=1000, metadata={"help": "streaming shuffle buffer"})
    train_split: str = "train"
    test_split: str = "test"
    max_train_samples: int | None = None
    max_eval_samples: int = field(default=64, metadata={"help": "test questions answered at each evaluation"})
    max_predict_samples: int | None = field(default=None, metadata={"help": "cap on --do_predict questions"})


def default_output_dir(preset: str) -> str:
    """``$HF_HOME/rad3d_hf/runs/m3d-rad-<preset>``: beside the demo data, outside the clone."""
    from rad3d_hf.demo import default_demo_root

    return str(default_demo_root().parents[1] / "runs" / f"m3d-rad-{preset}")


def preset_defaults(preset: str) -> dict:
    from rad3d_hf.models.m3d_rad.presets import RECIPES, base_preset

    recipe = RECIPES[preset]
    defaults = dict(
        output_dir=default_output_dir(preset),
        learning_rate=recipe.learning_rate,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        per_device_eval_batch_size=recipe.per_device_train_batch_size,
        num_train_epochs=recipe.num_train_epochs,
        warmup_steps=recipe.warmup_ratio,  # below 1: a fraction of the steps
        weight_decay=recipe.weight_decay,
        lr_scheduler_type=recipe.lr_scheduler_type,
        bf16=recipe.bf16,
        seed=recipe.seed,
        do_train=True,
        remove_unused_columns=False,
        report_to="none",
        logging_steps=10,
        save_strategy="epoch",
        save_total_limit=2,
        eval_strategy="epoch",
        # Every trainable parameter gets a gradient (tests check it), so DDP need not search for unused ones.
        ddp_find_unused_parameters=False,
        dataloader_num_workers=4,  # volumes decode in the workers: about 1 s per CT-RATE volume on one core
    )
    if base_preset(preset) == "tiny":
        # batches of like length: a batch of short Task 4 questions is not padded to the longest open answer
        defaults.update(do_predict=True, save_strategy="no", use_cpu=True, train_sampling_strategy="group_by_length")
        defaults.update(eval_strategy="no")  # the run ends by answering the whole test split anyway
        # one worker reads and collates on the second core (keeping its preprocessed volumes across epochs)
        defaults.update(dataloader_num_workers=1, dataloader_persistent_workers=True)
    if preset == "tiny-temporal":  # the comparison: trained and scored on the temporal tasks
        defaults.update(eval_strategy="no", logging_steps=25, dataset_config="task5,task6")
        # the 918 demo questions and 1,800 scan pairs: 4 epochs are 340 steps of 32, the budget of 12 epochs of
        # the questions alone
        defaults.update(num_train_epochs=4)
        # Mixed batches: grouped by length, a batch holds one kind of question (Task 6 with its label list, pairs with
        # one earlier scan, ...), and with the tiny preset's large step the model swings between them (model_cards/m3d-rad-tiny.md).
        defaults.update(train_sampling_strategy="random")
    return defaults


def parse_args(argv: list[str]):
    from transformers import HfArgumentParser, TrainingArguments

    from rad3d_hf.models.m3d_rad.presets import PRESET_NAMES, TEMPORAL, base_preset
    from rad3d_hf.models.m3d_rad.processing_m3d_rad import HISTORY_MODES

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default="tiny", choices=PRESET_NAMES)
    preset = pre.parse_known_args(argv)[0].preset
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**preset_defaults(preset))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    tiny = base_preset(model_args.preset) == "tiny"
    temporal = model_args.preset in TEMPORAL
    if data_args.demo is None:
        data_args.demo = tiny
    if model_args.lora is None:
        model_args.lora = not tiny
    if model_args.augment is None:
        model_args.augment = not tiny
    # A tiny checkpoint passed to --init_from (e.g. the quickstart's) has had its stage 1: its language model reads
    # that vision tower's features, so the tower stays as it is (frozen) instead of being trained again.
    tiny_checkpoint = tiny and model_args.init_from is not None
    if model_args.vision_pretrain_steps is None:
        model_args.vision_pretrain_steps = 1200 if tiny and not tiny_checkpoint else 0
    if model_args.freeze_vision_tower is None:
        model_args.freeze_vision_tower = model_args.vision_pretrain_steps > 0 or tiny_checkpoint
    if model_args.cache_patch_features is None:
        model_args.cache_patch_features = tiny and model_args.freeze_vision_tower and not model_args.augment
    if model_args.cache_patch_features and (model_args.augment or not model_args.freeze_vision_tower):
        raise SystemExit("--cache_patch_features needs --freeze_vision_tower true and --augment false")
    if model_args.vision_pretrain_steps and data_args.streaming:
        raise SystemExit(
            "stage 1 reads every Task 4 volume of the train split: with --streaming pass --vision_pretrain_steps 0"
        )
    if model_args.max_new_tokens is None:
        model_args.max_new_tokens = 32 if tiny else 256
    if data_args.prior_volumes is None:
        data_args.prior_volumes = temporal
    if data_args.history is None:
        data_args.history = "both" if temporal else "text"
    if model_args.compare_single is None:
        model_args.compare_single = model_args.preset == "tiny-temporal"
    if model_args.temporal_facts is None:
        model_args.temporal_facts = model_args.preset == "tiny-temporal"
    if data_args.scan_pairs is None:
        data_args.scan_pairs = TINY_TEMPORAL_SCAN_PAIRS if model_args.preset == "tiny-temporal" else 0
    if data_args.scan_pairs < 0:
        raise SystemExit(f"--scan_pairs must be 0 or more, got {data_args.scan_pairs}")
    if data_args.scan_pairs and data_args.streaming:
        raise SystemExit("--scan_pairs reads every Task 4 row of the train split: not with --streaming")
    if data_args.history not in HISTORY_MODES:
        raise SystemExit(f"--history must be one of {', '.join(HISTORY_MODES)}, got {data_args.history!r}")
    if temporal and not data_args.prior_volumes:
        raise SystemExit(f"--preset {model_args.preset} reads earlier scans: do not pass --prior_volumes false")
    if not temporal and (data_args.prior_volumes or data_args.history != "text"):
        raise SystemExit("--prior_volumes and --history images|both need a temporal preset (tiny-temporal, ...)")
    if model_args.compare_single and not temporal:
        raise SystemExit("--compare_single compares a temporal preset with its single-scan base")
    return model_args, data_args, training_args
