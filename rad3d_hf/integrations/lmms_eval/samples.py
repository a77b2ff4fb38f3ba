"""lmms-eval ``--log_samples`` files -> a predictions file that ``rad3d-hf score`` reads.

lmms-eval writes one ``<date>_samples_<task>.jsonl`` per task under ``--output_path/<model>/``: one JSON object per
document with ``filtered_resps`` (the answer after the task's filters, the one the metrics scored; a string, or a
one-element list) and one entry per metric: what the 3drad tasks' ``process_results`` returned, which carries the
question ``id`` and the scored ``prediction``. (lmms-eval 0.7 leaves the document itself out of the file; where a
``doc`` with an ``id`` is present, it is read too.) The two answers must agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from rad3d_hf.scoring.predictions import PredictionsError, write_predictions_jsonl


def sample_files(path: str | Path) -> list[Path]:
    """``path`` itself, or every ``samples_*.jsonl`` below a folder (lmms-eval's ``--output_path``), sorted."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.rglob("*samples_*.jsonl"))
        if not found:
            raise PredictionsError(f"{path}: no lmms-eval samples_*.jsonl files below it (run with --log_samples)")
        return found
    if not path.is_file():
        raise PredictionsError(f"lmms-eval samples file {path} does not exist")
    return [path]


def read_samples(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{id: prediction}`` from lmms-eval samples files; an id answered twice is an error naming both places."""
    found: dict[str, str] = {}
    where: dict[str, str] = {}
    for path in map(Path, paths):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                place = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise PredictionsError(f"{place}: not valid JSON ({error.msg})") from None
                question_id, prediction = _sample_answer(record, place)
                if question_id in found:
                    raise PredictionsError(f"{place}: id {question_id!r} was already answered at {where[question_id]}")
                found[question_id], where[question_id] = prediction, place
    return found


def _sample_answer(record: object, place: str) -> tuple[str, str]:
    """``(id, prediction)`` of one samples line."""
    if not isinstance(record, dict) or "filtered_resps" not in record:
        raise PredictionsError(f"{place}: not an lmms-eval sample (no filtered_resps)")
    responses = record["filtered_resps"]
    if isinstance(responses, list) and len(responses) == 1:
        responses = responses[0]
    if not isinstance(responses, str):
        raise PredictionsError(f"{place}: the answer is not one text: {responses!r:.80}")
    items = [v for v in record.values() if isinstance(v, dict) and "id" in v and "prediction" in v]
    doc = record.get("doc")
    ids = {str(v["id"]) for v in items} | ({str(doc["id"])} if isinstance(doc, dict) and "id" in doc else set())
    if len(ids) != 1:
        raise PredictionsError(
            f"{place}: not a sample of a 3drad task (expected one question id in its metric entries, got {sorted(ids)})"
        )
    if any(v["prediction"] != responses for v in items):
        raise PredictionsError(f"{place}: the scored prediction differs from filtered_resps {responses!r:.80}")
    return ids.pop(), responses


def convert_samples(source: str | Path, output: str | Path) -> int:
    """Write the predictions of lmms-eval samples (a file or an ``--output_path`` folder) to ``output``; the count."""
    predictions = read_samples(sample_files(source))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_predictions_jsonl(output, predictions)
    return len(predictions)
