"""The results record a scoring command can write beside its report: ``results.json`` and ``details.parquet``.

What the record says about the run comes from the options (``--model-name``, ``--model``, ``--input-protocol``...)
and, where they are silent, from ``<predictions>.params.json``, the settings ``examples/predict.py`` records beside
its output (the model folder, the renderer's parameters, ``max_new_tokens``, the system prompt, the volume format).
``rad3d-hf leaderboard`` reads the records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rad3d_hf.cli.usage import UsageError


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """``--model-name`` (writes the record) and what the record says of the model, its input and its prompt."""
    group = parser.add_argument_group("results record (results.json + details.parquet, read by rad3d-hf leaderboard)")
    group.add_argument("--model-name", default=None, help="write a results record under this model name")
    group.add_argument(
        "--model", default=None, help="local model folder (its weights are digested) or Hub id (default: from "
        "<predictions>.params.json)"
    )  # fmt: skip
    group.add_argument("--revision", default=None, help="the model's revision (commit or tag), when known")
    group.add_argument(
        "--input-protocol",
        default=None,
        help="how the CT reached the model: m3d-release, m3d-recipe, eva-32-slices, hulu-med-nifti, medgemma-ct "
        "(rad3d_hf.transforms.protocols; default: matched from <predictions>.params.json, else 'not stated')",
    )
    group.add_argument("--prompt-template", default=None, help="the prompt template's name (default: from the run)")
    group.add_argument("--no-weights-digest", action="store_true", help="do not hash the local model's weights")


def run_params(predictions: Path) -> dict[str, Any]:
    """``<predictions>.params.json`` (what predict.py recorded), or {} when there is none."""
    path = predictions.with_name(predictions.name + ".params.json")
    if not path.is_file():
        return {}
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not JSON ({error})") from None
    if not isinstance(params, dict):
        raise UsageError(f"{path}: expected a JSON object of run settings")
    return params


def record_inputs(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`~rad3d_hf.scoring.results_record.results_record` the options and the run's
    recorded settings give (options win)."""
    from rad3d_hf.transforms.protocols import get_protocol, protocol_for_params, protocol_record

    if args.input_protocol is not None:
        try:
            get_protocol(args.input_protocol)
        except ValueError as error:
            raise UsageError(f"--input-protocol: {error}") from None
        protocol: Any = protocol_record(args.input_protocol, volume_format=params.get("volume_format"))
    elif params:
        protocol = protocol_for_params(params)
    else:
        protocol = None
    is_image_text = params.get("renderer") == "slices"
    template = args.prompt_template or (
        ("the model's chat template" if is_image_text else "3D-RAD official (rad3d_hf.prompts)") if params else None
    )
    prompt = None if template is None else {"template": template, "system_prompt": params.get("system_prompt")}
    generation = None
    if "max_new_tokens" in params:
        generation = {"do_sample": False, "max_new_tokens": params["max_new_tokens"]}
    return {
        "model": args.model or params.get("model"),
        "revision": args.revision,
        "input_protocol": protocol,
        "prompt": prompt,
        "generation": generation,
        "digest_weights": not args.no_weights_digest,
    }


def write_record(args: argparse.Namespace, result: Any, out: Path, *, predictions: Path) -> list[str]:
    """Write the results record of a scored run into ``out`` when ``--model-name`` was given; the file names.

    ``args`` are a scoring command's (``--split``, ``--config``, the table source and the record options); the
    tables' digest covers the scored split's tables."""
    from rad3d_hf.cli.sources import table_source
    from rad3d_hf.data.tables import DEFAULT_DATA_DIR, tables_digest
    from rad3d_hf.scoring.results_record import DETAILS_FILE, RESULTS_FILE, details_rows, results_record, write_results

    if getattr(args, "model_name", None) is None:
        return []
    data_dir = table_source(args, need_tables=False) or DEFAULT_DATA_DIR
    record = results_record(
        result.metrics,
        result.questions,
        model_name=args.model_name,
        tables_digest=tables_digest(data_dir, splits=(args.split,)),
        split=args.split,
        configs=args.config,
        **record_inputs(args, run_params(predictions)),
    )
    write_results(out, record, details_rows(result.questions))
    return [RESULTS_FILE, DETAILS_FILE]


__all__ = ["add_record_options", "record_inputs", "run_params", "write_record"]
