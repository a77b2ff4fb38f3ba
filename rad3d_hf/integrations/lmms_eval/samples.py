"""lmms-eval ``--log_samples`` files -> a predictions file that ``rad3d-hf score`` reads.

lmms-eval writes one ``<date>_samples_<task>.jsonl`` per task under ``--output_path/<model>/``: one JSON object per
document with ``filtered_resps`` (the answer after the task's filters, the one the metrics scored; a string, or a
one-element list) and one entry per metric: what the 3drad tasks' ``process_results`` returned, which carries the
question ``id`` and the scored ``prediction``. (lmms-eval 0.7 leaves the document itself out of the file; where a
``doc`` with an ``id`` is present, it is read too.) The two answers must agree.

Beside the predictions, ``<output>.params.json`` passes on what lmms-eval's ``*_results.json`` beside the samples says
of the run (the model and its arguments, the generation settings, the system instruction, lmms-eval's version), so
``rad3d-hf score --model-name`` fills the results record from it. It is written only where one run's results file is
found; how the CT was rendered is not in lmms-eval's files (``--input-protocol`` at scoring names it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def run_settings(samples: Iterable[Path]) -> dict[str, Any] | None:
    """What the one lmms-eval ``*_results.json`` beside ``samples`` says of the run, or None (none, or several runs)."""
    results = sorted({r for path in samples for r in path.parent.glob("*_results.json")})
    if len(results) != 1:
        return None
    try:
        run = json.loads(results[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = run.get("config") or {}
    model_args = dict(part.split("=", 1) for part in str(config.get("model_args") or "").split(",") if "=" in part)
    generation = next(
        (
            c.get("generation_kwargs") or {}
            for name, c in (run.get("configs") or {}).items()
            if name.startswith("3drad")
        ),
        {},
    )
    settings = {
        "model": model_args.get("model") or model_args.get("pretrained") or run.get("model_name") or config.get("model"),
        "system_prompt": run.get("system_instruction"),
        "lmms_eval": {"model": config.get("model"), "model_args": model_args, "version": run.get("lmms_eval_version"),
                      "results_file": str(results[0])},
    }  # fmt: skip
    settings.update({k: generation[k] for k in ("max_new_tokens", "temperature", "do_sample") if k in generation})
    return settings


def convert_samples(source: str | Path, output: str | Path) -> int:
    """Write the predictions of lmms-eval samples (a file or an ``--output_path`` folder) to ``output``, and what the
    run's results file says of it to ``<output>.params.json``; the count of predictions."""
    files = sample_files(source)
    predictions = read_samples(files)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_predictions_jsonl(output, predictions)
    settings = run_settings(files)
    if settings is not None:
        params = output.with_name(output.name + ".params.json")
        params.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return len(predictions)
