"""Rows and predictions shared by the scoring tests: the real test split (read once) and small hand-made rows."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS, get_task


@functools.lru_cache(maxsize=1)
def _real_rows(tables: str) -> tuple[dict[str, Any], ...]:
    from rad3d_hf.data.rows import read_rows

    return tuple(read_rows(tables, "test"))


def real_test_rows(tables: Path) -> list[dict[str, Any]]:
    """Every row of the published test split (a fresh list of the cached rows; do not mutate them)."""
    return list(_real_rows(str(tables)))


def make_row(
    task: int, subtask: str, index: int, answer: str, volume: str, history: list[int] | None = None
) -> dict[str, Any]:
    """A row in the package schema; closed answers are given as their option letter."""
    info = get_task(task)
    closed = not info.is_open
    choices = list(info.options) if closed else []
    return {
        "id": f"test/task{task}/{info.subtask(subtask).slug}/{index:06d}",
        "task": task,
        "subtask": subtask,
        "question": f"question {index}",
        "answer": choices[OPTION_LETTERS.index(answer)] if closed else answer,
        "question_type": "closed" if closed else "open",
        "choices": choices,
        "answer_choice": answer if closed else "",
        "volume_name": volume,
        "history": history or [],
    }


def small_rows() -> list[dict[str, Any]]:
    """A few questions of every task, spread over 6 volumes."""
    rows = []
    volumes = [f"test_{i}_a_1" for i in range(1, 7)]
    for i in range(6):
        v = volumes[i]
        side = "left" if i % 2 else "right"
        rows.append(make_row(1, "Abnormality_type" if i % 2 else "Diagnosis", i, f"nodule in the {side} lung", v))
        rows.append(make_row(2, "Pathological_observation", i, "ground glass opacity", v))
        rows.append(make_row(3, "Diameter" if i % 2 else "Size", i, ["2 cm", "30x13 mm", "5 mm"][i % 3], v))
        rows.append(make_row(4, "Lung nodule", i, "A" if i % 3 else "B", v))
        rows.append(make_row(4, "Emphysema", i, "B", v))
        rows.append(make_row(5, "b", i, "ABCD"[i % 4], v))
        rows.append(make_row(6, "b", i, "ABCD"[i % 4], v, history=[[1], [0, 1], [0], [0, 0]][i % 4]))
    return rows
