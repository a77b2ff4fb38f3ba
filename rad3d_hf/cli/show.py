"""``rad3d-hf show ID``: a PNG of a question's CT volume (axial, coronal, sagittal; earlier scans too) and its Q/A."""

from __future__ import annotations

import argparse
from typing import Any

from rad3d_hf.cli.sources import add_table_source, add_volumes_dir, checked_volumes_dir, table_source
from rad3d_hf.cli.usage import UsageError, close_matches, writable_file
from rad3d_hf.data.catalogue import CONFIGS, SPLITS

ID_FORM = "<split>/task<N>/<subtask>/<row>, e.g. test/task4/lung_nodule/000123"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "show",
        help="draw a question's CT volume (and earlier scans) with the question and answer as a PNG",
        description=(
            "Find the question by id (e.g. test/task6/b/000012) in its subtask's table of its split alone, draw "
            "axial, coronal and sagittal views of its volume and of the patient's earlier scans at the aspect of the "
            "voxel spacing, with the question, choices and answer, and write a PNG."
        ),
    )
    parser.add_argument("id", help=f"question id: {ID_FORM}")
    add_table_source(parser)
    add_volumes_dir(parser)
    parser.add_argument("--no-priors", action="store_true", help="draw only the question's own volume")
    # Kept so that old command lines still run: show reads one table directly and builds no dataset cache.
    parser.add_argument("--cache-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    parser.set_defaults(func=run)
    return parser


def config_of(question_id: str) -> tuple[str, str]:
    """(config name, split) holding a question id; ValueError naming the id if it does not fit."""
    parts = question_id.split("/")
    if len(parts) != 4 or parts[0] not in SPLITS:
        raise ValueError(f"question id {question_id!r} does not look like {ID_FORM}")
    config = f"{parts[1]}_{parts[2]}"
    if config not in CONFIGS:
        raise ValueError(
            f"question id {question_id!r}: no subtask config {config!r} in the catalogue"
            f"{close_matches(config, CONFIGS)}; `rad3d-hf tasks --configs` lists them"
        )
    return config, parts[0]


def find_row(
    question_id: str,
    *,
    data_dir: str | None,
    volumes_dir: str | None,
    demo: bool = False,
    priors: bool = True,
    demo_seed: int = 0,
    volume_format: str = "auto",
) -> dict[str, Any]:
    """The row of ``question_id`` with its ``volume`` (and ``prior_volumes``) as file paths (or archive members).

    Only the question's own table is read (one subtask, one split), and only its volumes are opened.
    """
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.volumes.locator import VolumeLocator

    config, split = config_of(question_id)
    if demo:
        from rad3d_hf.demo import VOLUMES_DIR, ensure_demo_data

        root = ensure_demo_data(seed=demo_seed)
        data_dir = data_dir or str(root)
        volumes_dir = volumes_dir or str(root / VOLUMES_DIR)
    if volumes_dir is None:
        raise UsageError("show needs the CT volumes: pass --volumes-dir DIR (or --demo)")
    rows = list(read_rows(data_dir, split, config))
    row = next((r for r in rows if r["id"] == question_id), None)
    if row is None:
        first, last = (rows[0]["id"].rsplit("/", 1)[1], rows[-1]["id"].rsplit("/", 1)[1]) if rows else ("-", "-")
        raise UsageError(
            f"question {question_id!r} is not in config {config!r}, split {split!r} ({len(rows)} questions, rows "
            f"{first}..{last}); check the id"
        )
    locator = VolumeLocator(volumes_dir, volume_format)
    try:
        locator.volume_format  # noqa: B018  (lists the folder: a folder without volumes is named here)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None

    def image(name: str) -> str:
        path = locator.locate(name)
        if path is None:
            raise UsageError(
                f"volume {name} of question {question_id} not found: looked for {locator.describe_search(name)}"
            )
        return path

    row["volume"] = image(row["volume_name"])
    row["prior_volumes"] = [image(name) for name in row["prior_volume_names"]] if priors else []
    return row


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.volumes.figure import render_question_figure

    try:
        config_of(args.id)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.volumes_dir is None and not args.demo:
        raise UsageError("show needs the CT volumes: pass --volumes-dir DIR (or --demo)")
    out = writable_file(args.out, "--out")
    volumes_dir = checked_volumes_dir(args.volumes_dir) if args.volumes_dir else None
    data_dir = table_source(args)
    row = find_row(
        args.id, data_dir=data_dir, volumes_dir=volumes_dir, demo=args.demo, priors=not args.no_priors,
        demo_seed=args.demo_seed, volume_format=args.volume_format,
    )  # fmt: skip
    print(render_question_figure(row, out))
    return 0
