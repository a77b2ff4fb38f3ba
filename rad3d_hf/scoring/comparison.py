"""Does the image reach the answer? A model's scores beside the same model with blanked volumes and a blind answer.

``majority_answers(rows)`` is the blind answer sheet: for each question the most common reference answer of its
subtask (ties to the first in text order), i.e. the best any model can do that reads
neither image nor question. ``format_comparison`` prints one headline metric per task for several reports side by
side. A model that reads the image beats both the blanked run and the blind one; a model that learnt only the answer
prior scores about the same in all three columns.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rad3d_hf.data.catalogue import TASKS

# The metric a task is judged by in the comparison: balanced accuracy for Task 4, whose files are mostly "No".
HEADLINE: dict[int, str] = {1: "rouge1", 2: "rouge1", 3: "rouge1", 4: "balanced_accuracy", 5: "accuracy", 6: "accuracy"}
_LABELS = {"rouge1": "ROUGE-1", "balanced_accuracy": "balanced accuracy", "accuracy": "accuracy"}


def _answer_text(row: Mapping[str, Any]) -> str:
    if row.get("question_type") == "closed" and row.get("answer_choice"):
        return f"{row['answer_choice']}. {row['answer']}"
    return str(row["answer"])


def majority_answers(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The blind prediction for each row: its subtask's most common reference answer."""
    by_subtask: dict[tuple[int, str], Counter[str]] = {}
    for row in rows:
        by_subtask.setdefault((int(row["task"]), str(row["subtask"])), Counter())[_answer_text(row)] += 1

    # the most common answer; ties go to the first in text order ("A. Yes" before "B. No")
    chosen = {key: min(counter, key=lambda a: (-counter[a], a)) for key, counter in by_subtask.items()}
    return [chosen[(int(row["task"]), str(row["subtask"]))] for row in rows]


def format_comparison(reports: Mapping[str, Mapping[str, Any]], *, title: str = "") -> str:
    """One row per task present in the first report: its headline metric in each report, in percent."""
    names = list(reports)
    first = reports[names[0]]
    width = max(len(n) for n in names)
    head = f"{'task':<38} {'metric':<18} " + " ".join(f"{n:>{max(width, 8)}}" for n in names)
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for number, task in TASKS.items():
        key = f"task{number}/{HEADLINE[number]}"
        if key not in first:
            continue
        values = " ".join(f"{_pct(report.get(key)):>{max(width, 8)}}" for report in reports.values())
        lines.append(f"{f'{number} {task.name}':<38} {_LABELS[HEADLINE[number]]:<18} {values}")
    return "\n".join(lines)


def _pct(value: Any) -> str:
    if value is None or math.isnan(float(value)):
        return "-"
    return f"{100 * float(value):.1f}"


__all__ = ["HEADLINE", "format_comparison", "majority_answers"]
