"""What ``rad3d-hf score`` and ``rad3d-hf compare`` share: which questions a predictions file answers, how it is read,
and how the bootstrap draws.

Both commands take the same ``--split``, table source and ``--config`` options, the same ``--seed``, ``--resamples``
and ``--cluster-by``, and check their predictions files and read the expected rows the same way, so one spelling
and one message hold for both.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rad3d_hf.cli.sources import add_table_source, config_names, non_negative_int
from rad3d_hf.cli.usage import UsageError, one_line


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
    from rad3d_hf.qa_tables import read_rows
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


__all__ = ["add_bootstrap_options", "add_question_options", "check_predictions_file", "expected_rows"]
