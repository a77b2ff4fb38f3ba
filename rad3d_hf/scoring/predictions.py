"""Predictions files and their join with the dataset rows, by ``id``.

A predictions file is JSON Lines (``.jsonl``, one ``{"id": ..., "prediction": ...}`` object per line) or CSV (``.csv``
with ``id`` and ``prediction`` columns; other columns are ignored). ``prediction`` must be a string; ``""`` is a
valid (empty) answer that scores 0.

Reading never truncates or picks silently: a CSV row with more fields than the header (an unquoted comma in an
answer), a column named twice, a JSON object holding a key twice, text that is not UTF-8 (UTF-16 is named as such),
and an id or prediction holding a lone surrogate (``"\\ud800"`` in JSON, which no UTF-8 file can hold) are errors
naming file and line. Properly quoted CSV fields are read whole up to :data:`MAX_FIELD_CHARS` characters.

Joining never drops or invents anything silently: ids that the split does not have, ids given twice and (unless
scoring a subset was asked for) questions without a prediction are errors that list the ids. With
``allow_subset=True`` only the predicted questions are scored and the coverage is reported.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rad3d_hf.scoring.row_checks import text_problem

_SHOWN_IDS = 10
MAX_FIELD_CHARS = 64 << 20  # a CSV field may hold up to 64 Mi characters; a longer one is an error naming its line


class PredictionsError(ValueError):
    """A predictions file or join problem; the message names the file, line or ids."""


def _listing(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:_SHOWN_IDS])
    more = f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else ""
    return f"{shown}{more}"


def _add(
    found: dict[str, str], duplicates: dict[str, list[int]], pid: Any, prediction: Any, where: str, line: int
) -> None:
    if not isinstance(pid, str) or not pid:
        raise PredictionsError(f"{where}: 'id' must be a non-empty string, got {pid!r}")
    if not isinstance(prediction, str):
        raise PredictionsError(f"{where}: the prediction for id {pid!r} must be a string, got {prediction!r}")
    for what, text in (("id", pid), ("prediction", prediction)):
        problem = text_problem(text)
        if problem is not None:
            raise PredictionsError(f"{where}: the {what} of id {pid!r} {problem}")
    if pid in found:
        duplicates.setdefault(pid, []).append(line)
    found[pid] = prediction


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKeyError(key)
        record[key] = value
    return record


class _DuplicateKeyError(ValueError):
    pass


def _read_jsonl(path: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    found: dict[str, str] = {}
    duplicates: dict[str, list[int]] = {}
    with path.open(encoding="utf-8-sig") as handle:  # a BOM (spreadsheet exports) is not part of the data
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line, object_pairs_hook=_object_without_duplicate_keys)
            except _DuplicateKeyError as error:
                raise PredictionsError(f"{where}: the object holds the key {error.args[0]!r} more than once") from None
            except json.JSONDecodeError as error:
                raise PredictionsError(f"{where}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "id" not in record or "prediction" not in record:
                raise PredictionsError(
                    f'{where}: expected an object with "id" and "prediction", got {line.strip()[:80]!r}'
                )
            _add(found, duplicates, record["id"], record["prediction"], where, line_number)
    return found, duplicates


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    # The csv module's default (128 KiB a field) would refuse long, properly quoted answers.
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, limit))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_csv(path: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
    found: dict[str, str] = {}
    duplicates: dict[str, list[int]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle, _csv_field_limit(MAX_FIELD_CHARS):
        reader = csv.reader(handle)
        columns = next(reader, None) or []
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise PredictionsError(
                f"{path}:1: the header names the column(s) {', '.join(map(repr, repeated))} more than once"
            )
        missing = [c for c in ("id", "prediction") if c not in columns]
        if missing:
            raise PredictionsError(f"{path}: the header {columns} lacks the column(s) {', '.join(missing)}")
        id_at, prediction_at = columns.index("id"), columns.index("prediction")
        line = reader.line_num + 1  # where the next record starts (a quoted field may span lines)
        for record in reader:
            where = f"{path}:{line}"
            if len(record) > len(columns):
                raise PredictionsError(
                    f"{where}: the row has {len(record)} fields but the header has {len(columns)}: an unquoted comma "
                    'in an answer? Quote fields that hold commas ("No, none"), as csv writers do'
                )
            if record and len(record) < len(columns):
                raise PredictionsError(f"{where}: the row has fewer fields than the header")
            if record:
                _add(found, duplicates, record[id_at], record[prediction_at], where, line)
            line = reader.line_num + 1
    return found, duplicates


def _not_utf8(path: Path) -> PredictionsError:
    """The error for a file that is not UTF-8 text, naming the line and byte of the first invalid sequence."""
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return PredictionsError(f"{path}: not UTF-8 text: it is UTF-16 (byte order mark); save it as UTF-8")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return PredictionsError(f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x} at byte {column})")
    return PredictionsError(f"{path}: not UTF-8 text")


def read_predictions(path: str | Path) -> dict[str, str]:
    """The predictions in ``path`` (``.jsonl`` or ``.csv``) as ``{id: prediction}``; duplicate ids are an error."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise PredictionsError(f"{path}: unknown predictions format {suffix!r}; use .jsonl or .csv")
    try:
        found, duplicates = _read_csv(path) if suffix == ".csv" else _read_jsonl(path)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as error:
        raise PredictionsError(f"{path}: not a readable CSV file ({error})") from None
    if duplicates:
        shown = list(duplicates.items())[:_SHOWN_IDS]
        details = "; ".join(f"{pid!r} (again on line {', '.join(map(str, lines))})" for pid, lines in shown)
        more = f" and {len(duplicates) - _SHOWN_IDS} more" if len(duplicates) > _SHOWN_IDS else ""
        raise PredictionsError(f"{path}: {len(duplicates)} duplicate id(s): {details}{more}")
    return found


@dataclass(frozen=True)
class JoinedPredictions:
    """Predictions paired with their rows (in row order), and what a subset left out."""

    predictions: list[str]
    rows: list[Mapping[str, Any]]
    n_expected: int
    missing_ids: list[str]

    @property
    def coverage(self) -> float:
        return len(self.rows) / self.n_expected if self.n_expected else 0.0


def join_predictions(
    predictions: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    *,
    allow_subset: bool = False,
    source: str = "predictions",
) -> JoinedPredictions:
    """Pair ``{id: prediction}`` with ``rows`` by ``id``.

    Unknown ids are always an error; rows without a prediction are an error unless ``allow_subset`` is true, in
    which case they are left out and listed in ``missing_ids``.
    """
    known = {str(row["id"]) for row in rows}
    unknown = sorted(pid for pid in predictions if pid not in known)
    if unknown:
        raise PredictionsError(f"{source}: {len(unknown)} id(s) not in the references: {_listing(unknown)}")
    missing = [str(row["id"]) for row in rows if str(row["id"]) not in predictions]
    if missing and not allow_subset:
        raise PredictionsError(
            f"{source}: {len(missing)} of {len(rows)} questions have no prediction: {_listing(missing)} "
            "(score the predicted questions only with allow_subset=True / --allow-subset)"
        )
    kept = [row for row in rows if str(row["id"]) in predictions]
    return JoinedPredictions([predictions[str(row["id"])] for row in kept], kept, len(rows), missing)


def write_predictions_jsonl(path: str | Path, predictions: Mapping[str, str]) -> None:
    """Write ``{id: prediction}`` as a JSON Lines predictions file."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for pid, prediction in predictions.items():
            handle.write(json.dumps({"id": pid, "prediction": prediction}, ensure_ascii=False) + "\n")
