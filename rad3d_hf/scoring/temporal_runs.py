"""A temporal model against its single-scan base: both trained and scored alike, then compared on Tasks 5 and 6.

:func:`compare_temporal_runs` runs the two (the caller's ``train_and_score`` trains, answers and scores one; scoring
knows no model), prints their Task 5/6 numbers beside the blind baselines'
(:func:`~rad3d_hf.scoring.temporal_comparison.temporal_table`) and writes ``comparison.json``:
``{"single": report, "temporal": report}``. ``finetune_m3d_rad.py --compare-single`` is its user.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# In this order: the single-scan model may start from what the temporal run trained first (its stage 1).
RUN_NAMES: tuple[str, ...] = ("temporal", "single")
COMPARISON_FILE = "comparison.json"
BLIND_RULES: tuple[str, ...] = ("majority", "history")

Report = Mapping[str, Any]


def compare_temporal_runs(
    train_and_score: Callable[[str, Path], Report | None],
    test_rows: Callable[[], Sequence[Mapping[str, Any]]],
    root: Path,
    *,
    split: str,
    seed: int,
) -> dict[str, Report]:
    """Run ``train_and_score(name, root / name)`` for each of :data:`RUN_NAMES`, then compare the two reports.

    ``train_and_score`` returns the run's score report, or None where it answered no test questions (none asked for,
    or a process other than the main one): then nothing is compared and ``{}`` is returned. ``test_rows`` gives the
    questions the reports were scored on (read only when both reports are there).
    """
    reports = {name: train_and_score(name, root / name) for name in RUN_NAMES}
    scored = {name: report for name, report in reports.items() if report is not None}
    if len(scored) < len(reports):
        return {}
    return write_temporal_comparison(scored, test_rows(), root, split=split, seed=seed)


def write_temporal_comparison(
    reports: Mapping[str, Report], rows: Sequence[Mapping[str, Any]], root: Path, *, split: str, seed: int
) -> dict[str, Report]:
    """Print Tasks 5/6 of ``reports`` (``temporal``, ``single``) beside the blind baselines on ``rows``; write
    ``root/comparison.json`` and return what it holds."""
    from rad3d_hf.scoring import score
    from rad3d_hf.scoring.temporal_comparison import blind_predictions, temporal_table

    blind = {rule: score(blind_predictions(rows, rule), rows) for rule in BLIND_RULES}
    print(f"Tasks 5 and 6 on the {split} split (seed {seed}):\n{temporal_table({**reports, **blind})}")
    out = {"single": reports["single"], "temporal": reports["temporal"]}
    root.mkdir(parents=True, exist_ok=True)
    (root / COMPARISON_FILE).write_text(json.dumps(out, indent=2, default=str) + "\n")
    logger.info("wrote %s", root / COMPARISON_FILE)
    return out


__all__ = ["BLIND_RULES", "COMPARISON_FILE", "RUN_NAMES", "compare_temporal_runs", "write_temporal_comparison"]
