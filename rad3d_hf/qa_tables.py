"""Read and validate the published 3D-RAD QA tables into rows of the package's schema.

The tables live under ``<data_dir>/<split>/<Task folder>/<Subtask>.csv`` (see :mod:`rad3d_hf.catalogue`); ``data_dir``
is a local folder or any fsspec URL (the default is the Hub dataset ``hf://datasets/Tang-xiaoxiao/3D-RAD``). Every check
failure raises :class:`QATableError` naming the file, line and column; nothing is dropped or repaired. The published
quirks are kept because they are part of the benchmark (the 9 duplicated rows of test ``Size.csv`` get distinct ids,
since an id is the row's position in its file).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from rad3d_hf.catalogue import (
    CSV_HEADER,
    EMPTY_FIELD,
    OPTION_LETTERS,
    SOURCE_QUESTION_TYPES,
    Subtask,
    TaskInfo,
    get_config,
)
from rad3d_hf.volume_names import VolumeName, parse_volume_name

DEFAULT_DATA_DIR = "hf://datasets/Tang-xiaoxiao/3D-RAD"
_HISTORY = re.compile(r"\[\s*([01](?:\s*,\s*[01])*)\s*\]")


class QATableError(ValueError):
    """A QA table that does not follow the published format; the message names file, line and column."""

    def __init__(self, path: str, line: int, column: str | None, problem: str) -> None:
        self.path, self.line, self.column, self.problem = path, line, column, problem
        where = f"{path}, line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SourceFile:
    """One QA table: the (task, subtask) it holds, in which split, and where it is."""

    task: TaskInfo
    subtask: Subtask
    split: str
    path: str


def source_file_path(data_dir: str, split: str, task: TaskInfo, subtask: Subtask) -> str:
    return f"{str(data_dir).rstrip('/')}/{split}/{task.folder}/{subtask.file_name}"


def source_files(data_dir: str, split: str, config: str = "all") -> list[SourceFile]:
    """The tables that ``config`` reads in ``split``, in catalogue order."""
    spec = get_config(config)
    if split not in spec.splits:
        raise ValueError(f"config {config!r} has no {split!r} split; it offers {', '.join(spec.splits)}")
    return [SourceFile(t, s, split, source_file_path(data_dir, split, t, s)) for t, s in spec.files(split)]


def table_exists(path: str) -> bool:
    """Whether a table exists at ``path`` (local or fsspec URL)."""
    fs, inner = fsspec.core.url_to_fs(path)
    return bool(fs.isfile(inner))


def parse_history(question: str) -> list[int]:
    """The earlier labels a Task 6 question quotes, e.g. ``"... as: [0, 1]. (Note: ..."`` -> ``[0, 1]``."""
    match = _HISTORY.search(question)
    if match is None:
        return []
    return [int(x) for x in match.group(1).split(",")]


def _open_text(path: str) -> io.TextIOBase:
    try:
        return fsspec.open(path, "r", encoding="utf-8-sig", newline="").open()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"QA table {path} not found; point data_dir at a folder holding the 3D-RAD 'train/' and 'test/' tables "
            f"(the published CSVs: {DEFAULT_DATA_DIR})"
        ) from None


def read_table(source: SourceFile) -> Iterator[dict[str, Any]]:
    """Validated rows of one table, without prior volumes (see :func:`read_rows`)."""
    with _open_text(source.path) as handle:
        yield from _rows_from_csv(handle, source)


def _rows_from_csv(lines: Iterable[str], source: SourceFile) -> Iterator[dict[str, Any]]:
    task, subtask, path, split = source.task, source.subtask, source.path, source.split
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise QATableError(path, 1, None, "empty file; expected the header " + ",".join(CSV_HEADER))
    if tuple(header) != CSV_HEADER:
        for i, expected in enumerate(CSV_HEADER):
            found = header[i] if i < len(header) else "<missing>"
            if found != expected:
                raise QATableError(path, 1, expected, f"header column {i + 1} is {found!r}; expected {expected!r}")
        raise QATableError(path, 1, None, f"header has {len(header)} columns; expected {len(CSV_HEADER)}")
    expected_type = "Open" if task.is_open else "Close"
    expected_subtask = str(subtask.source_index[split])
    id_prefix = f"{split}/task{task.number}/{subtask.slug}/"
    for index, fields in enumerate(reader):
        line = reader.line_num

        def fail(column: str | None, problem: str, line: int = line) -> QATableError:
            return QATableError(path, line, column, problem)

        if len(fields) != len(CSV_HEADER):
            raise fail(None, f"row has {len(fields)} fields; expected {len(CSV_HEADER)}")
        task_col, subtask_col, volume, question, answer, qtype, letter, *options = fields
        if task_col != str(task.source_task):
            raise fail("Task", f"Task {task_col!r} does not belong in {task.folder} (expected {task.source_task})")
        if subtask_col != expected_subtask:
            raise fail(
                "Subtask",
                f"Subtask {subtask_col!r} is not {subtask.name!r} of the {split} split (expected {expected_subtask})",
            )
        if qtype != expected_type:
            known = f"{expected_type!r} for task {task.number}" if qtype in SOURCE_QUESTION_TYPES else "Open or Close"
            raise fail("QuestionType", f"QuestionType {qtype!r}; expected {known}")
        if not question.strip():
            raise fail("Question", "empty question")
        if not answer.strip():
            raise fail("Answer", "empty answer")
        try:
            name = parse_volume_name(volume)
        except ValueError as error:
            raise fail("VolumeName", str(error)) from None
        if name.split != split:
            raise fail("VolumeName", f"volume {volume!r} is not from the {split} split")
        if task.is_open:
            for column, value in zip(CSV_HEADER[6:], (letter, *options)):
                if value != EMPTY_FIELD:
                    raise fail(column, f"open question with {column} {value!r}; expected {EMPTY_FIELD!r}")
            choices: list[str] = []
            letter = ""
        else:
            choices = [o for o in options if o != EMPTY_FIELD]
            if tuple(choices) != task.options or options[len(choices) :] != [EMPTY_FIELD] * (4 - len(choices)):
                raise fail("Choice A", f"options {options!r} are not task {task.number}'s {list(task.options)!r}")
            if letter not in OPTION_LETTERS[: len(choices)]:
                raise fail("AnswerChoice", f"AnswerChoice {letter!r} names none of the options A-{OPTION_LETTERS[len(choices) - 1]}")
            if choices[OPTION_LETTERS.index(letter)] != answer:
                raise fail(
                    "AnswerChoice",
                    f"AnswerChoice {letter!r} is {choices[OPTION_LETTERS.index(letter)]!r} but Answer is {answer!r}",
                )
        history: list[int] = []
        if task.number == 6:
            history = parse_history(question)
            if len(history) != name.scan_index:
                raise fail(
                    "Question",
                    f"Task 6 history {history} has {len(history)} labels; scan {name.scan!r} needs {name.scan_index}",
                )
        yield {
            "id": f"{id_prefix}{index:06d}",
            "task": task.number,
            "task_name": task.name,
            "subtask": subtask.name,
            "source_task": task.source_task,
            "question": question,
            "answer": answer,
            "question_type": task.question_type,
            "choices": choices,
            "answer_choice": letter,
            "volume_name": name.stem,
            "patient_id": name.patient_id,
            "scan": name.scan,
            "reconstruction": name.reconstruction,
            "history": history,
        }


def _volume_column(source: SourceFile) -> Iterator[str]:
    try:
        handle = _open_text(source.path)
    except FileNotFoundError:
        return  # a table the user does not have holds no earlier scans to point at
    with handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            if len(fields) > 2:
                yield fields[2]


@functools.lru_cache(maxsize=8)
def split_volume_index(data_dir: str, split: str) -> dict[int, dict[str, tuple[int, ...]]]:
    """Every volume named anywhere in a split's tables: patient -> scan letter -> reconstructions (sorted).

    Tables absent from ``data_dir`` are left out, so a folder holding only some tasks still loads."""
    volumes: set[str] = set()
    for source in source_files(data_dir, split, "all"):
        volumes.update(_volume_column(source))
    found: dict[int, dict[str, set[int]]] = {}
    for volume in volumes:
        try:
            name = parse_volume_name(volume)
        except ValueError:
            continue  # reported with its line when that table's rows are read
        found.setdefault(name.patient_id, {}).setdefault(name.scan, set()).add(name.reconstruction)
    return {pid: {scan: tuple(sorted(recs)) for scan, recs in scans.items()} for pid, scans in found.items()}


def prior_volume_names(name: VolumeName, index: dict[int, dict[str, tuple[int, ...]]]) -> list[str]:
    """Earlier scans of the same patient in the split, oldest first: one volume per earlier scan letter, the same
    reconstruction number when that scan has it, else its lowest."""
    out = []
    for scan, recs in sorted(index.get(name.patient_id, {}).items()):
        if scan >= name.scan:
            continue
        rec = name.reconstruction if name.reconstruction in recs else recs[0]
        out.append(VolumeName(name.split, name.patient_id, scan, rec).stem)
    return out


def read_rows(data_dir: str | None, split: str, config: str = "all") -> Iterator[dict[str, Any]]:
    """Rows of ``config`` in ``split`` in the package's schema (no ``volume``), in catalogue and file order."""
    data_dir = str(data_dir or DEFAULT_DATA_DIR)
    index = split_volume_index(data_dir, split)
    priors: dict[str, list[str]] = {}
    for source in source_files(data_dir, split, config):
        for row in read_table(source):
            stem = row["volume_name"]
            if stem not in priors:
                priors[stem] = prior_volume_names(parse_volume_name(stem), index)
            row["prior_volume_names"] = list(priors[stem])
            yield row
