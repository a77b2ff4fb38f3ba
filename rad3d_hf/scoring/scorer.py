"""Score predictions against 3D-RAD rows: per-question results and the flat report of the six tasks.

Keys of the report (``N`` is the paper's task number, ``S`` a subtask named as its source file):

- ``taskN/M`` the unweighted mean over the task's subtasks of ``taskN/S/M`` (as the official scripts average),
  ``taskN/M_micro`` the same metric pooled over all of the task's questions;
- ``taskN/M_ci95_low`` / ``taskN/M_ci95_high`` (and per subtask): 95% percentile bootstrap intervals over patients
  (``cluster_by``);
- ``taskN/M_baseline_majority`` (and per subtask), ``task6/accuracy_baseline_history``: blind baselines;
- open tasks (1-3): ``bleu1``, ``rouge1`` (optionally ``rouge1_bootstrap_mid``, ``meteor``, ``bertscore_f1``); Task 3
  also ``measurement_exact``, ``measurement_abs_error_mm``, ``measurement_rel_error``,
  ``measurement_unparseable_rate`` (over questions whose reference parses) and the counts
  ``measurement_n_compared``, ``measurement_n_reference_unparseable`` and ``measurement_n_unread`` (answers longer
  than :data:`~rad3d_hf.scoring.measurements.MAX_MEASUREMENT_TEXT` characters, not read as a measurement), per subtask
  and for the task;
- closed tasks (4-6): ``accuracy``, ``accuracy_official``, ``unparseable_rate``; Task 4 ``balanced_accuracy``;
  Tasks 5/6 ``accuracy_A``..``accuracy_D`` (per-class accuracy, i.e. recall), ``macro_f1``, the confusion matrix
  ``confusion_R_P`` (reference letter R, read letter P or ``none``), and ``present_now_accuracy`` /
  ``previously_present_accuracy`` (how often the answer is right about the finding being on the current scan, A or
  C, and on an earlier one, A or B), pooled over the task's questions;
- counts ``taskN/n``, ``taskN/S/n``, ``taskN/n_volumes``, ``taskN/n_empty``, ``taskN/n_unparseable``,
  ``taskN/n_ambiguous``; and ``n``, ``n_volumes``, ``seed``, ``n_resamples``, ``version`` (and ``coverage``,
  ``n_expected`` when a subset was scored);
- with ``judge=``: the model-judged scores of the open tasks, ``taskN/judge_score`` and the rest
  (:mod:`rad3d_hf.scoring.judge.report`).

Rows are processed in ``id`` order, sums are exact (``math.fsum``, integer counts) and every random draw is seeded, so
the same predictions give the same report whatever their order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring import baselines
from rad3d_hf.scoring.questions import QuestionResult, check_rows, score_question
from rad3d_hf.scoring.statistics import CLUSTER_BY, DEFAULT_CLUSTER_BY, DEFAULT_RESAMPLES, DEFAULT_SEED
from rad3d_hf.scoring.task_metrics import NO_ANSWER, ScoreOptions, score_task

if TYPE_CHECKING:
    from rad3d_hf.scoring.judge import Judge

__all__ = ["NO_ANSWER", "QuestionResult", "ScoreResult", "score", "score_details"]


@dataclass
class ScoreResult:
    """The flat report and the per-question results behind it (in ``id`` order)."""

    metrics: dict[str, Any]
    questions: list[QuestionResult]


def score_details(
    predictions: Sequence[str],
    references: Sequence[Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    cluster_by: str = DEFAULT_CLUSTER_BY,
    rouge_bootstrap_mid: bool = False,
    meteor: bool = False,
    bertscore_model: str | None = None,
    bertscore_layers: int = 17,
    n_expected: int | None = None,
    judge: Judge | None = None,
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
    options = ScoreOptions(
        seed, n_resamples, cluster_by, rouge_bootstrap_mid, meteor, bertscore_model, bertscore_layers
    )
    out: dict[str, Any] = {}
    for number, task in TASKS.items():
        if number in by_task:
            score_task(task, by_task[number], rows_by_id, majority, options, out)
    if judge is not None:
        from rad3d_hf.scoring.judge.report import add_judge_metrics

        add_judge_metrics(out, questions, rows_by_id, majority, judge, (seed, n_resamples, cluster_by))

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
    cluster_by: str = DEFAULT_CLUSTER_BY,
    rouge_bootstrap_mid: bool = False,
    meteor: bool = False,
    bertscore_model: str | None = None,
    bertscore_layers: int = 17,
    n_expected: int | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Score 3D-RAD predictions: the flat report described in this module's docstring.

    Args:
        predictions: one answer string per reference row ("" counts as an answer and scores 0).
        references: dataset rows (``id``, ``task``, ``subtask``, ``answer``, ``volume_name``; closed questions also
            ``choices`` and ``answer_choice``; Task 6 ``history`` for its blind baseline).
        seed: seeds the bootstrap (and ``rouge1_bootstrap_mid``); recorded in the report.
        n_resamples: bootstrap resamples for the 95% intervals (0 leaves the intervals out).
        cluster_by: what the bootstrap resamples: ``"patient"`` (default: all volumes of a patient together, since
            reconstructions and scans of one patient share reports and labels) or ``"volume"`` (each CT volume's
            questions together); recorded in the report.
        rouge_bootstrap_mid: also report evaluate's ``rouge`` default aggregate as ``rouge1_bootstrap_mid``.
        meteor: also report METEOR (needs NLTK data present locally).
        bertscore_model: a local model folder; also report ``bertscore_f1`` with it (needs ``bert-score``).
        bertscore_layers: the model layer BERTScore reads.
        n_expected: how many questions the full split has, when scoring a subset: adds ``coverage``.
        judge: a :class:`~rad3d_hf.scoring.judge.Judge`: also judge the open answers (Tasks 1-3) with a model and
            add the ``judge_*`` keys of :mod:`rad3d_hf.scoring.judge.report`.
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
        judge=judge,
    ).metrics
