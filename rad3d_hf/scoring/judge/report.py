"""The judge's part of the report, for the open tasks (1-3), on a 0-1 scale like ROUGE-1.

Keys (``N`` a task, ``S`` a subtask):

- ``taskN/S/judge_score``: the mean of the subtask's readable judgements; ``taskN/judge_score`` the unweighted mean
  over subtasks (as ``rouge1``), ``taskN/judge_score_micro`` pooled; ``_ci95_low``/``_ci95_high`` of both from the
  report's patient-clustered bootstrap (the same resamples as ROUGE-1's, so they pair);
- ``taskN/S/judge_n`` / ``taskN/judge_n`` readable judgements, ``judge_n_unreadable``, ``judge_failed`` (requests that
  failed after their retries: neither cached nor scored), ``taskN/judge_unreadable_rate`` (unreadable among the
  judgements that came back);
- ``taskN/S/judge_score_baseline_majority`` / ``taskN/judge_score_baseline_majority``: the subtask's most common
  answer, judged against every reference of the subtask;
- ``taskN/judge_rouge1_spearman``: Spearman's rank correlation of judged score and ROUGE-1 over readable questions;
- ``judge_model``, ``judge_prompt`` (its version), ``judge_endpoint``, ``judge_scale`` ("0-1"), and over all open
  tasks ``judge_n``, ``judge_n_unreadable``, ``judge_unreadable_rate``, ``judge_failed``, ``judge_baseline_failed``.

Every question's record gets ``judge_score`` (None unless readable) and ``judge_status`` (ok, unreadable, failed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.judge.client import FAILED, OK, UNREADABLE, Judge, Judgement
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.statistics import (
    cluster_index,
    cluster_key,
    metric_samples,
    percentile_interval,
    resample_weights,
    resampled_group_sums,
)

__all__ = ["add_judge_metrics", "spearman"]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="mergesort")] = np.arange(1, len(values) + 1)
    _, tie, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(tie, weights=ranks) / counts)[tie]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged); NaN with fewer than two values or a constant side."""
    if len(x) < 2:
        return math.nan
    a, b = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator else math.nan


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _mean_over(values: Sequence[float]) -> float:
    return _mean([v for v in values if not math.isnan(v)])


def _readable(judgements: Sequence[Judgement]) -> list[float]:
    return [j.value for j in judgements if j.status == OK and j.value is not None]


def _intervals(
    task: int,
    questions: Sequence[QuestionResult],
    judged: Sequence[Judgement],
    names: list[str],
    options: tuple[int, int, str],
    out: dict[str, Any],
) -> None:
    """Clustered bootstrap intervals of the judged score (sums of readable values and their count)."""
    seed, n_resamples, cluster_by = options
    clusters, n_clusters = cluster_index([cluster_key(q.volume_name, cluster_by) for q in questions])
    groups = np.array([names.index(q.subtask) for q in questions], dtype=np.int64)
    readable = np.array([j.status == OK for j in judged], dtype=float)
    values = np.array([j.value if j.status == OK and j.value is not None else 0.0 for j in judged])
    stats = np.stack([values * readable, readable], axis=1)
    weights = resample_weights(n_clusters, n_resamples, seed, task).astype(float)
    resampled, present = resampled_group_sums(clusters, n_clusters, groups, len(names), stats, weights)
    per_group, mean = metric_samples(resampled, present, lambda s: s[..., 0] / s[..., 1])
    pooled = resampled.sum(axis=1)
    with np.errstate(all="ignore"):
        micro = pooled[:, 0] / pooled[:, 1]
    for key, samples in (("judge_score", mean), ("judge_score_micro", micro)):
        low, high = percentile_interval(samples[:, None])
        out[f"task{task}/{key}_ci95_low"], out[f"task{task}/{key}_ci95_high"] = float(low[0]), float(high[0])
    low, high = percentile_interval(per_group)
    for i, name in enumerate(names):
        out[f"task{task}/{name}/judge_score_ci95_low"] = float(low[i])
        out[f"task{task}/{name}/judge_score_ci95_high"] = float(high[i])


