"""Blind baselines: what a model scores without looking at the CT volume.

- ``majority``: for every subtask, always give the subtask's most frequent answer among the scored references (the
  answer text for open questions, the option letter for closed ones). Ties go to the alphabetically first answer.
  For Task 4 this is "No" almost everywhere (82.01% on the test split).
- ``history`` (Task 6 only): read the earlier labels printed in the question and answer "A" (Refractory) if the last
  one is 1, "B" (Resolved) if any earlier one is 1, else "D" (No Abnormality): 75.92% on the test split, which is
  the bar a model that uses the images has to clear.

Both are computed from the references being scored, so they sit beside every task's score in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def majority_answer(answers: Iterable[str]) -> str:
    """The most frequent answer; ties go to the alphabetically first one."""
    counts = Counter(answers)
    if not counts:
        raise ValueError("no answers to take a majority of")
    return min(counts, key=lambda answer: (-counts[answer], answer))


def majority_by_subtask(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], str]:
    """Per (task, subtask): the majority option letter (closed questions, which have an ``answer_choice``) or answer
    text (open ones)."""
    answers: dict[tuple[int, str], list[str]] = {}
    for row in rows:
        choice = row.get("answer_choice")
        key = (int(row["task"]), row["subtask"])
        found = answers.get(key)
        if found is None:
            found = answers[key] = []
        found.append(choice if choice else row["answer"])
    return {key: majority_answer(values) for key, values in answers.items()}


def history_rule(history: Sequence[int]) -> str:
    """Task 6's text-only rule: last earlier label 1 -> "A", any earlier label 1 -> "B", else "D"."""
    if history and int(history[-1]) == 1:
        return "A"
    if any(int(label) == 1 for label in history):
        return "B"
    return "D"
