"""Score predictions against 3D-RAD rows: per-question results and the flat report of the six tasks.

Keys of the report (``N`` is the paper's task number, ``S`` a subtask named as its source file):

- ``taskN/M`` the unweighted mean over the task's subtasks of ``taskN/S/M`` (as the official scripts average),
  ``taskN/M_micro`` the same metric pooled over all of the task's questions;
- ``taskN/M_ci95_low`` / ``taskN/M_ci95_high`` (and per subtask): 95% percentile bootstrap intervals over CT volumes;
- ``taskN/M_baseline_majority`` (and per subtask), ``task6/accuracy_baseline_history``: blind baselines;
- open tasks (1-3): ``bleu1``, ``rouge1`` (optionally ``rouge1_bootstrap_mid``, ``meteor``, ``bertscore_f1``); Task 3
  also ``measurement_exact``, ``measurement_abs_error_mm``, ``measurement_rel_error``,
  ``measurement_unparseable_rate`` (over questions whose reference parses) and the counts
  ``measurement_n_compared``, ``measurement_n_reference_unparseable`` per subtask;
- closed tasks (4-6): ``accuracy``, ``accuracy_official``, ``unparseable_rate``; Task 4 ``balanced_accuracy``;
  Tasks 5/6 ``accuracy_A``..``accuracy_D`` (per-class accuracy, i.e. recall), ``macro_f1`` and the confusion matrix
  ``confusion_R_P`` (reference letter R, read letter P or ``none``), pooled over the task's questions;
- counts ``taskN/n``, ``taskN/S/n``, ``taskN/n_volumes``, ``taskN/n_empty``, ``taskN/n_unparseable``,
  ``taskN/n_ambiguous``; and ``n``, ``n_volumes``, ``seed``, ``n_resamples``, ``version`` (and ``coverage``,
  ``n_expected`` when a subset was scored).

Rows are processed in ``id`` order, sums are exact (``math.fsum``, integer counts) and every random draw is seeded, so
the same predictions give the same report whatever their order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rad3d_hf.catalogue import OPTION_LETTERS, TASKS, TaskInfo
from rad3d_hf.scoring import baselines
from rad3d_hf.scoring.answer_extraction import AMBIGUOUS, UNPARSEABLE
from rad3d_hf.scoring.questions import QuestionResult, check_rows, score_question
from rad3d_hf.scoring.statistics import (
    CLUSTER_BY,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    SumsMetric,
    cluster_index,
    cluster_key,
    cluster_sums,
    metric_samples,
    percentile_interval,
    resample_weights,
    resampled_group_sums,
)
from rad3d_hf.scoring.text_metrics import (
    bleu1_from_sums,
    bleu1_from_sums_array,
    corpus_bleu1,
    rouge1_bootstrap_mid,
    rouge1_fmeasure,
)

NO_ANSWER = "none"


@dataclass
class ScoreResult:
    """The flat report and the per-question results behind it (in ``id`` order)."""

    metrics: dict[str, Any]
    questions: list[QuestionResult]


def _fmean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


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


def _stats(metric: str, questions: Sequence[QuestionResult]) -> np.ndarray:
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


_SUMS_METRICS: dict[str, SumsMetric] = {
    "rouge1": _rouge_from_sums,
    "bleu1": _bleu_from_sums,
    "accuracy": _rouge_from_sums,
    "accuracy_official": _rouge_from_sums,
    "measurement_exact": _rouge_from_sums,
    "balanced_accuracy": _balanced_from_sums,
}


def _interval_metrics(task: TaskInfo) -> tuple[str, ...]:
    if task.is_open:
        return ("bleu1", "rouge1", "measurement_exact") if task.number == 3 else ("bleu1", "rouge1")
    if task.number == 4:
        return ("accuracy", "accuracy_official", "balanced_accuracy")
    return ("accuracy", "accuracy_official")


def _mean_rouge1(questions: Sequence[QuestionResult]) -> float:
    """Mean ROUGE-1 F, summed exactly (``math.fsum``), so the value does not depend on question order."""
    return _fmean([q.score for q in questions])


def _measurement_exact(questions: Sequence[QuestionResult]) -> float:
    scored = [q for q in questions if q.details["reference_measurement"] is not None]
    return sum(bool(q.details.get("measurement_exact")) for q in scored) / len(scored) if scored else math.nan


def _by_subtask(task: TaskInfo, questions: Sequence[QuestionResult]) -> dict[str, list[QuestionResult]]:
    groups: dict[str, list[QuestionResult]] = {}
    for q in questions:
        groups.setdefault(q.subtask, []).append(q)
    order = [s.name for s in task.subtasks if s.name in groups]
    return {name: groups[name] for name in order}


def _mean_over(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return _fmean(kept) if kept else math.nan


def _measurement_metrics(prefix: str, questions: Sequence[QuestionResult], out: dict[str, Any]) -> dict[str, float]:
    scored = [q for q in questions if q.details["reference_measurement"] is not None]
    compared = [q for q in scored if q.details.get("abs_error_mm") is not None]
    relative = [q.details["rel_error"] for q in compared if q.details.get("rel_error") is not None]
    values = {
        "measurement_exact": _measurement_exact(questions),
        "measurement_abs_error_mm": _fmean([q.details["abs_error_mm"] for q in compared]) if compared else math.nan,
        "measurement_rel_error": _fmean(relative) if relative else math.nan,
        "measurement_unparseable_rate": (sum(q.parsed is None for q in scored) / len(scored) if scored else math.nan),
    }
    for name, value in values.items():
        out[f"{prefix}{name}"] = value
    out[f"{prefix}measurement_n_compared"] = len(compared)
    out[f"{prefix}measurement_n_reference_unparseable"] = len(questions) - len(scored)
    return values


def _closed_class_metrics(task: TaskInfo, questions: Sequence[QuestionResult], out: dict[str, Any]) -> None:
    letters = OPTION_LETTERS[: len(task.options)]
    confusion = Counter((q.details["answer_choice"], q.parsed or NO_ANSWER) for q in questions)
    for ref in letters:
        for pred in (*letters, NO_ANSWER):
            out[f"task{task.number}/confusion_{ref}_{pred}"] = confusion.get((ref, pred), 0)
    f1s = []
    for letter in letters:
        support = sum(confusion.get((letter, p), 0) for p in (*letters, NO_ANSWER))
        predicted = sum(confusion.get((r, letter), 0) for r in letters)
        hit = confusion.get((letter, letter), 0)
        out[f"task{task.number}/accuracy_{letter}"] = hit / support if support else math.nan
        if support or predicted:
            f1s.append(2 * hit / (support + predicted))
    out[f"task{task.number}/macro_f1"] = _fmean(f1s)


def _baselines(
    task: TaskInfo,
    subtasks: Mapping[str, Sequence[QuestionResult]],
    rows_by_id: Mapping[str, Mapping[str, Any]],
    majority: Mapping[tuple[int, str], str],
    out: dict[str, Any],
) -> None:
    prefix = f"task{task.number}/"
    metric_names = ("bleu1", "rouge1") if task.is_open else ("accuracy",)
    per_metric: dict[str, list[float]] = {m: [] for m in metric_names}
    history: list[float] = []
    for name, questions in subtasks.items():
        guess = majority[(task.number, name)]
        if task.is_open:
            values = {
                "bleu1": corpus_bleu1([guess] * len(questions), [q.answer for q in questions]),
                "rouge1": _fmean([rouge1_fmeasure(guess, q.answer) for q in questions]),
            }
        else:
            values = {"accuracy": _fmean([float(q.details["answer_choice"] == guess) for q in questions])}
        for metric, value in values.items():
            out[f"{prefix}{name}/{metric}_baseline_majority"] = value
            per_metric[metric].append(value)
        if task.number == 6:
            hits = [
                float(baselines.history_rule(rows_by_id[q.id].get("history") or []) == q.details["answer_choice"])
                for q in questions
            ]
            out[f"{prefix}{name}/accuracy_baseline_history"] = _fmean(hits)
            history.append(_fmean(hits))
    for metric, values in per_metric.items():
        out[f"{prefix}{metric}_baseline_majority"] = _fmean(values)
    if task.number == 6:
        out[f"{prefix}accuracy_baseline_history"] = _fmean(history)


def _intervals(
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
        per_group, mean = metric_samples(resampled[..., offset : offset + width], present, _SUMS_METRICS[metric])
        offset += width
        low, high = percentile_interval(mean[:, None])
        out[f"{prefix}{metric}_ci95_low"] = float(low[0])
        out[f"{prefix}{metric}_ci95_high"] = float(high[0])
        low, high = percentile_interval(per_group)
        for i, name in enumerate(names):
            out[f"{prefix}{name}/{metric}_ci95_low"] = float(low[i])
            out[f"{prefix}{name}/{metric}_ci95_high"] = float(high[i])


def _point_from_sums(metric: str, sums: np.ndarray) -> float:
    """A metric from the summed statistics of its questions; exact, since the summed values are integers."""
    if metric == "bleu1":
        return bleu1_from_sums(*(int(v) for v in sums))
    if metric == "measurement_exact" and sums[1] == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(_SUMS_METRICS[metric](sums[None, :])[0])


def _optional_text_metrics(
    task: TaskInfo,
    subtasks: Mapping[str, Sequence[QuestionResult]],
    out: dict[str, Any],
    *,
    meteor: bool,
    bertscore_model: str | None,
    bertscore_layers: int,
) -> None:
    from rad3d_hf.scoring import optional_metrics

    prefix = f"task{task.number}/"
    scorers = {}
    if meteor:
        scorers["meteor"] = optional_metrics.meteor_scores
    if bertscore_model is not None:
        scorers["bertscore_f1"] = lambda p, r: optional_metrics.bertscore_f1(p, r, bertscore_model, bertscore_layers)
    for metric, scorer in scorers.items():
        subtask_values = []
        for name, questions in subtasks.items():
            values = scorer([q.prediction for q in questions], [q.answer for q in questions])
            for q, value in zip(questions, values):
                q.details[metric] = value
            out[f"{prefix}{name}/{metric}"] = _fmean(values)
            subtask_values.append(_fmean(values))
        out[f"{prefix}{metric}"] = _fmean(subtask_values)


@dataclass(frozen=True)
class _Options:
    seed: int
    n_resamples: int
    cluster_by: str
    rouge_bootstrap_mid: bool
    meteor: bool
    bertscore_model: str | None
    bertscore_layers: int


def _score_task(
    task: TaskInfo,
    in_task: list[QuestionResult],
    rows_by_id: Mapping[str, Mapping[str, Any]],
    majority: Mapping[tuple[int, str], str],
    options: _Options,
    out: dict[str, Any],
) -> None:
    """Add one task's keys to ``out``."""
    prefix = f"task{task.number}/"
    subtasks = _by_subtask(task, in_task)
    names = list(subtasks)
    in_task = [q for group in subtasks.values() for q in group]
    groups = np.repeat(np.arange(len(names)), [len(group) for group in subtasks.values()])
    stats = {metric: _stats(metric, in_task) for metric in _interval_metrics(task)}
    for metric, metric_stats in stats.items():
        group_sums = cluster_sums(groups, metric_stats, len(names))
        values = []
        for i, (name, group) in enumerate(subtasks.items()):
            value = _mean_rouge1(group) if metric == "rouge1" else _point_from_sums(metric, group_sums[i])
            out[f"{prefix}{name}/{metric}"] = value
            values.append(value)
        out[f"{prefix}{metric}"] = _mean_over(values)
        micro = _mean_rouge1(in_task) if metric == "rouge1" else _point_from_sums(metric, group_sums.sum(axis=0))
        out[f"{prefix}{metric}_micro"] = micro
    if task.number == 3:
        per_subtask = [_measurement_metrics(f"{prefix}{name}/", group, out) for name, group in subtasks.items()]
        for name in ("measurement_abs_error_mm", "measurement_rel_error", "measurement_unparseable_rate"):
            out[f"{prefix}{name}"] = _mean_over([values[name] for values in per_subtask])
        micro = _measurement_metrics(f"{prefix}micro_", in_task, {})
        for name, value in micro.items():
            out[f"{prefix}{name}_micro"] = value
    if task.is_open and options.rouge_bootstrap_mid:
        mids = []
        for name, group in subtasks.items():
            mid = rouge1_bootstrap_mid([q.score for q in group], options.seed)
            out[f"{prefix}{name}/rouge1_bootstrap_mid"] = mid
            mids.append(mid)
        out[f"{prefix}rouge1_bootstrap_mid"] = _fmean(mids)
    if task.is_open and (options.meteor or options.bertscore_model is not None):
        _optional_text_metrics(
            task,
            subtasks,
            out,
            meteor=options.meteor,
            bertscore_model=options.bertscore_model,
            bertscore_layers=options.bertscore_layers,
        )
    if not task.is_open:
        rules = Counter(q.rule for q in in_task)
        for name, group in subtasks.items():
            out[f"{prefix}{name}/unparseable_rate"] = sum(q.parsed is None for q in group) / len(group)
        out[f"{prefix}unparseable_rate"] = sum(q.parsed is None for q in in_task) / len(in_task)
        out[f"{prefix}n_unparseable"] = rules.get(UNPARSEABLE, 0)
        out[f"{prefix}n_ambiguous"] = rules.get(AMBIGUOUS, 0)
        if task.number in (5, 6):
            _closed_class_metrics(task, in_task, out)
    _baselines(task, subtasks, rows_by_id, majority, out)
    if options.n_resamples:
        _intervals(task, in_task, groups, names, stats, options.seed, options.n_resamples, options.cluster_by, out)
    for name, group in subtasks.items():
        out[f"{prefix}{name}/n"] = len(group)
    out[f"{prefix}n"] = len(in_task)
    out[f"{prefix}n_volumes"] = len({q.volume_name for q in in_task})
    out[f"{prefix}n_empty"] = sum(not q.prediction.strip() for q in in_task)


