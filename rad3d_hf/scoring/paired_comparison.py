"""Paired comparison of two prediction files on the same questions: difference, 95% interval and p-value.

Both files are scored (:func:`~rad3d_hf.scoring.scorer.score_details`); for every task, subtask and metric that has
an interval (BLEU-1, ROUGE-1, accuracy, ...), the difference ``A - B`` is resampled by a paired bootstrap: each
resample draws clusters (patients by default, or CT volumes) with replacement and recomputes both models' metrics on
the same drawn questions, so the correlation between the two models' errors on a question is kept. The interval is
the 2.5 and 97.5 percentiles of the resampled differences; the two-sided p-value is
``min(1, 2 * min(#(d <= 0) + 1, #(d >= 0) + 1) / (R + 1))`` over the ``R`` resampled differences ``d`` (the smallest
value it can take is ``2 / (R + 1)``).

Randomness: the resamples of task ``N`` come from ``SeedSequence([seed, N])`` over the sorted clusters, the same
draws :func:`~rad3d_hf.scoring.score` uses for its intervals; the seed is recorded in the result.

Keys of the result: ``taskN/M_a``, ``taskN/M_b``, ``taskN/M_diff``, ``taskN/M_diff_ci95_low``,
``taskN/M_diff_ci95_high``, ``taskN/M_diff_p`` (and the same per subtask, ``taskN/S/M_...``); ``taskN/n``; and ``n``,
``seed``, ``n_resamples``, ``cluster_by``, ``version``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.intervals import SUMS_METRICS, interval_metrics, question_stats
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.scorer import score_details
from rad3d_hf.scoring.statistics import (
    CLUSTER_BY,
    DEFAULT_CLUSTER_BY,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    cluster_index,
    cluster_key,
    metric_samples,
    percentile_interval,
    resample_weights,
    resampled_group_sums,
)

__all__ = ["DEFAULT_CLUSTER_BY", "bootstrap_p_value", "compare"]


def bootstrap_p_value(differences: np.ndarray) -> np.ndarray:
    """Two-sided p-values of "no difference" from resampled differences (first axis: resamples; NaN ignored)."""
    valid = ~np.isnan(differences)
    n = valid.sum(axis=0)
    below = ((differences <= 0) & valid).sum(axis=0)
    above = ((differences >= 0) & valid).sum(axis=0)
    with np.errstate(all="ignore"):
        p = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (n + 1))
    return np.where(n > 0, p, np.nan)


def _by_subtask(questions: Sequence[QuestionResult], order: Sequence[str]) -> tuple[list[str], np.ndarray]:
    present = {q.subtask for q in questions}
    names = [name for name in order if name in present]
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[q.subtask] for q in questions], dtype=np.int64)


def compare_task(
    number: int,
    a: Sequence[QuestionResult],
    b: Sequence[QuestionResult],
    metrics_a: Mapping[str, Any],
    metrics_b: Mapping[str, Any],
    seed: int,
    n_resamples: int,
    cluster_by: str,
    out: dict[str, Any],
) -> None:
    task = TASKS[number]
    prefix = f"task{number}/"
    names, groups = _by_subtask(a, [s.name for s in task.subtasks])
    metrics = [m for m in interval_metrics(task) if f"{prefix}{m}" in metrics_a]
    for metric in metrics:
        for key in [f"{prefix}{metric}"] + [f"{prefix}{name}/{metric}" for name in names]:
            out[f"{key}_a"], out[f"{key}_b"] = metrics_a[key], metrics_b[key]
            out[f"{key}_diff"] = metrics_a[key] - metrics_b[key]
    out[f"{prefix}n"] = len(a)
    if not n_resamples:
        return
    clusters, n_clusters = cluster_index([cluster_key(q.volume_name, cluster_by) for q in a])
    weights = resample_weights(n_clusters, n_resamples, seed, number).astype(float)
    stats = [np.concatenate([question_stats(m, a), question_stats(m, b)], axis=1) for m in metrics]
    resampled, present = resampled_group_sums(
        clusters, n_clusters, groups, len(names), np.concatenate(stats, axis=1), weights
    )
    offset = 0
    for metric, metric_stats in zip(metrics, stats):
        width = metric_stats.shape[1] // 2
        per_a, mean_a = metric_samples(resampled[..., offset : offset + width], present, SUMS_METRICS[metric])
        offset += width
        per_b, mean_b = metric_samples(resampled[..., offset : offset + width], present, SUMS_METRICS[metric])
        offset += width
        for keys, differences in (
            ([f"{prefix}{metric}"], (mean_a - mean_b)[:, None]),
            ([f"{prefix}{name}/{metric}" for name in names], per_a - per_b),
        ):
            low, high = percentile_interval(differences)
            p = bootstrap_p_value(differences)
            for i, key in enumerate(keys):
                out[f"{key}_diff_ci95_low"] = float(low[i])
                out[f"{key}_diff_ci95_high"] = float(high[i])
                out[f"{key}_diff_p"] = float(p[i])


def compare(
    predictions_a: Sequence[str],
    predictions_b: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    cluster_by: str = DEFAULT_CLUSTER_BY,
) -> dict[str, Any]:
    """Compare two models' predictions (one string per reference row each): the flat result of the module docstring.

    ROUGE-1 here is resampled as the mean of per-question ROUGE-1 F, as in :func:`~rad3d_hf.scoring.score`; the
    point values are the two reports' own values.
    """
    from rad3d_hf import __version__

    if cluster_by not in CLUSTER_BY:
        raise ValueError(f"cluster_by={cluster_by!r}; expected one of {', '.join(CLUSTER_BY)}")
    if len(predictions_a) != len(predictions_b):
        raise ValueError(f"got {len(predictions_a)} and {len(predictions_b)} predictions; both must answer every row")
    # the intervals of each report are not needed: the paired bootstrap below replaces them
    result_a = score_details(predictions_a, references, seed=seed, n_resamples=0, cluster_by=cluster_by)
    result_b = score_details(predictions_b, references, seed=seed, n_resamples=0, cluster_by=cluster_by)
    out: dict[str, Any] = {}
    for number in TASKS:
        in_a = [q for q in result_a.questions if q.task == number]
        if not in_a:
            continue
        in_b = [q for q in result_b.questions if q.task == number]
        compare_task(number, in_a, in_b, result_a.metrics, result_b.metrics, seed, n_resamples, cluster_by, out)
    out["n"] = len(result_a.questions)
    out["seed"] = int(seed)
    out["n_resamples"] = int(n_resamples)
    out["cluster_by"] = cluster_by
    out["version"] = __version__
    return out
