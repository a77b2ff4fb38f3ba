"""Paired comparison of two scored runs from their saved details (``details.parquet``), without re-scoring.

Each question's stored score and statistics (ROUGE-1 F, BLEU-1 counts, the read letter's correctness, the official
rule's verdict) are turned back into :class:`~rad3d_hf.scoring.questions.QuestionResult` objects and handed to the
paired bootstrap of :mod:`rad3d_hf.scoring.paired_comparison` (clusters drawn with replacement, both runs recomputed
on the same draws; patients by default). A task is compared only where both runs scored exactly the same questions
(same ids, same reference answers); otherwise it is listed as skipped with the reason, never mixed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.intervals import interval_metrics, point_from_sums, question_stats
from rad3d_hf.scoring.paired_comparison import compare_task
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.statistics import CLUSTER_BY, DEFAULT_CLUSTER_BY, DEFAULT_RESAMPLES, DEFAULT_SEED

_DETAIL_KEYS = (
    "answer_choice",
    "correct_official",
    "bleu1_matches",
    "bleu1_hyp_len",
    "bleu1_ref_len",
    "reference_measurement",
    "measurement_exact",
)


def questions_from_details(rows: Iterable[Mapping[str, Any]]) -> list[QuestionResult]:
    """Per-question results rebuilt from details rows (:data:`~rad3d_hf.scoring.results_record.DETAILS_COLUMNS`)."""
    questions = []
    for row in rows:
        task = TASKS[int(row["task"])]
        details = {
            key: row.get(key) for key in _DETAIL_KEYS if row.get(key) is not None or key == "reference_measurement"
        }
        if task.is_open:
            details["rouge1"] = row["score"]
        questions.append(
            QuestionResult(
                str(row["id"]),
                task.number,
                str(row["subtask"]),
                str(row["volume_name"]),
                str(row["prediction"]),
                str(row["answer"]),
                row.get("parsed"),
                row.get("rule"),
                float(row["score"]),
                details,
            )
        )
    return sorted(questions, key=lambda q: q.id)


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def point_metrics(number: int, questions: Sequence[QuestionResult]) -> dict[str, Any]:
    """The task's interval metrics (per subtask and their unweighted mean) from stored per-question statistics."""
    task = TASKS[number]
    order = [s.name for s in task.subtasks]
    names = [name for name in order if any(q.subtask == name for q in questions)]
    out: dict[str, Any] = {}
    for metric in interval_metrics(task):
        values = []
        for name in names:
            group = [q for q in questions if q.subtask == name]
            if metric == "rouge1":  # summed exactly, as the report does
                value = math.fsum(q.score for q in group) / len(group)
            else:
                value = point_from_sums(metric, question_stats(metric, group).sum(axis=0))
            out[f"task{number}/{name}/{metric}"] = value
            values.append(value)
        out[f"task{number}/{metric}"] = _nanmean(values)
    return out


def _same_questions(a: Sequence[QuestionResult], b: Sequence[QuestionResult]) -> str | None:
    """Why ``a`` and ``b`` cannot be paired, or None."""
    if len(a) != len(b):
        return f"{len(a)} and {len(b)} questions"
    for qa, qb in zip(a, b):
        if (qa.id, qa.answer, qa.subtask) != (qb.id, qb.answer, qb.subtask):
            return f"question {qa.id} vs {qb.id} differ"
    return None


def compare_details(
    details_a: Iterable[Mapping[str, Any]],
    details_b: Iterable[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    cluster_by: str = DEFAULT_CLUSTER_BY,
) -> dict[str, Any]:
    """A - B per task, subtask and interval metric, with paired 95% intervals and p-values (keys as
    :func:`rad3d_hf.scoring.paired_comparison.compare`), for the tasks both runs scored on the same questions;
    ``skipped`` maps the other tasks to the reason."""
    if cluster_by not in CLUSTER_BY:
        raise ValueError(f"cluster_by={cluster_by!r}; expected one of {', '.join(CLUSTER_BY)}")
    a, b = questions_from_details(details_a), questions_from_details(details_b)
    out: dict[str, Any] = {"seed": int(seed), "n_resamples": int(n_resamples), "cluster_by": cluster_by}
    skipped: dict[str, str] = {}
    for number in TASKS:
        in_a = [q for q in a if q.task == number]
        in_b = [q for q in b if q.task == number]
        if not in_a and not in_b:
            continue
        why = _same_questions(in_a, in_b)
        if why is not None:
            skipped[f"task{number}"] = f"not the same questions ({why})"
            continue
        metrics_a, metrics_b = point_metrics(number, in_a), point_metrics(number, in_b)
        compare_task(number, in_a, in_b, metrics_a, metrics_b, seed, n_resamples, cluster_by, out)
    out["skipped"] = skipped
    return out


def significant(result: Mapping[str, Any], key: str) -> bool | None:
    """Whether the 95% interval of ``key``'s difference excludes 0 (None when there is no interval)."""
    low, high = result.get(f"{key}_diff_ci95_low"), result.get(f"{key}_diff_ci95_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return None
    return bool(low > 0 or high < 0)


__all__ = ["compare_details", "point_metrics", "questions_from_details", "significant"]
