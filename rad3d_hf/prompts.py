"""Question prompts and answer targets for generative models, built from dataset rows.

The format follows the 3D-RAD evaluation code for M3D-LaMed: the question, for closed questions a line
``Choices: A. Yes B. No`` (or the four temporal options), and a final line ``Answer:``. The target a model is trained
to produce is ``"<letter>. <option>"`` for closed questions (``"B. No"``) and the answer text for open ones. Unlike the
published script, open questions get no ``Choices: A. - B. - ...`` line: they have no options.

A Tasks 5/6 target may first state the two facts its category combines (:func:`temporal_facts`), for a model that
reads the earlier scans: ``"Earlier scans: Yes. Current scan: No. B. Resolved Lesion (...)"``. The scoring reads
the option letter after them.

Only the row fields ``id``, ``task``, ``question``, ``question_type``, ``choices``, ``answer`` and ``answer_choice``
are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS, TEMPORAL_PRESENT_BEFORE, TEMPORAL_PRESENT_NOW, TEMPORAL_TASKS

ANSWER_CUE = "Answer:"
# Task 6's label list ("[0, 1]") and the note explaining it, as the published questions print them.
_LABEL_LIST = re.compile(r"\[\s*[01](?:\s*,\s*[01])*\s*\]")
_LABEL_NOTE = re.compile(r"\s*\(Note: 0 indicates absence, and 1 indicates presence\.\)", re.IGNORECASE)
HISTORY_PLACEHOLDER = "(see the earlier scans)"


def _row_id(row: Mapping[str, Any]) -> str:
    return str(row.get("id", "<row without id>"))


def _require(row: Mapping[str, Any], field: str) -> Any:
    if field not in row:
        raise KeyError(f"row {_row_id(row)}: missing field {field!r} needed to build a prompt")
    return row[field]


def choices_line(choices: list[str] | tuple[str, ...]) -> str:
    """``Choices: A. <first> B. <second> ...`` for a list of options."""
    if len(choices) > len(OPTION_LETTERS):
        raise ValueError(f"at most {len(OPTION_LETTERS)} choices are supported, got {len(choices)}: {choices!r}")
    return "Choices: " + " ".join(f"{letter}. {text}" for letter, text in zip(OPTION_LETTERS, choices))


def question_prompt(row: Mapping[str, Any]) -> str:
    """The text a model sees for ``row`` (without image tokens), ending with ``\\nAnswer:``."""
    question = str(_require(row, "question")).strip()
    if not question:
        raise ValueError(f"row {_row_id(row)}: empty question")
    question_type = _require(row, "question_type")
    if question_type == "closed":
        choices = list(_require(row, "choices"))
        if not choices:
            raise ValueError(f"row {_row_id(row)}: closed question without choices")
        return f"{question}\n{choices_line(choices)}\n{ANSWER_CUE}"
    if question_type == "open":
        return f"{question}\n{ANSWER_CUE}"
    raise ValueError(f"row {_row_id(row)}: question_type must be 'open' or 'closed', got {question_type!r}")


def question_without_history(row: Mapping[str, Any]) -> str:
    """A Task 6 question with its earlier labels left out, for a model that is shown the earlier scans instead.

    The label list becomes ``(see the earlier scans)`` and the note explaining 0/1 goes: ``"Earlier readings for
    emphysema: [0, 1]. (Note: 0 indicates absence, and 1 indicates presence.) How should ..."`` ->
    ``"Earlier readings for emphysema: (see the earlier scans). How should ..."``. A question without a label list is
    a ValueError naming the row.
    """
    question = str(_require(row, "question"))
    if _LABEL_LIST.search(question) is None:
        raise ValueError(f"row {_row_id(row)}: no earlier-label list like [0, 1] in the question to leave out")
    return _LABEL_NOTE.sub("", _LABEL_LIST.sub(HISTORY_PLACEHOLDER, question, count=1))


def temporal_facts(row: Mapping[str, Any]) -> str:
    """The two facts a Task 5/6 answer's category combines, as text: ``"Earlier scans: Yes. Current scan: No."``.

    Read from ``answer_choice`` by the catalogue's definitions (present now: A, C; present before: A, B). A row of
    another task is a ValueError naming it.
    """
    if int(_require(row, "task")) not in TEMPORAL_TASKS or _require(row, "question_type") != "closed":
        raise ValueError(f"row {_row_id(row)}: only closed Task 5/6 questions have temporal facts")
    letter = str(_require(row, "answer_choice"))
    if letter not in OPTION_LETTERS[: len(_require(row, "choices"))]:
        raise ValueError(f"row {_row_id(row)}: answer_choice {letter!r} is not one of the options")

    def said(present: bool) -> str:
        return "Yes" if present else "No"

    before, now = letter in TEMPORAL_PRESENT_BEFORE, letter in TEMPORAL_PRESENT_NOW
    return f"Earlier scans: {said(before)}. Current scan: {said(now)}."


def target_text(row: Mapping[str, Any], *, with_temporal_facts: bool = False) -> str:
    """The answer a model is trained to produce: ``"B. No"`` for closed questions, the answer text for open ones.

    ``with_temporal_facts`` puts :func:`temporal_facts` before the option of a closed Task 5/6 question (other rows
    are unchanged).
    """
    if with_temporal_facts and _require(row, "question_type") == "closed" and int(row.get("task", 0)) in TEMPORAL_TASKS:
        return temporal_facts(row) + " " + target_text(row)
    if _require(row, "question_type") == "closed":
        letter = str(_require(row, "answer_choice"))
        choices = list(_require(row, "choices"))
        if letter not in OPTION_LETTERS[: len(choices)]:
            raise ValueError(
                f"row {_row_id(row)}: answer_choice {letter!r} is not one of {list(OPTION_LETTERS[: len(choices)])}"
            )
        return f"{letter}. {choices[OPTION_LETTERS.index(letter)]}"
    answer = str(_require(row, "answer")).strip()
    if not answer:
        raise ValueError(f"row {_row_id(row)}: open question with an empty answer")
    return answer
