"""Percentile bootstrap intervals clustered by patient (or by CT volume), seeded.

One CT volume carries up to 18 questions whose answers are correlated, so resampling questions independently would
give intervals that are too narrow. Volumes are resampled with replacement instead, and every metric is recomputed
from per-volume sums of its sufficient statistics (a ROUGE-1 sum and a count, BLEU-1's three integer sums, a count
of correct answers...). That makes 1,000 resamples one matrix product per task.

``cluster_by="patient"`` (the default) resamples patients instead: a patient's reconstructions of one scan carry
questions from the same report and labels (Task 1 has 1,858 volumes from 1,008 test patients), so their answers are not
independent either; ``cluster_by="volume"`` resamples volumes.

Randomness: a task's resamples come from ``numpy.random.default_rng(SeedSequence([seed, task]))`` over its volumes in
sorted order, so an interval depends only on the seed, the task and the data, never on row order or on which other
tasks were scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
CLUSTER_BY: tuple[str, ...] = ("volume", "patient")
# reconstructions and scans of one patient share reports and labels, so patients are the independent units
DEFAULT_CLUSTER_BY = "patient"
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


def cluster_sums(index: np.ndarray, stats: np.ndarray, n_bins: int) -> np.ndarray:
    """Sums of per-question statistics ``stats`` (n, k) per bin of ``index`` -> (n_bins, k)."""
    return np.stack([np.bincount(index, weights=stats[:, j], minlength=n_bins) for j in range(stats.shape[1])], axis=1)


def cluster_key(volume_name: str, cluster_by: str) -> str:
    """The bootstrap cluster of a question on ``volume_name``: the volume itself, or its split and patient."""
    if cluster_by == "volume":
        return volume_name
    from rad3d_hf.data.volume_names import parse_volume_name

    name = parse_volume_name(volume_name)
    return f"{name.split}_{name.patient_id}"


def cluster_index(clusters: Sequence[str]) -> tuple[np.ndarray, int]:
    """Each question's position among the sorted distinct clusters, and how many clusters there are."""
    names, index = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    return index.astype(np.int64), len(names)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over the first axis, ignoring NaN (resamples where a value is undefined)."""
    tail = 100 * (1 - confidence) / 2
    if not np.isnan(samples).any():
        low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
        return low, high
    with warnings.catch_warnings():
        # a metric undefined in every resample (no question it applies to) has an undefined interval: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanpercentile(samples, tail, axis=0)
        high = np.nanpercentile(samples, 100 - tail, axis=0)
    return low, high


def resampled_group_sums(
    clusters: np.ndarray,
    n_clusters: int,
    groups: np.ndarray,
    n_groups: int,
    stats: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and group, the sums of ``stats`` (n, k) over the drawn clusters, and whether the group was drawn.

    ``clusters`` holds each question's cluster (volume) position from :func:`cluster_index`, ``groups`` its subtask
    index; ``weights`` come from :func:`resample_weights` over the same clusters. Returns arrays of shapes
    (n_resamples, n_groups, k) and (n_resamples, n_groups).
    """
    k = stats.shape[1]
    combined = clusters * n_groups + groups
    sums = cluster_sums(combined, stats, n_clusters * n_groups).reshape(n_clusters, n_groups * k)
    counts = np.bincount(combined, minlength=n_clusters * n_groups).reshape(n_clusters, n_groups)
    resampled = (weights @ sums).reshape(weights.shape[0], n_groups, k)
    return resampled, (weights @ counts) > 0


def metric_samples(resampled: np.ndarray, present: np.ndarray, metric: SumsMetric) -> tuple[np.ndarray, np.ndarray]:
    """A metric per resample and group (NaN where the group was not drawn) and its unweighted mean over groups."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: the mean is undefined there
        per_group = np.where(present, metric(resampled), np.nan)
        mean = per_group.mean(axis=1) if present.all() else np.nanmean(per_group, axis=1)
    return per_group, mean


def grouped_bootstrap(
    clusters: np.ndarray,
    n_clusters: int,
    groups: np.ndarray,
    n_groups: int,
    stats: np.ndarray,
    metric: SumsMetric,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap samples of one metric per group and of its unweighted mean over groups (see the two functions above)."""
    resampled, present = resampled_group_sums(clusters, n_clusters, groups, n_groups, stats, weights)
    return metric_samples(resampled, present, metric)
