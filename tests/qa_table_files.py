"""Write small QA tables in the published CSV format, for tests."""

from __future__ import annotations

import csv
from pathlib import Path

from rad3d_hf.data.catalogue import CSV_HEADER, get_task


def closed_row(task_number: int, subtask: str, split: str, volume: str, question: str, letter: str) -> list[str]:
    task = get_task(task_number)
    options = list(task.options) + ["-"] * (4 - len(task.options))
    answer = options["ABCD".index(letter)]
    index = task.subtask(subtask).source_index[split]
    return [str(task.source_task), str(index), volume, question, answer, "Close", letter, *options]


def open_row(task_number: int, subtask: str, split: str, volume: str, question: str, answer: str) -> list[str]:
    task = get_task(task_number)
    index = task.subtask(subtask).source_index[split]
    return [str(task.source_task), str(index), volume, question, answer, "Open", "-", "-", "-", "-", "-"]


def write_table(
    root: Path, split: str, task_number: int, subtask: str, rows: list[list[str]], header=CSV_HEADER
) -> Path:
    task = get_task(task_number)
    path = root / split / task.folder / task.subtask(subtask).file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
