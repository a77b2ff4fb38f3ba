"""One question scored: the rows' checks and the per-question result written to the log.

A closed question's answer is read by :mod:`~rad3d_hf.scoring.answer_extraction` and scores 1 or 0; an open one gets
its ROUGE-1 F and the three BLEU-1 counts that corpus BLEU sums (Task 3 answers are also read as measurements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rad3d_hf.catalogue import OPTION_LETTERS, TASKS, TaskInfo
from rad3d_hf.scoring.answer_extraction import extract_choice, official_correct
from rad3d_hf.scoring.measurements import compare_measurements, parse_measurement
from rad3d_hf.scoring.text_metrics import bleu1_counts, rouge1_fmeasure

REQUIRED_FIELDS: tuple[str, ...] = ("id", "task", "subtask", "answer", "volume_name")
CLOSED_FIELDS: tuple[str, ...] = ("choices", "answer_choice")


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


_KNOWN_SUBTASKS = frozenset((t.number, s.name) for t in TASKS.values() for s in t.subtasks)


def _where(position: int, row: Mapping[str, Any]) -> str:
    return f"reference {position} (id {row.get('id')!r})"


def check_rows(predictions: Sequence[Any], references: Sequence[Mapping[str, Any]]) -> None:
    """Raise an error naming the row or id if the inputs cannot be scored as they are."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} references; they must pair up")
    seen: set[str] = set()
    duplicates: list[str] = []
    for position, row in enumerate(references):
        if type(row) is not dict and not isinstance(row, Mapping):
            raise TypeError(f"reference {position} is a {type(row).__name__}, not a dataset row (a mapping)")
        missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
        if missing:
            raise ValueError(f"{_where(position, row)} lacks the field(s) {', '.join(missing)}")
        task = TASKS.get(row["task"])
        if task is None or (task.number, row["subtask"]) not in _KNOWN_SUBTASKS:
            task = TASKS.get(int(row["task"])) if str(row["task"]).isdigit() else None
            if task is None:
                raise ValueError(
                    f"{_where(position, row)} has task {row['task']!r}; tasks are numbered 1-6 as in the paper"
                )
            try:
                task.subtask(str(row["subtask"]))
            except KeyError as error:
                raise ValueError(f"{_where(position, row)}: {error.args[0]}") from None
        if not task.is_open:
            missing = [name for name in CLOSED_FIELDS if not row.get(name)]
            if missing:
                raise ValueError(f"{_where(position, row)} is a closed question but lacks {', '.join(missing)}")
            n_choices = len(row["choices"])
            if not 2 <= n_choices <= len(OPTION_LETTERS):
                raise ValueError(
                    f"{_where(position, row)} has {n_choices} choice{'s' if n_choices != 1 else ''}; "
                    f"a closed question has 2 to {len(OPTION_LETTERS)}"
                )
            if row["answer_choice"] not in OPTION_LETTERS[: len(row["choices"])]:
                raise ValueError(
                    f"{_where(position, row)} has answer_choice {row['answer_choice']!r} "
                    f"outside its {len(row['choices'])} choices"
                )
        prediction = predictions[position]
        if type(prediction) is not str and not isinstance(prediction, str):
            raise TypeError(f"the prediction for id {row['id']!r} is a {type(prediction).__name__}, not a string")
        if row["id"] in seen:
            duplicates.append(str(row["id"]))
        seen.add(row["id"])
    if duplicates:
        raise ValueError(f"duplicate reference ids: {', '.join(sorted(set(duplicates)))}")


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
            reference = parse_measurement(result.answer)
            measured = parse_measurement(prediction)
            result.parsed = None if measured is None else str(measured)
            result.details["reference_measurement"] = None if reference is None else str(reference)
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
