"""A results record: what was scored, how, and what came out, as ``results.json`` beside ``details.parquet``.

Schema ``rad3d-hf/results/1`` (a JSON object; NaN is written as null):

- ``schema``: ``"rad3d-hf/results/1"``;
- ``model``: ``name``, and where it came from: ``path`` (a local folder, with ``weights_digest``, BLAKE2b over its
  ``*.safetensors`` / ``*.bin`` files, names and bytes) or ``hub_id``; ``revision`` where known;
- ``input_protocol``: how the CT reached the model: ``name`` (a protocol of
  :mod:`rad3d_hf.transforms.protocols`, ``"custom"`` or ``"not stated"``) and what the caller passed with it
  (``kind``, ``source``, ``params``: every parameter the renderer or transform records);
- ``prompt`` (``template``, ``system_prompt``), ``generation`` (decoding settings where known, else null);
- ``package`` (``name``, ``version``), ``scoring`` (``seed``, ``n_resamples``, ``cluster_by``, ``interval``, the
  closed-answer rules); ``tables_digest`` (:func:`rad3d_hf.data.tables.tables_digest`, passed in by the caller: scoring
  does not read tables) and ``split``;
- ``coverage``: ``n`` questions scored, ``n_volumes``, ``n_expected`` and ``coverage`` when a subset was scored;
- ``questions_digest``: BLAKE2b over the scored questions' ``id`` and reference answer, sorted by id (equal digests:
  the same questions with the same answers);
- ``tasks``: ``taskN`` -> ``name``, ``n``, ``n_volumes``, ``questions_digest``, ``headline`` (the paper's metric:
  ``rouge1`` for Tasks 1-3, ``accuracy`` for 4-6), ``metrics`` (metric -> ``value``, ``ci95`` ``[low, high]`` or null,
  ``baseline_majority`` / ``baseline_history`` where the report has them), ``subtasks`` (name -> ``n`` and the same
  ``metrics``), ``counts`` (``n_empty``, unparseable answers...).

``details.parquet`` holds one row per question (:data:`DETAILS_COLUMNS`), as lighteval keeps its details, so every
number can be traced to its questions and two records scored on the same questions can be compared pairwise
(:mod:`rad3d_hf.scoring.record_comparison`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.questions import QuestionResult
from rad3d_hf.scoring.report import headline_metrics
from rad3d_hf.scoring.statistics import cluster_key

SCHEMA = "rad3d-hf/results/1"
RESULTS_FILE = "results.json"
DETAILS_FILE = "details.parquet"
# The paper's metric per task (its tables: ROUGE for Tasks 1-3, accuracy for Tasks 4-6).
HEADLINE: dict[int, str] = {1: "rouge1", 2: "rouge1", 3: "rouge1", 4: "accuracy", 5: "accuracy", 6: "accuracy"}
CLOSED_RULES = {
    "accuracy": "the option letter read from the answer by rad3d_hf.scoring.answer_extraction (explicit formats by "
    "priority; no answer counts wrong, never guessed)",
    "accuracy_official": "the official 3D-RAD rule: right when '<letter>.' appears anywhere in the raw answer",
}
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# column -> pyarrow type (the names of QuestionResult.to_record(), plus the patient the bootstrap clusters by)
# fmt: off
DETAILS_COLUMNS: dict[str, str] = {
    "id": "string", "task": "int64", "subtask": "string", "volume_name": "string", "patient": "string",
    "prediction": "string", "answer": "string", "parsed": "string", "rule": "string", "score": "float64",
    "answer_choice": "string", "correct_official": "bool", "bleu1_matches": "int64", "bleu1_hyp_len": "int64",
    "bleu1_ref_len": "int64", "reference_measurement": "string", "measurement_exact": "bool",
}
# fmt: on
_REQUIRED_DETAILS = ("id", "task", "subtask", "volume_name", "prediction", "answer", "score")


class ResultsError(ValueError):
    """A results record or details file that does not follow the schema; the message names the file and field."""


def _clean(value: Any) -> Any:
    """JSON-ready: NaN -> None, numpy scalars -> Python numbers, tuples -> lists, mappings copied."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def questions_digest(questions: Iterable[QuestionResult | Mapping[str, Any]]) -> str:
    """BLAKE2b (16 bytes, hex) over the questions' ``id`` and reference ``answer``, sorted by id."""
    pairs = sorted((str(q["id"]), str(q["answer"])) if isinstance(q, Mapping) else (q.id, q.answer) for q in questions)
    digest = hashlib.blake2b(digest_size=16)
    for question_id, answer in pairs:
        digest.update(f"{question_id}\t{answer}\n".encode())
    return digest.hexdigest()


