"""Percentile bootstrap intervals clustered by CT volume, seeded.

One CT volume carries up to 18 questions whose answers are correlated, so resampling questions independently would
give intervals that are too narrow. Volumes are resampled with replacement instead, and every metric is recomputed
from per-volume sums of its sufficient statistics (a ROUGE-1 sum and a count, BLEU-1's three integer sums, a count
of correct answers...). That makes 1,000 resamples one matrix product per task.

Randomness: a task's resamples come from ``numpy.random.default_rng(SeedSequence([seed, task]))`` over its volumes in
sorted order, so an interval depends only on the seed, the task and the data, never on row order or on which other
tasks were scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
CONFIDENCE = 0.95

# A metric computed from summed statistics: array (..., k) -> array (...).
SumsMetric = Callable[[np.ndarray], np.ndarray]


def resample_weights(n_clusters: int, n_resamples: int, seed: int, stream: int) -> np.ndarray:
    """How often each cluster is drawn in each resample: an integer array of shape (n_resamples, n_clusters)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    draws = rng.integers(0, n_clusters, size=(n_resamples, n_clusters))
    offsets = (np.arange(n_resamples) * n_clusters)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_clusters)
    return counts.reshape(n_resamples, n_clusters)


def cluster_sums(cluster_index: np.ndarray, stats: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster sums of per-question statistics ``stats`` (n, k) -> (n_clusters, k)."""
    out = np.zeros((n_clusters, stats.shape[1]))
    np.add.at(out, cluster_index, stats)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over the first axis, ignoring NaN (resamples where a value is undefined)."""
    tail = 100 * (1 - confidence) / 2
    if not np.isnan(samples).any():
        low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
        return low, high
    with np.errstate(all="ignore"):
        low = np.nanpercentile(samples, tail, axis=0)
        high = np.nanpercentile(samples, 100 - tail, axis=0)
    return low, high


def grouped_bootstrap(
    clusters: Sequence[str],
    groups: Sequence[int],
    stats: np.ndarray,
    n_groups: int,
    metric: SumsMetric,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap samples of a metric per group and of the unweighted mean over groups.

    ``clusters`` names each question's cluster (its volume), ``groups`` its subtask index, ``stats`` its (n, k)
    statistics. ``weights`` come from :func:`resample_weights` over the sorted distinct clusters. Returns
    ``(per_group, mean_over_groups)`` with shapes (n_resamples, n_groups) and (n_resamples,); a group with no
    question in a resample is NaN there and left out of the mean.
    """
    names = sorted(set(clusters))
    position = {name: i for i, name in enumerate(names)}
    cluster_index = np.fromiter((position[c] for c in clusters), dtype=np.int64, count=len(clusters))
    group_index = np.asarray(groups, dtype=np.int64)
    k = stats.shape[1]
    combined = cluster_index * n_groups + group_index
    sums = cluster_sums(combined, stats, len(names) * n_groups).reshape(len(names), n_groups * k)
    counts = cluster_sums(combined, np.ones((len(clusters), 1)), len(names) * n_groups).reshape(len(names), n_groups)
    resampled = (weights @ sums).reshape(weights.shape[0], n_groups, k)
    present = (weights @ counts) > 0
    with np.errstate(all="ignore"):
        per_group = np.where(present, metric(resampled), np.nan)
        mean = np.nanmean(per_group, axis=1)
    return per_group, mean
