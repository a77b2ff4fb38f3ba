"""What ``rad3d-hf score`` and ``rad3d-hf compare`` share: their command line, which questions a predictions file
answers, how it is read, and how the bootstrap draws.

Both commands take predictions files, the same ``--split``, table source, ``--config`` and ``--out`` options, the same
``--seed``, ``--resamples`` and ``--cluster-by``, ``--no-figure`` and ``--quiet``, and check and join their
predictions files the same way, so one spelling and one message hold for both (:func:`add_scored_parser`,
:func:`read_scored_inputs`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rad3d_hf.cli.sources import add_table_source, config_names, non_negative_int, table_source
from rad3d_hf.cli.usage import UsageError, help_text, one_line, writable_folder

if TYPE_CHECKING:
    from rad3d_hf.scoring.predictions import JoinedPredictions

AddOptions = Callable[[argparse.ArgumentParser], None]


def _no_options(parser: argparse.ArgumentParser) -> None:
    """The default of :func:`add_scored_parser`'s command-specific options: none."""


def add_scored_parser(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    doc: str | None,
    summary: str,
    inputs: Mapping[str, str],
    config_help: str,
    out_help: str,
    bootstrap: str,
    cluster_help: str,
    figure_file: str,
    run: Callable[[argparse.Namespace], int],
    selection_options: AddOptions = _no_options,
    metric_options: AddOptions = _no_options,
) -> argparse.ArgumentParser:
    """The ``name`` subcommand with the options every scoring command takes, in one order.

    ``inputs`` maps each positional predictions file to its help; ``selection_options`` adds the command's own options
    after ``--out``, ``metric_options`` its own after the bootstrap's (before ``--no-figure``/``--quiet``).
    """
    parser = subparsers.add_parser(
        name, help=summary, description=help_text(doc), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for input_name, input_help in inputs.items():
        parser.add_argument(input_name, type=Path, help=input_help)
    add_question_options(parser, config_help=config_help)
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default: {out_help})")
    selection_options(parser)
    add_bootstrap_options(parser, what=bootstrap, cluster_help=cluster_help)
    metric_options(parser)
    parser.add_argument("--no-figure", action="store_true", help=f"do not draw {figure_file}")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.set_defaults(func=run)
    return parser


def add_question_options(parser: argparse.ArgumentParser, *, config_help: str) -> None:
    """``--split``, ``--data-dir``/``--demo``/``--demo-seed`` and ``--config``."""
    parser.add_argument(
        "--split", default="test", choices=("train", "test"), help="split the ids belong to (default: test)"
    )
    add_table_source(parser)
    parser.add_argument("--config", default=["all"], type=config_names, help=f"{config_help} (default: all)")


def add_bootstrap_options(parser: argparse.ArgumentParser, *, what: str, cluster_help: str) -> None:
    """``--seed``, ``--resamples`` and ``--cluster-by`` of the (paired) patient bootstrap."""
    from rad3d_hf.scoring.statistics import CLUSTER_BY, DEFAULT_CLUSTER_BY, DEFAULT_RESAMPLES, DEFAULT_SEED

    parser.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"bootstrap seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--resamples",
        type=non_negative_int,
        default=DEFAULT_RESAMPLES,
        help=f"{what} resamples (default: {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--cluster-by",
        choices=CLUSTER_BY,
        default=DEFAULT_CLUSTER_BY,
        help=f"{cluster_help} (default: {DEFAULT_CLUSTER_BY})",
    )


def read_scored_inputs(
    args: argparse.Namespace, paths: Sequence[Path], default_out: Path, *, allow_subset: bool
) -> tuple[Path, list[JoinedPredictions]]:
    """The checked ``--out`` folder and each predictions file joined to the expected questions.

    Every path is checked and ``--out`` tried before any reading, so a wrong argument costs no scoring; the first
    file must hold predictions.
    """
    from rad3d_hf.scoring.predictions import join_predictions, read_predictions

    for path in paths:
        check_predictions_file(path)
    out = args.out or default_out
    writable_folder(out, "--out")
    data_dir = table_source(args)
    predictions = [read_predictions(path) for path in paths]
    rows = expected_rows(data_dir, args.split, args.config)
    joined = [
        join_predictions(found, rows, allow_subset=allow_subset, source=str(path))
        for found, path in zip(predictions, paths)
    ]
    if not joined[0].rows:
        raise UsageError(f"{paths[0]} holds no predictions")
    return out, joined


def check_predictions_file(path: Path) -> None:
    """A predictions path must be a file: a folder or a missing path is a usage mistake."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder; pass the predictions file (.jsonl or .csv) inside it")
    if not path.is_file():
        raise UsageError(f"predictions file {path} not found")


def expected_rows(data_dir: str | None, split: str, configs: list[str]) -> list[dict[str, Any]]:
    """The rows of ``configs`` in ``split``, each question once (configs overlap: ``all`` holds ``task4``).

    A table that cannot be read is a usage mistake naming the source; a bad predictions file keeps its own error.
    """
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.scoring.predictions import PredictionsError

    rows: dict[str, dict[str, Any]] = {}
    try:
        for config in configs:
            for row in read_rows(data_dir, split, config):
                rows.setdefault(row["id"], row)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, PredictionsError):
            raise
        where = data_dir or "the Hub dataset Tang-xiaoxiao/3D-RAD"
        raise UsageError(f"cannot read the {split} QA tables from {where}: {one_line(error)}") from error
    return list(rows.values())


__all__ = [
    "add_bootstrap_options",
    "add_question_options",
    "add_scored_parser",
    "check_predictions_file",
    "expected_rows",
    "read_scored_inputs",
]
