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
import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv

from rad3d_hf.catalogue import (
    CSV_HEADER,
    EMPTY_FIELD,
    OPTION_LETTERS,
    SOURCE_QUESTION_TYPES,
)
from rad3d_hf.table_files import (
    DEFAULT_DATA_DIR,
    QATableError,
    SourceFile,
    file_digest,
    not_utf8,
    open_text,
    source_file_path,
    source_files,
    table_exists,
    tables_digest,
)
from rad3d_hf.volume_names import VolumeName, parse_volume_name

__all__ = [
    "DEFAULT_DATA_DIR",
    "QATableError",
    "SourceFile",
    "add_prior_volume_names",
    "declared_empty",
    "empty_table_error",
    "file_digest",
    "parse_history",
    "read_rows",
    "read_table",
    "read_table_columns",
    "source_file_path",
    "source_files",
    "split_volume_index",
    "table_exists",
    "table_volume_stems",
    "tables_digest",
]

_HISTORY = re.compile(r"\[\s*([01](?:\s*,\s*[01])*)\s*\]")


def parse_history(question: str) -> list[int]:
    """The earlier labels a Task 6 question quotes, e.g. ``"... as: [0, 1]. (Note: ..."`` -> ``[0, 1]``."""
    match = _HISTORY.search(question)
    if match is None:
        return []
    return [int(x) for x in match.group(1).split(",")]


def read_table(source: SourceFile) -> Iterator[dict[str, Any]]:
    """Validated rows of one table, without prior volumes (see :func:`read_rows`)."""
    yield from _rows(read_table_columns(source))


def _rows(columns: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
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


def _volume_stems(source: SourceFile) -> list[str]:
    """The volume stems a table names ([] when the table is absent), for the split's earlier-scan index.

    Arrow reads every column (as strings, which also checks the text is UTF-8 and every row has the header's fields)
    in a fraction of the time of the validating reader. Whenever that read, the header or any name is not as
    published, the table goes through :func:`read_table_columns`, which raises the error naming file, line and
    column: no table silently contributes fewer (or other) names than it holds."""
    if not table_exists(source.path):
        return []  # a table the user does not have holds no earlier scans to point at
    fs, inner = fsspec.core.url_to_fs(source.path)
    options = pa_csv.ConvertOptions(column_types=dict.fromkeys(CSV_HEADER, pa.string()))
    try:
        with fs.open(inner, "rb") as handle:
            table = pa_csv.read_csv(handle, convert_options=options)
    except (OSError, pa.ArrowInvalid, KeyError):
        table = None
    if table is not None and tuple(table.column_names) == CSV_HEADER and table.num_rows:
        names = set(table.column("VolumeName").to_pylist())
        try:
            parsed = [table_volume_name(v) for v in names if isinstance(v, str)]
        except ValueError:
            parsed = []
        if len(parsed) == len(names) and all(p.split == source.split for p in parsed):
            return [p.stem for p in parsed]
    return read_table_columns(source)["volume_name"]


def table_volume_stems(sources: Iterable[SourceFile]) -> set[str]:
    """The distinct volume stems the present tables among ``sources`` name (read fast; errors name the table)."""
    stems: set[str] = set()
    for source in sources:
        stems.update(_volume_stems(source))
    return stems


def split_volume_index(data_dir: str, split: str, digest: str | None = None) -> dict[int, dict[str, tuple[int, ...]]]:
    """Every volume named anywhere in a split's tables: patient -> scan letter -> reconstructions (sorted).

    Tables absent from ``data_dir`` are left out, so a folder holding only some tasks still loads; a table that is
    present but cannot be read is a :class:`QATableError` naming it, whichever config is being read. The index is
    cached per ``digest`` (:func:`tables_digest` of the split, computed when not given), so edited tables are read
    again."""
    return _split_volume_index(data_dir, split, digest or tables_digest(data_dir, (split,)))


@functools.lru_cache(maxsize=8)
def _split_volume_index(data_dir: str, split: str, digest: str) -> dict[int, dict[str, tuple[int, ...]]]:
    stems = table_volume_stems(source_files(data_dir, split, "all"))
    found: dict[int, dict[str, set[int]]] = {}
    for stem in stems:
        name = parse_volume_name(stem)
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


def add_prior_volume_names(
    columns: dict[str, list[Any]], index: dict[int, dict[str, tuple[int, ...]]], cache: dict[str, list[str]]
) -> None:
    """Add the ``prior_volume_names`` column to a table's columns; ``cache`` (stem -> names) is shared by a split's
    tables, since a volume carries up to 18 questions."""
    for stem in set(columns["volume_name"]) - cache.keys():
        cache[stem] = prior_volume_names(parse_volume_name(stem), index)
    columns["prior_volume_names"] = [cache[stem] for stem in columns["volume_name"]]


def read_rows(data_dir: str | None, split: str, config: str = "all") -> Iterator[dict[str, Any]]:
    """Rows of ``config`` in ``split`` in the package's schema (no ``volume``), in catalogue and file order.

    A table with a header and no rows is an error naming it (every published table holds questions, so such a file
    is a failed download), unless the folder declares it empty (:func:`declared_empty`)."""
    data_dir = str(data_dir or DEFAULT_DATA_DIR)
    index = split_volume_index(data_dir, split)
    priors: dict[str, list[str]] = {}
    for source in source_files(data_dir, split, config):
        columns = read_table_columns(source)
        if not columns["id"] and not declared_empty(data_dir, source):
            raise empty_table_error([source])
        add_prior_volume_names(columns, index, priors)
        yield from _rows(columns)


def declared_empty(data_dir: str, source: SourceFile) -> bool:
    """Whether ``data_dir/manifest.json`` lists ``source`` under ``"tables"`` with 0 questions, as the demo source
    declares the subtasks it leaves empty. Read only when a table turns out empty."""
    manifest_path = f"{data_dir.rstrip('/')}/manifest.json"
    try:
        with fsspec.open(manifest_path, "rt", encoding="utf-8") as handle:
            declared = json.load(handle).get("tables") or {}
    except (OSError, ValueError, AttributeError):
        return False
    relative = source.path[len(data_dir.rstrip("/")) + 1 :] if source.path.startswith(data_dir.rstrip("/")) else ""
    return isinstance(declared, dict) and declared.get(relative.replace(os.sep, "/")) == 0


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