def weights_digest(folder: str | os.PathLike[str]) -> str | None:
    """BLAKE2b over the ``*.safetensors`` / ``*.bin`` files under ``folder`` (relative names and bytes), or None."""
    root = Path(folder)
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 23):
                digest.update(block)
    return digest.hexdigest()


def describe_model(
    model: str | os.PathLike[str] | Mapping[str, Any] | None,
    *,
    name: str,
    revision: str | None = None,
    digest_weights: bool = True,
) -> dict[str, Any]:
    """The record's ``model`` field: ``name`` and its local ``path`` (with a weights digest) or ``hub_id``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model_name must be a non-empty string, got {name!r}")
    out: dict[str, Any] = {"name": name.strip()}
    if model is None:
        return {**out, "revision": revision}
    if isinstance(model, Mapping):
        return {**_clean(model), **out} | ({"revision": revision} if revision is not None else {})
    text = os.fspath(model)
    if Path(text).is_dir():
        digest = weights_digest(text) if digest_weights else None
        return {**out, "path": text, "revision": revision, "weights_digest": digest}
    if _HUB_ID.match(text):
        return {**out, "hub_id": text, "revision": revision}
    raise ValueError(f"model {text!r} is neither a local folder nor a Hub id (owner/name)")


def _metric_entry(report: Mapping[str, Any], key: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": report.get(key)}
    low, high = report.get(f"{key}_ci95_low"), report.get(f"{key}_ci95_high")
    entry["ci95"] = [low, high] if low is not None and high is not None else None
    for baseline in ("majority", "history"):
        if f"{key}_baseline_{baseline}" in report:
            entry[f"baseline_{baseline}"] = report[f"{key}_baseline_{baseline}"]
    return entry


def _task_entry(number: int, report: Mapping[str, Any], questions: Sequence[QuestionResult]) -> dict[str, Any]:
    task = TASKS[number]
    prefix = f"task{number}/"
    metrics = [*headline_metrics(number, report), *(["judge_score"] if f"{prefix}judge_score" in report else [])]
    subtasks = {}
    for sub in task.subtasks:
        key = f"{prefix}{sub.name}/"
        if f"{key}n" in report:
            subtasks[sub.name] = {
                "n": report[f"{key}n"],
                "metrics": {m: _metric_entry(report, key + m) for m in metrics if key + m in report},
            }
    counts = {
        name: report[prefix + name]
        for name in ("n_empty", "n_unparseable", "n_ambiguous", "unparseable_rate", "measurement_n_unread")
        if prefix + name in report
    }
    return {
        "name": task.name,
        "n": report[prefix + "n"],
        "n_volumes": report[prefix + "n_volumes"],
        "questions_digest": questions_digest(questions),
        "headline": HEADLINE[number],
        "metrics": {m: _metric_entry(report, prefix + m) for m in metrics},
        "subtasks": subtasks,
        "counts": counts,
    }


def results_record(
    report: Mapping[str, Any],
    details: Sequence[QuestionResult],
    *,
    model_name: str,
    model: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    revision: str | None = None,
    input_protocol: str | Mapping[str, Any] | None = None,
    prompt: str | Mapping[str, Any] | None = None,
    generation: Mapping[str, Any] | None = None,
    tables_digest: str | None = None,
    split: str | None = None,
    configs: Sequence[str] | None = None,
    digest_weights: bool = True,
) -> dict[str, Any]:
    """The results record of one scored run (schema in the module docstring).

    Args:
        report: the flat report of :func:`~rad3d_hf.scoring.score_details` (``.metrics``).
        details: its per-question results (``.questions``), for the questions' digests.
        model_name: the name the record is shown under.
        model: a local model folder (its weights are digested unless ``digest_weights=False``), a Hub id, or a mapping.
        input_protocol: how the CT reached the model: a protocol name or a mapping
            (:func:`rad3d_hf.transforms.protocols.protocol_record`); None records ``"not stated"``.
        prompt: a template name or a mapping (``template``, ``system_prompt``).
        generation: decoding settings (``max_new_tokens``, ``do_sample``...), where known.
        tables_digest: :func:`rad3d_hf.data.tables.tables_digest` of the tables the references came from.
    """
    from rad3d_hf import __version__

    if "n" not in report or "version" not in report:
        raise ValueError(
            "report is not a rad3d-hf scoring report (no 'n' / 'version'): pass score_details(...).metrics"
        )
    if len(details) != report["n"]:
        raise ValueError(f"details hold {len(details)} questions but the report scored {report['n']}")
    if isinstance(input_protocol, str):
        input_protocol = {"name": input_protocol}
    if isinstance(prompt, str):
        prompt = {"template": prompt}
    by_task: dict[int, list[QuestionResult]] = {}
    for q in details:
        by_task.setdefault(q.task, []).append(q)
    coverage = {"n": report["n"], "n_volumes": report["n_volumes"]}
    if "coverage" in report:
        coverage.update(n_expected=report["n_expected"], coverage=report["coverage"])
    record = {
        "schema": SCHEMA,
        "model": describe_model(model, name=model_name, revision=revision, digest_weights=digest_weights),
        "input_protocol": dict(input_protocol) if input_protocol is not None else {"name": "not stated"},
        "prompt": dict(prompt) if prompt is not None else None,
        "generation": dict(generation) if generation is not None else None,
        # the version that scored (the report's), which decides the rules; the one that wrote the record beside it
        "package": {"name": "rad3d-hf", "version": report["version"], "recorded_with": __version__},
        "scoring": {
            "seed": report["seed"],
            "n_resamples": report["n_resamples"],
            "cluster_by": report.get("cluster_by", "volume"),
            "interval": "95% percentile bootstrap over clusters; task value = unweighted mean of its subtasks",
            "closed_rules": CLOSED_RULES,
        },
        # the model that judged the open answers, where one did (rad3d_hf.scoring.judge)
        "judge": {k: report[f"judge_{k}"] for k in ("model", "prompt", "endpoint", "scale") if f"judge_{k}" in report}
        or None,
        "tables_digest": tables_digest,
        "split": split,
        "configs": list(configs) if configs is not None else None,
        "coverage": coverage,
        "questions_digest": questions_digest(details),
        "tasks": {f"task{n}": _task_entry(n, report, by_task[n]) for n in TASKS if n in by_task},
    }
    return _clean(record)


def details_rows(questions: Iterable[QuestionResult]) -> list[dict[str, Any]]:
    """One row per question with exactly :data:`DETAILS_COLUMNS` (absent values None): what ``details.parquet`` holds."""
    rows = []
    for q in questions:
        record = q.to_record()
        row = {column: record.get(column) for column in DETAILS_COLUMNS}
        row["volume_name"] = q.volume_name
        row["patient"] = cluster_key(q.volume_name, "patient")
        rows.append(_clean(row))
    return rows


def write_results(
    out_dir: str | os.PathLike[str], record: Mapping[str, Any], details: Iterable[Mapping[str, Any]]
) -> tuple[Path, Path]:
    """Write ``results.json`` (checked against the schema first) and ``details.parquet`` into ``out_dir``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rad3d_hf.atomic_files import write_atomically, write_text_atomically

    out = Path(out_dir)
    validate_record(record, out / RESULTS_FILE)
    rows = list(details)
    ids = [str(row.get("id")) for row in rows]
    if len(set(ids)) != len(ids) or len(rows) != record["coverage"]["n"]:
        raise ResultsError(f"{out / DETAILS_FILE}: expected {record['coverage']['n']} rows with unique ids")
    schema = pa.schema([(column, pa.type_for_alias(kind)) for column, kind in DETAILS_COLUMNS.items()])
    table = pa.Table.from_pylist([{c: row.get(c) for c in DETAILS_COLUMNS} for row in rows], schema=schema)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / DETAILS_FILE, lambda f: pq.write_table(table, f))
    text = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomically(out / RESULTS_FILE, text)
    return out / RESULTS_FILE, out / DETAILS_FILE


