"""Tasks 5 and 6 answered by reading each scan on its own: existence questions per scan, composed into a category.

A temporal category states two facts about the finding a question names: is it on the current scan
(:data:`~rad3d_hf.data.catalogue.TEMPORAL_PRESENT_NOW`) and was it on an earlier one
(:data:`~rad3d_hf.data.catalogue.TEMPORAL_PRESENT_BEFORE`). A model that reads one scan at a time can be asked both, one
Task 4 style question ("Does the CT scan demonstrate emphysema?", Yes/No) per scan of the question, and the category
follows from those definitions (:func:`~rad3d_hf.data.catalogue.temporal_letter`). This is the read-every-scan baseline
of longitudinal comparison: it needs no model of several volumes, works with any model that answers Task 4, and sets
the same model's single-scan answers beside what comparing time points gives it.

:func:`existence_questions` lists the questions (each (scan, finding) once, however many temporal questions share
it); a model answers them like any split (``examples/predict.py --compose-temporal``); :func:`compose_answers` turns
the answers into one answer per temporal question, in the option form the scoring reads (``"B. Resolved Lesion
(...)"``). An existence answer that names neither option is never guessed: the temporal answers that need it are
left empty (unread, so scored wrong) and listed in the :class:`Composition`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rad3d_hf.data.catalogue import (
    EXISTENCE_OPTIONS,
    FINDINGS,
    OPTION_LETTERS,
    TEMPORAL_TASKS,
    named_finding,
    temporal_letter,
)
from rad3d_hf.scoring.answer_extraction import extract_choice

# One of the phrasings of the published Task 4 tables ("Does the CT scan demonstrate arterial wall calcification?").
EXISTENCE_QUESTION = "Does the CT scan demonstrate {finding}?"


def existence_id(volume_name: str, finding: str) -> str:
    """The id of the existence question about ``finding`` on ``volume_name``."""
    return f"existence/{volume_name}/{finding}"


def _scans(row: Mapping[str, Any]) -> tuple[str, list[str], str]:
    """(current volume, earlier volumes, finding) of a temporal row; a ValueError names the row and what is missing."""
    row_id = row.get("id")
    if row.get("task") is None or int(row["task"]) not in TEMPORAL_TASKS:
        raise ValueError(f"row {row_id}: task {row.get('task')!r} is not a temporal task (5 or 6)")
    finding = named_finding(str(row.get("question") or ""))
    if finding is None:
        raise ValueError(
            f"row {row_id}: the question names none of the {len(FINDINGS)} findings: {row.get('question')!r}"
        )
    current = row.get("volume_name")
    if not current:
        raise ValueError(f"row {row_id}: no volume_name")
    earlier = [str(n) for n in (row.get("prior_volume_names") or [])]
    if not earlier:
        raise ValueError(
            f"row {row_id}: no earlier scans (prior_volume_names is empty), so whether {finding.lower()} was seen "
            "before cannot be read"
        )
    return str(current), earlier, finding


def existence_questions(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One closed Task 4 style question per distinct (scan, finding) of the temporal ``rows``, current and earlier.

    Each is a row the prompt and scoring code read (``id``, ``task`` 4, ``subtask`` the finding, ``question``,
    ``question_type``, ``choices``, ``volume_name``), in the order the rows first need them. A row that is not Task
    5/6, names no finding or has no earlier scans is a ValueError naming it.
    """
    questions: dict[str, dict[str, Any]] = {}
    for row in rows:
        current, earlier, finding = _scans(row)
        for volume_name in [*earlier, current]:
            key = existence_id(volume_name, finding)
            if key not in questions:
                questions[key] = {
                    "id": key,
                    "task": 4,
                    "subtask": finding,
                    "question": EXISTENCE_QUESTION.format(finding=finding.lower()),
                    "question_type": "closed",
                    "choices": list(EXISTENCE_OPTIONS),
                    "volume_name": volume_name,
                }
    return list(questions.values())


@dataclass
class Composition:
    """The composed answers (one per temporal row, in order) and the rows left unread, with the reason."""

    answers: list[str]
    unread: dict[str, str] = field(default_factory=dict)


def compose_answers(rows: Sequence[Mapping[str, Any]], existence_answers: Mapping[str, str]) -> Composition:
    """Each temporal row's category from the existence answers (``{existence id: answer text}``) about its scans.

    Present now: the current scan's answer is Yes. Present before: any earlier scan's answer is Yes; all No means
    never. A row is unread (an empty answer) when the current scan's answer, or with no earlier Yes any earlier one,
    names neither option. A missing existence answer is a KeyError naming it.
    """
    readings: dict[str, bool | None] = {}

    def reading(key: str) -> bool | None:
        if key not in readings:
            if key not in existence_answers:
                raise KeyError(f"no answer to the existence question {key!r}")
            letter = extract_choice(str(existence_answers[key]), EXISTENCE_OPTIONS).letter
            readings[key] = None if letter is None else letter == "A"
        return readings[key]

    composition = Composition(answers=[])
    for row in rows:
        current, earlier, finding = _scans(row)
        now = reading(existence_id(current, finding))
        past = [reading(existence_id(name, finding)) for name in earlier]
        before = True if any(p is True for p in past) else (None if None in past else False)
        if now is None or before is None:
            unread = current if now is None else next(n for n, p in zip(earlier, past) if p is None)
            composition.unread[str(row["id"])] = f"the answer about {finding.lower()} on {unread} names no option"
            composition.answers.append("")
            continue
        letter = temporal_letter(now, before)
        choices = list(row["choices"])
        composition.answers.append(f"{letter}. {choices[OPTION_LETTERS.index(letter)]}")
    return composition


__all__ = [
    "EXISTENCE_QUESTION",
    "Composition",
    "compose_answers",
    "existence_id",
    "existence_questions",
]
