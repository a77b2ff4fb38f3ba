"""One QA table, from finding it to its checked columns: where the tables are (paths per split and config,
existence), opening them (text with named encoding errors), their content digests (so caches notice a table edited in
place), and reading one into validated columns.

The tables live under ``<data_dir>/<split>/<Task folder>/<Subtask>.csv`` (see :mod:`rad3d_hf.data.catalogue`);
``data_dir`` is a local folder or any fsspec URL (the default is the Hub dataset ``hf://datasets/Tang-xiaoxiao/3D-RAD``).
Every check failure raises :class:`QATableError` naming the file, line and column; nothing is dropped or repaired. The
published quirks are kept because they are part of the benchmark (the 9 duplicated rows of test ``Size.csv`` get
distinct ids, since an id is the row's position in its file). A table with a header and no rows is an error (every
published table holds questions), unless its folder declares it empty (:func:`declared_empty`).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from rad3d_hf.data.catalogue import (
    CSV_HEADER,
    EMPTY_FIELD,
    OPTION_LETTERS,
    SOURCE_QUESTION_TYPES,
    Subtask,
    TaskInfo,
    get_config,
)
from rad3d_hf.data.volume_names import VolumeName, parse_volume_name

DEFAULT_DATA_DIR = "hf://datasets/Tang-xiaoxiao/3D-RAD"


class QATableError(ValueError):
    """A QA table that does not follow the published format; the message names file, line and column."""

    def __init__(self, path: str, line: int | None, column: str | None, problem: str) -> None:
        self.path, self.line, self.column, self.problem = path, line, column, problem
        where = path + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
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
    """Whether something exists at ``path`` (local or fsspec URL): a file, or a folder or broken link that reading
    then names as such, rather than reporting the table as missing."""
    fs, inner = fsspec.core.url_to_fs(path)
    if fs.isfile(inner) or fs.exists(inner):
        return True
    return "://" not in path and os.path.lexists(inner)


def open_text(path: str) -> io.TextIOBase:
    try:
        if "://" not in path and os.path.islink(path) and not os.path.exists(path):
            raise OSError(errno.ELOOP if _is_link_loop(path) else errno.ENOENT, "a broken symbolic link")
        return fsspec.open(path, "r", encoding="utf-8-sig", newline="").open()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"QA table {path} not found; point data_dir at a folder holding the 3D-RAD 'train/' and 'test/' tables "
            f"(the published CSVs: {DEFAULT_DATA_DIR})"
        ) from None
    except IsADirectoryError:
        raise QATableError(path, None, None, "is a folder, not a CSV file") from None
    except OSError as error:
        raise QATableError(path, None, None, f"cannot be opened: {error.strerror or error}") from None


def _is_link_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def not_utf8(path: str) -> QATableError:
    """The error for a table that is not UTF-8 text, naming the line and byte of the first invalid sequence."""
    with fsspec.open(path, "rb") as handle:
        data = handle.read()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return QATableError(path, None, None, "not UTF-8 text: it is UTF-16 (byte order mark); save it as UTF-8")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        problem = f"not UTF-8 text: byte {data[error.start]:#04x} at byte {column} of the line"
        return QATableError(path, line, None, problem)
    return QATableError(path, None, None, "not UTF-8 text")


def tables_digest(data_dir: str, splits: Iterable[str] = ("train", "test")) -> str:
    """A digest of the content of every table ``splits`` can hold under a local ``data_dir`` (absent ones count as
    absent): hashed byte for byte (BLAKE2b: 0.2-0.4 s for the 27 MB of published tables on a 2-core machine), so a table edited in place
    is noticed even when its size and modification time are restored.

    A remote ``data_dir`` (an fsspec URL) is not downloaded to be hashed: its digest is its URL, so pin a revision
    (``hf://datasets/Tang-xiaoxiao/3D-RAD@<commit>``) to make it exact."""
    digest = hashlib.blake2b(digest_size=16)
    if "://" in data_dir:
        digest.update(f"remote:{data_dir}".encode())
        return digest.hexdigest()
    for split in splits:
        for source in source_files(data_dir, split, "all"):
            digest.update(f"{split}/{source.task.folder}/{source.subtask.file_name}\0".encode())
            digest.update(file_digest(source.path).encode() + b"\0")
    return digest.hexdigest()


def file_digest(path: str) -> str:
    """BLAKE2b of a local file's bytes, ``"absent"`` when there is none; a remote file's digest is its URL."""
    if "://" in path:
        return hashlib.blake2b(f"remote:{path}".encode(), digest_size=16).hexdigest()
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except FileNotFoundError:
        return "absent"
    except OSError as error:  # a folder or a link loop: reading the table names it
        return f"unreadable-{error.errno}"
    return digest.hexdigest()


_HISTORY = re.compile(r"\[\s*([01](?:\s*,\s*[01])*)\s*\]")


def parse_history(question: str) -> list[int]:
    """The earlier labels a Task 6 question quotes, e.g. ``"... as: [0, 1]. (Note: ..."`` -> ``[0, 1]``."""
    match = _HISTORY.search(question)
    if match is None:
        return []
    return [int(x) for x in match.group(1).split(",")]


def read_table(source: SourceFile) -> Iterator[dict[str, Any]]:
    """Validated rows of one table, without prior volumes (see :func:`read_rows`)."""
    yield from rows_of(read_table_columns(source))


def rows_of(columns: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Column lists as row dicts; list fields are copied because the columns share them between rows."""
    names = list(columns)
    list_fields = [n for n in ("choices", "history", "prior_volume_names") if n in columns]
    for values in zip(*columns.values()):
        row = dict(zip(names, values))
        for name in list_fields:
            row[name] = list(row[name])
        yield row


def read_table_columns(source: SourceFile) -> dict[str, list[Any]]:
    """Validated rows of one table as columns of the row schema (without prior volumes).

    Checks run column by column and only look for the offending row once a check fails, which keeps reading all
    170,105 published rows to about a second."""
    with open_text(source.path) as handle:
        reader = csv.reader(handle)
        try:
            _check_header(source.path, next(reader, None))
            records = list(reader)
        except UnicodeDecodeError:
            raise not_utf8(source.path) from None
        except csv.Error as error:  # e.g. a field over the csv module's size limit
            raise QATableError(source.path, reader.line_num, None, f"not a readable CSV row: {error}") from None
    return _validated_columns(source, records)


def _line_of(path: str, index: int) -> int:
    """Line number of data row ``index``, found by re-reading: a quoted field may span lines."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        for i, _ in enumerate(reader):
            if i == index + 1:
                return reader.line_num
    return index + 2


def _check_header(path: str, header: list[str] | None) -> None:
    if header is None:
        raise QATableError(path, 1, None, "empty file; expected the header " + ",".join(CSV_HEADER))
    if tuple(header) != CSV_HEADER:
        for i, expected in enumerate(CSV_HEADER):
            found = header[i] if i < len(header) else "<missing>"
            if found != expected:
                raise QATableError(path, 1, expected, f"header column {i + 1} is {found!r}; expected {expected!r}")
        raise QATableError(path, 1, None, f"header has {len(header)} columns; expected {len(CSV_HEADER)}")


def _validated_columns(source: SourceFile, records: list[list[str]]) -> dict[str, list[Any]]:
    task, subtask, path, split = source.task, source.subtask, source.path, source.split
    n = len(records)

    def first_bad(values: Iterable[Any], ok: Any) -> int:
        return next(i for i, v in enumerate(values) if not ok(v))

    def fail(i: int, column: str | None, problem: str) -> QATableError:
        return QATableError(path, _line_of(path, i), column, problem)

    if any(len(f) != len(CSV_HEADER) for f in records):
        i = first_bad(records, lambda f: len(f) == len(CSV_HEADER))
        raise fail(i, None, f"row has {len(records[i])} fields; expected {len(CSV_HEADER)}")
    if n == 0:
        return {name: [] for name in _COLUMN_NAMES}
    task_col, subtask_col, volumes, questions, answers, qtypes, letters, *options = map(list, zip(*records))

    expected_subtask = str(subtask.source_index[split])
    if set(task_col) != {str(task.source_task)}:
        i = first_bad(task_col, lambda v: v == str(task.source_task))
        raise fail(i, "Task", f"Task {task_col[i]!r} does not belong in {task.folder} (expected {task.source_task})")
    if set(subtask_col) != {expected_subtask}:
        i = first_bad(subtask_col, lambda v: v == expected_subtask)
        problem = (
            f"Subtask {subtask_col[i]!r} is not {subtask.name!r} of the {split} split (expected {expected_subtask})"
        )
        raise fail(i, "Subtask", problem)
    expected_type = "Open" if task.is_open else "Close"
    if set(qtypes) != {expected_type}:
        i = first_bad(qtypes, lambda v: v == expected_type)
        known = f"{expected_type!r} for task {task.number}" if qtypes[i] in SOURCE_QUESTION_TYPES else "Open or Close"
        raise fail(i, "QuestionType", f"QuestionType {qtypes[i]!r}; expected {known}")
    for column, values in (("Question", questions), ("Answer", answers)):
        if not all(v.strip() for v in values):
            raise fail(first_bad(values, str.strip), column, f"empty {column.lower()}")

    parsed: dict[str, VolumeName] = {}
    for volume in set(volumes):
        try:
            name = table_volume_name(volume)
        except ValueError as error:
            raise fail(volumes.index(volume), "VolumeName", str(error)) from None
        if name.split != split:
            raise fail(volumes.index(volume), "VolumeName", f"volume {volume!r} is not from the {split} split")
        parsed[volume] = name
    names = [parsed[v] for v in volumes]
    parts = {v: (p.stem, p.patient_id, p.scan, p.reconstruction) for v, p in parsed.items()}
    stems, patients, scans, reconstructions = map(list, zip(*(parts[v] for v in volumes)))

    padded = tuple(task.options) + (EMPTY_FIELD,) * (4 - len(task.options))
    if task.is_open:
        padded = (EMPTY_FIELD,) * 4
        if set(letters) != {EMPTY_FIELD}:
            i = first_bad(letters, lambda v: v == EMPTY_FIELD)
            raise fail(i, "AnswerChoice", f"open question with AnswerChoice {letters[i]!r}; expected {EMPTY_FIELD!r}")
    for column, values, expected in zip(CSV_HEADER[7:], options, padded):
        if set(values) != {expected}:
            i = first_bad(values, lambda v, expected=expected: v == expected)
            what = "open question" if task.is_open else f"task {task.number} option"
            raise fail(i, column, f"{what} {column} is {values[i]!r}; expected {expected!r}")
    if task.is_open:
        letters = [""] * n
        choices: list[list[str]] = [[]] * n
    else:
        answer_of = dict(zip(OPTION_LETTERS, task.options))
        for i, (letter, answer) in enumerate(zip(letters, answers)):
            if letter not in answer_of:
                last = OPTION_LETTERS[len(task.options) - 1]
                raise fail(i, "AnswerChoice", f"AnswerChoice {letter!r} names none of the options A-{last}")
            if answer_of[letter] != answer:
                raise fail(
                    i, "AnswerChoice", f"AnswerChoice {letter!r} is {answer_of[letter]!r} but Answer is {answer!r}"
                )
        choices = [list(task.options)] * n

    histories: list[list[int]] = [[]] * n
    if task.number == 6:
        histories = [parse_history(q) for q in questions]
        for i, (history, name) in enumerate(zip(histories, names)):
            if len(history) != name.scan_index:
                problem = (
                    f"Task 6 history {history} has {len(history)} labels; scan {name.scan!r} needs {name.scan_index}"
                )
                raise fail(i, "Question", problem)

    id_prefix = f"{split}/task{task.number}/{subtask.slug}/"
    return {
        "id": [f"{id_prefix}{i:06d}" for i in range(n)],
        "task": [task.number] * n,
        "task_name": [task.name] * n,
        "subtask": [subtask.name] * n,
        "source_task": [task.source_task] * n,
        "question": questions,
        "answer": answers,
        "question_type": [task.question_type] * n,
        "choices": choices,
        "answer_choice": letters,
        "volume_name": stems,
        "patient_id": patients,
        "scan": scans,
        "reconstruction": reconstructions,
        "history": histories,
    }


_COLUMN_NAMES = (
    "id", "task", "task_name", "subtask", "source_task", "question", "answer", "question_type", "choices",
    "answer_choice", "volume_name", "patient_id", "scan", "reconstruction", "history",
)  # fmt: skip


def table_volume_name(value: str) -> VolumeName:
    """A table's ``VolumeName`` as published: a canonical name with the ``.nii.gz`` suffix; ValueError otherwise."""
    if not value.endswith(".nii.gz"):
        raise ValueError(f"volume name {value!r} lacks the published '.nii.gz' suffix")
    return parse_volume_name(value)


def declared_empty(data_dir: str) -> frozenset[str]:
    """The paths of the tables ``data_dir/manifest.json`` lists under ``"tables"`` with 0 questions, as the demo source
    declares the subtasks it leaves empty (none without a manifest). Read once, where a table turns out empty."""
    root = data_dir.rstrip("/")
    try:
        with fsspec.open(f"{root}/manifest.json", "rt", encoding="utf-8") as handle:
            declared = json.load(handle).get("tables") or {}
    except (OSError, ValueError, AttributeError):
        return frozenset()
    if not isinstance(declared, dict):
        return frozenset()
    return frozenset(f"{root}/{relative}" for relative, count in declared.items() if count == 0)


def empty_table_error(sources: list[SourceFile]) -> QATableError:
    """The error for tables that hold a header but no rows beside tables that hold questions."""
    more = f" (and {len(sources) - 1} more of the split's tables: {', '.join(s.path for s in sources[1:4])}" + (
        ", ...)" if len(sources) > 4 else ")"
    )
    return QATableError(
        sources[0].path,
        1,
        None,
        "the table has a header but no rows, and every published 3D-RAD table holds questions (a download that "
        "failed part way leaves such a file): download it again; `rad3d-hf verify --data-dir DIR` checks a copy"
        + (more if len(sources) > 1 else ""),
    )


def header_only_error(sources: list[SourceFile]) -> QATableError:
    """The error for a config whose tables hold a header but no rows (instead of an empty split)."""
    more = f" (and {len(sources) - 1} more of the config's tables)" if len(sources) > 1 else ""
    return QATableError(sources[0].path, 1, None, f"the table has a header but no rows{more}")


def has_rows(source: SourceFile) -> bool:
    """Whether a table holds at least one record after its header (reads two records at most)."""
    with open_text(source.path) as handle:
        reader = csv.reader(handle)
        try:
            return next(reader, None) is not None and next(reader, None) is not None
        except (UnicodeDecodeError, csv.Error):
            return True  # a fault that reading the table reports with its line