# --- reading and checking ---


def _field(where: Path, path: str, value: Any, kinds: tuple[type, ...], what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ResultsError(f"{where}: field {path}: expected {what}, got {value!r}")
    return value


def _check_metric(where: Path, path: str, entry: Any) -> None:
    _field(where, path, entry, (dict,), "an object with value and ci95")
    _field(where, f"{path}.value", entry.get("value"), (int, float), "a number or null", optional=True)
    interval = _field(where, f"{path}.ci95", entry.get("ci95"), (list,), "[low, high] or null", optional=True)
    if interval is not None and (
        len(interval) != 2 or not all(isinstance(v, (int, float, type(None))) for v in interval)
    ):
        raise ResultsError(f"{where}: field {path}.ci95: expected [low, high], got {interval!r}")


def validate_record(record: Any, where: str | os.PathLike[str] = "<record>") -> dict[str, Any]:
    """``record`` if it follows the schema, else :class:`ResultsError` naming ``where`` and the first bad field."""
    where = Path(where)
    _field(where, "(top level)", record, (dict,), "a JSON object")
    if record.get("schema") != SCHEMA:
        raise ResultsError(f"{where}: field schema: expected {SCHEMA!r}, got {record.get('schema')!r}")
    for section in ("model", "input_protocol", "package", "scoring", "coverage", "tasks"):
        _field(where, section, record.get(section), (dict,), "an object")
    _field(where, "model.name", record["model"].get("name"), (str,), "the model's name")
    _field(where, "input_protocol.name", record["input_protocol"].get("name"), (str,), "a protocol name")
    _field(where, "package.version", record["package"].get("version"), (str,), "a version string")
    _field(where, "scoring.cluster_by", record["scoring"].get("cluster_by"), (str,), "'patient' or 'volume'")
    _field(where, "coverage.n", record["coverage"].get("n"), (int,), "the number of questions scored")
    _field(where, "questions_digest", record.get("questions_digest"), (str,), "a digest string")
    _field(where, "tables_digest", record.get("tables_digest"), (str,), "a digest string or null", optional=True)
    for key, task in record["tasks"].items():
        path = f"tasks.{key}"
        if not re.fullmatch(r"task[1-6]", key):
            raise ResultsError(f"{where}: field {path}: expected task1..task6")
        _field(where, path, task, (dict,), "an object")
        _field(where, f"{path}.n", task.get("n"), (int,), "the number of questions")
        _field(where, f"{path}.questions_digest", task.get("questions_digest"), (str,), "a digest string")
        metrics = _field(where, f"{path}.metrics", task.get("metrics"), (dict,), "an object of metrics")
        if task.get("headline") not in metrics:
            raise ResultsError(f"{where}: field {path}.headline: {task.get('headline')!r} is not in its metrics")
        for name, entry in metrics.items():
            _check_metric(where, f"{path}.metrics.{name}", entry)
    return record


def results_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/results.json`` for a folder."""
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a ``results.json`` (or the one in a folder); errors name the file and the field."""
    file = results_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{file}: no such results file (write one with write_results)") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{file}: not JSON ({error})") from None
    return validate_record(record, file)


def read_details(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``details.parquet`` (or of the one beside a ``results.json`` / in a folder), checked."""
    import pyarrow.parquet as pq

    file = Path(path)
    if file.is_dir():
        file = file / DETAILS_FILE
    elif file.suffix == ".json":
        file = file.with_name(DETAILS_FILE)
    if not file.is_file():
        raise ResultsError(f"{file}: no details file (it is written beside results.json)")
    try:
        table = pq.read_table(file)
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise ResultsError(f"{file}: not a Parquet file ({error})") from None
    missing = [c for c in _REQUIRED_DETAILS if c not in table.column_names]
    if missing:
        raise ResultsError(f"{file}: column(s) {', '.join(missing)} missing")
    return table.to_pylist()


__all__ = [
    "DETAILS_COLUMNS",
    "DETAILS_FILE",
    "HEADLINE",
    "RESULTS_FILE",
    "SCHEMA",
    "ResultsError",
    "describe_model",
    "details_rows",
    "questions_digest",
    "read_details",
    "read_results",
    "results_path",
    "results_record",
    "validate_record",
    "weights_digest",
    "write_results",
]