def score_details(
    predictions: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    cluster_by: str = "volume",
    rouge_bootstrap_mid: bool = False,
    meteor: bool = False,
    bertscore_model: str | None = None,
    bertscore_layers: int = 17,
    n_expected: int | None = None,
) -> ScoreResult:
    """Score ``predictions`` (one string per reference row) and keep the per-question results.

    See :func:`score` for the arguments; this also returns every question's parsed answer and score.
    """
    from rad3d_hf import __version__

    check_rows(predictions, references)
    for name, value in (("seed", seed), ("n_resamples", n_resamples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if cluster_by not in CLUSTER_BY:
        raise ValueError(f"cluster_by={cluster_by!r}; expected one of {', '.join(CLUSTER_BY)}")
    seed, n_resamples = int(seed), int(n_resamples)  # plain ints, so the report is JSON as it stands
    order = sorted(range(len(references)), key=lambda i: str(references[i]["id"]))
    rows = [references[i] for i in order]
    rows_by_id = {str(row["id"]): row for row in rows}
    questions = [score_question(predictions[i], references[i], TASKS[int(references[i]["task"])]) for i in order]
    majority = baselines.majority_by_subtask(rows)

    by_task: dict[int, list[QuestionResult]] = {}
    for q in questions:
        by_task.setdefault(q.task, []).append(q)
    options = _Options(seed, n_resamples, cluster_by, rouge_bootstrap_mid, meteor, bertscore_model, bertscore_layers)
    out: dict[str, Any] = {}
    for number, task in TASKS.items():
        if number in by_task:
            _score_task(task, by_task[number], rows_by_id, majority, options, out)

    out["n"] = len(questions)
    out["n_volumes"] = len({q.volume_name for q in questions})
    if n_expected is not None:
        out["n_expected"] = n_expected
        out["coverage"] = len(questions) / n_expected if n_expected else math.nan
    out["seed"] = seed
    out["n_resamples"] = n_resamples
    out["cluster_by"] = cluster_by
    out["version"] = __version__
    return ScoreResult(out, questions)


def score(
    predictions: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    cluster_by: str = "volume",
    rouge_bootstrap_mid: bool = False,
    meteor: bool = False,
    bertscore_model: str | None = None,
    bertscore_layers: int = 17,
    n_expected: int | None = None,
) -> dict[str, Any]:
    """Score 3D-RAD predictions: the flat report described in this module's docstring.

    Args:
        predictions: one answer string per reference row ("" counts as an answer and scores 0).
        references: dataset rows (``id``, ``task``, ``subtask``, ``answer``, ``volume_name``; closed questions also
            ``choices`` and ``answer_choice``; Task 6 ``history`` for its blind baseline).
        seed: seeds the bootstrap (and ``rouge1_bootstrap_mid``); recorded in the report.
        n_resamples: bootstrap resamples for the 95% intervals (0 leaves the intervals out).
        cluster_by: what the bootstrap resamples: ``"volume"`` (default: a CT volume's questions move together) or
            ``"patient"`` (all volumes of a patient together: reconstructions of one scan share a report, so on Tasks
            1-3 their questions are not independent either); recorded in the report.
        rouge_bootstrap_mid: also report evaluate's ``rouge`` default aggregate as ``rouge1_bootstrap_mid``.
        meteor: also report METEOR (needs NLTK data present locally).
        bertscore_model: a local model folder; also report ``bertscore_f1`` with it (needs ``bert-score``).
        bertscore_layers: the model layer BERTScore reads.
        n_expected: how many questions the full split has, when scoring a subset: adds ``coverage``.
    """
    return score_details(
        predictions,
        references,
        seed=seed,
        n_resamples=n_resamples,
        cluster_by=cluster_by,
        rouge_bootstrap_mid=rouge_bootstrap_mid,
        meteor=meteor,
        bertscore_model=bertscore_model,
        bertscore_layers=bertscore_layers,
        n_expected=n_expected,
    ).metrics
