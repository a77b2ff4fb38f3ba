"""One question scored: the per-question result written to the log (the rows' checks are in ``row_checks``).

A closed question's answer is read by :mod:`~rad3d_hf.scoring.answer_extraction` and scores 1 or 0; an open one gets
its ROUGE-1 F and the three BLEU-1 counts that corpus BLEU sums (Task 3 answers are also read as measurements, up to
:data:`~rad3d_hf.scoring.measurements.MAX_MEASUREMENT_TEXT` characters: a longer answer's record holds
``measurement_unread``, a longer reference's ``reference_measurement_unread``, saying why; ROUGE-1 and BLEU-1 read it
whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rad3d_hf.data.catalogue import TaskInfo
from rad3d_hf.scoring.answer_extraction import extract_choice, official_correct
from rad3d_hf.scoring.measurements import compare_measurements, read_measurement
from rad3d_hf.scoring.row_checks import CLOSED_FIELDS, REQUIRED_FIELDS, check_rows
from rad3d_hf.scoring.text_metrics import bleu1_counts, rouge1_fmeasure

__all__ = ["CLOSED_FIELDS", "REQUIRED_FIELDS", "QuestionResult", "check_rows", "score_question"]


@dataclass(slots=True)
class QuestionResult:
    """One scored question, as written to the per-question log."""

    id: str
    task: int
    subtask: str
    volume_name: str
    prediction: str
    answer: str
    parsed: str | None
    rule: str | None
    score: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "subtask": self.subtask,
            "prediction": self.prediction,
            "answer": self.answer,
            "parsed": self.parsed,
            "rule": self.rule,
            "score": self.score,
            **self.details,
        }


def score_question(prediction: str, row: Mapping[str, Any], task: TaskInfo) -> QuestionResult:
    """Score one prediction against its (checked) row."""
    # rows come from datasets or JSON, so their fields are str already; the scorer's checks guarantee they exist
    result = QuestionResult(
        row["id"], task.number, row["subtask"], row["volume_name"], prediction, row["answer"], None, None, 0.0
    )
    if task.is_open:
        result.score = rouge1_fmeasure(prediction, result.answer)
        matches, hyp_len, ref_len = bleu1_counts(prediction, result.answer)
        result.details = {
            "rouge1": result.score,
            "bleu1_matches": matches,
            "bleu1_hyp_len": hyp_len,
            "bleu1_ref_len": ref_len,
        }
        if task.number == 3:
            reference, reference_unread = read_measurement(result.answer)
            measured, unread = read_measurement(prediction)
            result.parsed = None if measured is None else str(measured)
            result.details["reference_measurement"] = None if reference is None else str(reference)
            if unread is not None:
                result.details["measurement_unread"] = unread
            if reference_unread is not None:
                result.details["reference_measurement_unread"] = reference_unread
            if reference is not None and measured is not None:
                comparison = compare_measurements(measured, reference)
                result.details.update(
                    measurement_exact=comparison.exact,
                    abs_error_mm=comparison.absolute_error,
                    rel_error=comparison.relative_error,
                )
        return result
    choice = row["answer_choice"]
    extraction = extract_choice(prediction, row["choices"])
    result.parsed = extraction.letter
    result.rule = extraction.rule
    result.score = 1.0 if extraction.letter == choice else 0.0
    result.details = {"answer_choice": choice, "correct_official": official_correct(prediction, choice)}
    return result
