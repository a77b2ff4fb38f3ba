"""One task's part of the report: per-subtask and mean metrics, measurements, per-class results, baselines.

See :mod:`rad3d_hf.scoring.scorer` for the keys; :func:`score_task` adds one task's keys to the report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rad3d_hf.data.catalogue import OPTION_LETTERS, TEMPORAL_PRESENT_BEFORE, TEMPORAL_PRESENT_NOW, TaskInfo
from rad3d_hf.scoring import baselines
from rad3d_hf.scoring.answer_extraction import AMBIGUOUS, UNPARSEABLE
from rad3d_hf.scoring.intervals import add_intervals, interval_metrics, point_from_sums, question_stats
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.statistics import cluster_sums
from rad3d_hf.scoring.text_metrics import corpus_bleu1, rouge1_bootstrap_mid, rouge1_fmeasure

NO_ANSWER = "none"


def fmean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _mean_rouge1(questions: Sequence[QuestionResult]) -> float:
    """Mean ROUGE-1 F, summed exactly (``math.fsum``), so the value does not depend on question order."""
    return fmean([q.score for q in questions])


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
    return fmean(kept) if kept else math.nan


def _measurement_metrics(prefix: str, questions: Sequence[QuestionResult], out: dict[str, Any]) -> dict[str, float]:
    scored = [q for q in questions if q.details["reference_measurement"] is not None]
    compared = [q for q in scored if q.details.get("abs_error_mm") is not None]
    relative = [q.details["rel_error"] for q in compared if q.details.get("rel_error") is not None]
    values = {
        "measurement_exact": _measurement_exact(questions),
        "measurement_abs_error_mm": fmean([q.details["abs_error_mm"] for q in compared]) if compared else math.nan,
        "measurement_rel_error": fmean(relative) if relative else math.nan,
        "measurement_unparseable_rate": (sum(q.parsed is None for q in scored) / len(scored) if scored else math.nan),
    }
    for name, value in values.items():
        out[f"{prefix}{name}"] = value
    out[f"{prefix}measurement_n_compared"] = len(compared)
    out[f"{prefix}measurement_n_reference_unparseable"] = len(questions) - len(scored)
    # answers too long to be read as a measurement (they count as unparseable in the rate above)
    out[f"{prefix}measurement_n_unread"] = sum("measurement_unread" in q.details for q in questions)
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
    out[f"task{task.number}/macro_f1"] = fmean(f1s)
    # The two facts a temporal category combines, read off the answers (an unread answer gets neither right): a
    # model that reads only the current scan can reach high present_now_accuracy but not previously_present_accuracy.
    total = sum(confusion.values())
    for name, present in (("present_now", TEMPORAL_PRESENT_NOW), ("previously_present", TEMPORAL_PRESENT_BEFORE)):
        agree = sum(
            n for (ref, pred), n in confusion.items() if pred != NO_ANSWER and (ref in present) == (pred in present)
        )
        out[f"task{task.number}/{name}_accuracy"] = agree / total if total else math.nan


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
                "rouge1": fmean([rouge1_fmeasure(guess, q.answer) for q in questions]),
            }
        else:
            values = {"accuracy": fmean([float(q.details["answer_choice"] == guess) for q in questions])}
        for metric, value in values.items():
            out[f"{prefix}{name}/{metric}_baseline_majority"] = value
            per_metric[metric].append(value)
        if task.number == 6:
            hits = [
                float(baselines.history_rule(rows_by_id[q.id].get("history") or []) == q.details["answer_choice"])
                for q in questions
            ]
            out[f"{prefix}{name}/accuracy_baseline_history"] = fmean(hits)
            history.append(fmean(hits))
    for metric, subtask_values in per_metric.items():
        out[f"{prefix}{metric}_baseline_majority"] = fmean(subtask_values)
    if task.number == 6:
        out[f"{prefix}accuracy_baseline_history"] = fmean(history)


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
    scorers: dict[str, Callable[[Sequence[str], Sequence[str]], list[float]]] = {}
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
            out[f"{prefix}{name}/{metric}"] = fmean(values)
            subtask_values.append(fmean(values))
        out[f"{prefix}{metric}"] = fmean(subtask_values)


@dataclass(frozen=True)
class ScoreOptions:
    seed: int
    n_resamples: int
    cluster_by: str
    rouge_bootstrap_mid: bool
    meteor: bool
    bertscore_model: str | None
    bertscore_layers: int


def score_task(
    task: TaskInfo,
    in_task: list[QuestionResult],
    rows_by_id: Mapping[str, Mapping[str, Any]],
    majority: Mapping[tuple[int, str], str],
    options: ScoreOptions,
    out: dict[str, Any],
) -> None:
    """Add one task's keys to ``out``."""
    prefix = f"task{task.number}/"
    subtasks = _by_subtask(task, in_task)
    names = list(subtasks)
    in_task = [q for group in subtasks.values() for q in group]
    groups = np.repeat(np.arange(len(names)), [len(group) for group in subtasks.values()])
    stats = {metric: question_stats(metric, in_task) for metric in interval_metrics(task)}
    for metric, metric_stats in stats.items():
        group_sums = cluster_sums(groups, metric_stats, len(names))
        values = []
        for i, (name, group) in enumerate(subtasks.items()):
            value = _mean_rouge1(group) if metric == "rouge1" else point_from_sums(metric, group_sums[i])
            out[f"{prefix}{name}/{metric}"] = value
            values.append(value)
        out[f"{prefix}{metric}"] = _mean_over(values)
        micro = _mean_rouge1(in_task) if metric == "rouge1" else point_from_sums(metric, group_sums.sum(axis=0))
        out[f"{prefix}{metric}_micro"] = micro
    if task.number == 3:
        per_subtask = [_measurement_metrics(f"{prefix}{name}/", group, out) for name, group in subtasks.items()]
        for name in ("measurement_abs_error_mm", "measurement_rel_error", "measurement_unparseable_rate"):
            out[f"{prefix}{name}"] = _mean_over([values[name] for values in per_subtask])
        pooled_counts: dict[str, Any] = {}
        pooled = _measurement_metrics("", in_task, pooled_counts)
        for name, value in pooled.items():
            out[f"{prefix}{name}_micro"] = value
        for name in ("measurement_n_compared", "measurement_n_reference_unparseable", "measurement_n_unread"):
            out[f"{prefix}{name}"] = pooled_counts[name]
    if task.is_open and options.rouge_bootstrap_mid:
        mids = []
        for name, group in subtasks.items():
            mid = rouge1_bootstrap_mid([q.score for q in group], options.seed)
            out[f"{prefix}{name}/rouge1_bootstrap_mid"] = mid
            mids.append(mid)
        out[f"{prefix}rouge1_bootstrap_mid"] = fmean(mids)
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
        add_intervals(task, in_task, groups, names, stats, options.seed, options.n_resamples, options.cluster_by, out)
    for name, group in subtasks.items():
        out[f"{prefix}{name}/n"] = len(group)
    out[f"{prefix}n"] = len(in_task)
    out[f"{prefix}n_volumes"] = len({q.volume_name for q in in_task})
    out[f"{prefix}n_empty"] = sum(not q.prediction.strip() for q in in_task)