def add_judge_metrics(
    out: dict[str, Any],
    questions: Sequence[QuestionResult],
    rows_by_id: Mapping[str, Mapping[str, Any]],
    majority: Mapping[tuple[int, str], str],
    judge: Judge,
    options: tuple[int, int, str],
) -> None:
    """Judge the open questions (and the majority baseline) and add the keys above to ``out``.

    ``options`` is the report's ``(seed, n_resamples, cluster_by)``; ``questions`` are in ``id`` order.
    """
    open_questions = [q for q in questions if TASKS[q.task].is_open]
    items = [(str(rows_by_id[q.id].get("question", "")), q.answer, q.prediction) for q in open_questions]
    baseline_items = [(i[0], i[1], majority[(q.task, q.subtask)]) for i, q in zip(items, open_questions)]
    judged = judge.judge_many(items + (baseline_items if judge.baseline else []))
    mine, baseline = judged[: len(items)], judged[len(items) :]
    for q, j in zip(open_questions, mine):
        q.details["judge_score"] = j.value if j.status == OK else None
        q.details["judge_status"] = j.status
    out.update(judge.identity())
    out["judge_scale"] = "0-1"
    for number in sorted({q.task for q in open_questions}):
        index = [i for i, q in enumerate(open_questions) if q.task == number]
        task_questions = [open_questions[i] for i in index]
        task_judged = [mine[i] for i in index]
        names = [s.name for s in TASKS[number].subtasks if any(q.subtask == s.name for q in task_questions)]
        prefix = f"task{number}/"
        per_subtask, per_baseline = [], []
        for name in names:
            judged_here = [j for q, j in zip(task_questions, task_judged) if q.subtask == name]
            per_subtask.append(_mean(_readable(judged_here)))
            out[f"{prefix}{name}/judge_score"] = per_subtask[-1]
            out[f"{prefix}{name}/judge_n"] = len(_readable(judged_here))
            out[f"{prefix}{name}/judge_n_unreadable"] = sum(j.status == UNREADABLE for j in judged_here)
            if baseline:
                guessed = [baseline[i] for i, q in zip(index, task_questions) if q.subtask == name]
                per_baseline.append(_mean(_readable(guessed)))
                out[f"{prefix}{name}/judge_score_baseline_majority"] = per_baseline[-1]
        readable = _readable(task_judged)
        back = sum(j.status != FAILED for j in task_judged)
        out[f"{prefix}judge_score"] = _mean_over(per_subtask)
        out[f"{prefix}judge_score_micro"] = _mean(readable)
        out[f"{prefix}judge_n"] = len(readable)
        out[f"{prefix}judge_n_unreadable"] = back - len(readable)
        out[f"{prefix}judge_unreadable_rate"] = (back - len(readable)) / back if back else math.nan
        out[f"{prefix}judge_failed"] = len(task_judged) - back
        if baseline:
            out[f"{prefix}judge_score_baseline_majority"] = _mean_over(per_baseline)
        pairs = [(q.score, j.value) for q, j in zip(task_questions, task_judged) if j.status == OK]
        out[f"{prefix}judge_rouge1_spearman"] = spearman([p[0] for p in pairs], [float(p[1] or 0.0) for p in pairs])
        if options[1] > 0:
            _intervals(number, task_questions, task_judged, names, options, out)
    back = sum(j.status != FAILED for j in mine)
    out["judge_n"] = len(_readable(mine))
    out["judge_n_unreadable"] = back - out["judge_n"]
    out["judge_unreadable_rate"] = out["judge_n_unreadable"] / back if back else math.nan
    out["judge_failed"] = len(mine) - back
    out["judge_baseline_failed"] = sum(j.status == FAILED for j in baseline)
