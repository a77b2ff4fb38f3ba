"""The checks every input of :func:`~rad3d_hf.scoring.score` passes before anything is scored.

Each failure is an error naming the reference (position and id) or the ids at fault: rows that are not dataset rows,
missing fields, a task that is not an integer 1-6, an unknown subtask, a closed question whose ``answer_choice`` is
outside its choices or names a choice other than its ``answer``, rows of different splits, duplicate ids, and
predictions that are not strings or hold a lone surrogate (which is not text: it could not be written as UTF-8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS, TASKS, TaskInfo
from rad3d_hf.data.volume_names import parse_volume_name

REQUIRED_FIELDS: tuple[str, ...] = ("id", "task", "subtask", "answer", "volume_name")
CLOSED_FIELDS: tuple[str, ...] = ("choices", "answer_choice")
_KNOWN_SUBTASKS = frozenset((t.number, s.name) for t in TASKS.values() for s in t.subtasks)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN = 10


def _where(position: int, row: Mapping[str, Any]) -> str:
    return f"reference {position} (id {row.get('id')!r})"


def _listing(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(repr(i) for i in ids[:_SHOWN]) + more


def task_number(value: Any, where: str) -> int:
    """The paper's task number of a reference's ``task`` field: an integer 1-6 (or its decimal string), nothing else."""
    if isinstance(value, bool) or not isinstance(value, (Integral, str)):
        raise ValueError(f"{where} has task {value!r}; a task is an integer 1-6 as in the paper")
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(f"{where} has task {value!r}; a task is an integer 1-6 as in the paper")
    number = int(value)
    if number not in TASKS:
        raise ValueError(f"{where} has task {value!r}; tasks are numbered 1-6 as in the paper")
    return number


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be scored or written as UTF-8 (a lone surrogate), or None."""
    bad = _LONE_SURROGATE.search(text)
    if bad is None:
        return None
    return f"holds a lone surrogate {bad.group()!r} at character {bad.start()}, which is not text"


def _task(position: int, row: Mapping[str, Any]) -> TaskInfo:
    number = row["task"]
    if type(number) is not int or (number, row["subtask"]) not in _KNOWN_SUBTASKS:  # the fast path: a known pair
        task = TASKS[task_number(number, _where(position, row))]
        try:
            task.subtask(str(row["subtask"]))
        except KeyError as error:
            raise ValueError(f"{_where(position, row)}: {error.args[0]}") from None
        return task
    return TASKS[number]


def _check_closed(position: int, row: Mapping[str, Any], contradictions: list[str]) -> None:
    missing = [name for name in CLOSED_FIELDS if not row.get(name)]
    if missing:
        raise ValueError(f"{_where(position, row)} is a closed question but lacks {', '.join(missing)}")
    choices = row["choices"]
    if not 2 <= len(choices) <= len(OPTION_LETTERS):
        raise ValueError(
            f"{_where(position, row)} has {len(choices)} choice{'s' if len(choices) != 1 else ''}; "
            f"a closed question has 2 to {len(OPTION_LETTERS)}"
        )
    letter = row["answer_choice"]
    if letter not in OPTION_LETTERS[: len(choices)]:
        raise ValueError(f"{_where(position, row)} has answer_choice {letter!r} outside its {len(choices)} choices")
    chosen = choices[OPTION_LETTERS.index(letter)]
    if chosen != row["answer"]:
        contradictions.append(
            f"{row['id']!r} (answer_choice {letter!r} is {chosen!r}, but its answer is {row['answer']!r})"
        )


def _split(row: Mapping[str, Any]) -> str | None:
    try:
        split = parse_volume_name(str(row["volume_name"])).split
    except ValueError:
        prefix = str(row["id"]).split("/", 1)[0]
        return prefix if prefix in ("train", "test") else None
    return "test" if split == "valid" else split  # 3D-RAD's test volumes are CT-RATE's valid ones


def check_rows(predictions: Sequence[Any], references: Sequence[Mapping[str, Any]]) -> None:
    """Raise an error naming the row or ids if the inputs cannot be scored as they are."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} references; they must pair up")
    seen: set[str] = set()
    duplicates: list[str] = []
    contradictions: list[str] = []
    splits: dict[str, list[str]] = {}
    for position, row in enumerate(references):
        if type(row) is not dict and not isinstance(row, Mapping):
            raise TypeError(f"reference {position} is a {type(row).__name__}, not a dataset row (a mapping)")
        missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
        if missing:
            raise ValueError(f"{_where(position, row)} lacks the field(s) {', '.join(missing)}")
        if not _task(position, row).is_open:
            _check_closed(position, row, contradictions)
        prediction = predictions[position]
        if type(prediction) is not str and not isinstance(prediction, str):
            raise TypeError(f"the prediction for id {row['id']!r} is a {type(prediction).__name__}, not a string")
        problem = text_problem(prediction)
        if problem is not None:
            raise ValueError(f"the prediction for id {row['id']!r} {problem}")
        split = _split(row)
        if split is not None:
            splits.setdefault(split, []).append(str(row["id"]))
        if row["id"] in seen:
            duplicates.append(str(row["id"]))
        seen.add(row["id"])
    if duplicates:
        raise ValueError(f"duplicate reference ids: {', '.join(sorted(set(duplicates)))}")
    if contradictions:
        raise ValueError(
            f"{len(contradictions)} closed reference(s) whose answer_choice names another choice than their answer: "
            + "; ".join(contradictions[:_SHOWN])
            + (f" and {len(contradictions) - _SHOWN} more" if len(contradictions) > _SHOWN else "")
        )
    if len(splits) > 1:
        by_size = sorted(splits.items(), key=lambda item: -len(item[1]))
        parts = "; ".join(f"{len(ids)} of split {split!r} (e.g. {_listing(ids[:3])})" for split, ids in by_size)
        raise ValueError(f"the references mix splits, which are scored separately: {parts}")
