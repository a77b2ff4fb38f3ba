"""``rad3d-hf lmms-eval-path`` and ``rad3d-hf lmms-eval-predictions``: the lmms-eval plugin's two helpers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    path = subparsers.add_parser(
        "lmms-eval-path",
        help="print the folder of the 3drad lmms-eval tasks (for lmms-eval --include_path)",
        description="Print the folder holding the 3drad lmms-eval task YAMLs: "
        "lmms-eval --include_path $(rad3d-hf lmms-eval-path) --tasks 3drad_task4 ...",
    )
    path.set_defaults(func=run_path)
    convert = subparsers.add_parser(
        "lmms-eval-predictions",
        help="turn lmms-eval --log_samples output into a predictions file for rad3d-hf score",
        description="Read lmms-eval samples_<task>.jsonl files (one file, or every one below an --output_path "
        "folder) and write their answers as a predictions file (id + prediction per line).",
    )
    convert.add_argument("samples", type=Path, help="a samples_*.jsonl file or lmms-eval's --output_path folder")
    convert.add_argument("--out", type=Path, required=True, help="the predictions file to write (.jsonl)")
    convert.set_defaults(func=run_predictions)


def run_path(args: argparse.Namespace) -> int:
    from rad3d_hf.integrations.lmms_eval import tasks_path

    print(tasks_path())
    return 0


def run_predictions(args: argparse.Namespace) -> int:
    from rad3d_hf.integrations.lmms_eval.samples import convert_samples
    from rad3d_hf.scoring.predictions import PredictionsError

    if args.out.is_dir():
        print(f"rad3d-hf lmms-eval-predictions: --out {args.out} is a folder; name the .jsonl file", file=sys.stderr)
        return 2
    try:
        count = convert_samples(args.samples, args.out)
    except (PredictionsError, OSError) as error:
        print(f"rad3d-hf lmms-eval-predictions: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} predictions to {args.out}")
    return 0
