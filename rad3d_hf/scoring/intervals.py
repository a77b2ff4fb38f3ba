"""Bootstrap intervals of a task's metrics, from per-question sufficient statistics summed per cluster.

Each interval metric is a function of summed per-question statistics (ROUGE-1 and accuracy: score and count; BLEU-1:
clipped matches and both lengths; balanced accuracy: hits and counts per class), so one weighted matrix product per
task gives every resample of every metric, per subtask and for the mean over subtasks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rad3d_hf.data.catalogue import TaskInfo
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.statistics import (
    SumsMetric,
    cluster_index,
    cluster_key,
    metric_samples,
    percentile_interval,
    resample_weights,
    resampled_group_sums,
)
from rad3d_hf.scoring.text_metrics import bleu1_from_sums, bleu1_from_sums_array


# Sufficient statistics and the metric computed from their sums, per metric name.
def _rouge_from_sums(s: np.ndarray) -> np.ndarray:
    return s[..., 0] / s[..., 1]


def _bleu_from_sums(s: np.ndarray) -> np.ndarray:
    return bleu1_from_sums_array(s[..., 0], s[..., 1], s[..., 2])


def _balanced_from_sums(s: np.ndarray) -> np.ndarray:
    recalls = np.stack([s[..., 0] / s[..., 1], s[..., 2] / s[..., 3]], axis=-1)
    return np.nanmean(recalls, axis=-1)


def _column(values: Any, n: int) -> np.ndarray:
    return np.fromiter(values, dtype=float, count=n)


def question_stats(metric: str, questions: Sequence[QuestionResult]) -> np.ndarray:
    n = len(questions)
    ones = np.ones(n)
    if metric in ("rouge1", "accuracy"):
        return np.stack([_column((q.score for q in questions), n), ones], axis=1)
    if metric == "bleu1":
        keys = ("bleu1_matches", "bleu1_hyp_len", "bleu1_ref_len")
        return np.stack([_column((q.details[k] for q in questions), n) for k in keys], axis=1)
    if metric == "accuracy_official":
        return np.stack([_column((q.details["correct_official"] for q in questions), n), ones], axis=1)
    if metric == "measurement_exact":
        exact = _column((q.details.get("measurement_exact", False) for q in questions), n)
        scored = _column((q.details["reference_measurement"] is not None for q in questions), n)
        return np.stack([exact, scored], axis=1)
    if metric == "balanced_accuracy":
        correct = _column((q.score for q in questions), n)
        is_a = _column((q.details["answer_choice"] == "A" for q in questions), n)
        return np.stack([correct * is_a, is_a, correct * (1 - is_a), 1 - is_a], axis=1)
    raise KeyError(metric)


SUMS_METRICS: dict[str, SumsMetric] = {
    "rouge1": _rouge_from_sums,
    "bleu1": _bleu_from_sums,
    "accuracy": _rouge_from_sums,
    "accuracy_official": _rouge_from_sums,
    "measurement_exact": _rouge_from_sums,
    "balanced_accuracy": _balanced_from_sums,
}


def interval_metrics(task: TaskInfo) -> tuple[str, ...]:
    if task.is_open:
        return ("bleu1", "rouge1", "measurement_exact") if task.number == 3 else ("bleu1", "rouge1")
    if task.number == 4:
        return ("accuracy", "accuracy_official", "balanced_accuracy")
    return ("accuracy", "accuracy_official")


def point_from_sums(metric: str, sums: np.ndarray) -> float:
    """A metric from the summed statistics of its questions; exact, since the summed values are integers."""
    if metric == "bleu1":
        return bleu1_from_sums(*(int(v) for v in sums))
    if metric == "measurement_exact" and sums[1] == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(SUMS_METRICS[metric](sums[None, :])[0])


def add_intervals(
    task: TaskInfo,
    questions: Sequence[QuestionResult],
    groups: np.ndarray,
    names: Sequence[str],
    stats: Mapping[str, np.ndarray],
    seed: int,
    n_resamples: int,
    cluster_by: str,
    out: dict[str, Any],
) -> None:
    clusters, n_clusters = cluster_index([cluster_key(q.volume_name, cluster_by) for q in questions])
    weights = resample_weights(n_clusters, n_resamples, seed, task.number).astype(float)
    # one matrix product for all metrics of the task: their statistics side by side
    metrics = list(stats)
    widths = [stats[m].shape[1] for m in metrics]
    resampled, present = resampled_group_sums(
        clusters, n_clusters, groups, len(names), np.concatenate([stats[m] for m in metrics], axis=1), weights
    )
    prefix = f"task{task.number}/"
    offset = 0
    for metric, width in zip(metrics, widths):
        per_group, mean = metric_samples(resampled[..., offset : offset + width], present, SUMS_METRICS[metric])
        offset += width
        low, high = percentile_interval(mean[:, None])
        out[f"{prefix}{metric}_ci95_low"] = float(low[0])
        out[f"{prefix}{metric}_ci95_high"] = float(high[0])
        low, high = percentile_interval(per_group)
        for i, name in enumerate(names):
            out[f"{prefix}{name}/{metric}_ci95_low"] = float(low[i])
            out[f"{prefix}{name}/{metric}_ci95_high"] = float(high[i])
