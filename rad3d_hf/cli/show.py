"""``rad3d-hf show ID``: a PNG of a question's CT volume (axial, coronal, sagittal; earlier scans too) and its Q/A."""

from __future__ import annotations

import argparse
from typing import Any

from rad3d_hf.catalogue import CONFIGS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "show",
        help="draw a question's CT volume (and earlier scans) with the question and answer as a PNG",
        description=(
            "Find the question by id (e.g. test/task6/b/000012), draw axial, coronal and sagittal views of its volume "
            "and of the patient's earlier scans at the aspect of the voxel spacing, with the question, choices and "
            "answer, and write a PNG."
        ),
    )
    parser.add_argument(
        "id", help="question id: <split>/task<N>/<subtask slug>/<row>, e.g. test/task4/lung_nodule/000123"
    )
    parser.add_argument("--data-dir", default=None, help="folder or URL of the QA tables (default: the Hub dataset)")
    parser.add_argument("--volumes-dir", default=None, help="folder or URL holding the CT volumes")
    parser.add_argument("--demo", action="store_true", help="use the built-in synthetic demo data")
    parser.add_argument("--no-priors", action="store_true", help="draw only the question's own volume")
    parser.add_argument("--cache-dir", default=None, help="datasets cache folder (default: datasets' own)")
    parser.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    parser.set_defaults(func=run)
    return parser


def config_of(question_id: str) -> tuple[str, str]:
    """(config name, split) holding a question id; ValueError naming the id if it does not fit."""
    parts = question_id.split("/")
    if len(parts) != 4 or parts[0] not in ("train", "test"):
        raise ValueError(f"question id {question_id!r} does not look like '<split>/task<N>/<subtask>/<row>'")
    config = f"{parts[1]}_{parts[2]}"
    if config not in CONFIGS:
        raise ValueError(f"question id {question_id!r}: no subtask config {config!r} in the catalogue")
    return config, parts[0]


def find_row(
    question_id: str,
    *,
    data_dir: str | None,
    volumes_dir: str | None,
    demo: bool,
    priors: bool = True,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """The dataset row of ``question_id`` with its volume (and earlier volumes)."""
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)

    config, split = config_of(question_id)
    if volumes_dir is None and not demo:
        raise ValueError("show needs the volumes: pass --volumes-dir (or --demo)")
    dataset = load_dataset(
        "3d-rad", config, split=split, data_dir=data_dir, volumes_dir=volumes_dir, demo=demo, prior_volumes=priors,
        cache_dir=cache_dir,
    )  # fmt: skip
    ids = dataset["id"]
    if question_id not in ids:
        raise KeyError(f"question {question_id!r} is not in config {config!r}, split {split!r} ({len(ids)} questions)")
    return dataset[ids.index(question_id)]


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.volumes.figure import render_question_figure

    row = find_row(
        args.id, data_dir=args.data_dir, volumes_dir=args.volumes_dir, demo=args.demo, priors=not args.no_priors,
        cache_dir=args.cache_dir,
    )  # fmt: skip
    print(render_question_figure(row, args.out))
    return 0
