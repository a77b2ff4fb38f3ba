"""Scoring what ``finetune_m3d_rad.py`` trains: answers during training and the test split with and without its
volumes (the temporal comparison of ``--compare-single`` is ``rad3d_hf.scoring.temporal_runs``)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

logger = logging.getLogger("finetune_m3d_rad")

QA_COLUMNS = ["id", "task", "subtask", "question", "answer", "question_type", "choices", "answer_choice"]
QA_COLUMNS += ["volume_name", "history"]


def make_answer_metrics(n_resamples: int):
    from rad3d_hf.scoring import score

    def answer_metrics(predictions: list[str], rows: list[dict]) -> dict:
        report = score(predictions, rows, n_resamples=n_resamples)
        # The headline numbers only: per-subtask values and counts stay in the final report.
        keep = ("/accuracy", "/balanced_accuracy", "/bleu1", "/rouge1")
        return {
            k.replace("/", "_"): v
            for k, v in report.items()
            if k.startswith("task") and k.endswith(keep) and k.count("/") == 1
        }

    return answer_metrics


def answer_and_compare(trainer, test_rows: list[dict], output_dir: Path, processor, image_size, *, seed: int):
    """Answer the test rows with their volumes and with blanked ones, score both beside the blind answers.

    Writes ``predictions.jsonl``, ``predictions_blanked.jsonl``, ``scores.json`` (the flat report) and the full score
    folder ``scores/`` (``report.json``, ``questions.jsonl``, ``table.txt``, ``scores.png``), then prints the
    comparison: a model that reads the image beats its blanked run, which falls back to the answer prior. Returns the
    flat report on the main process (None on the others).
    """
    from rad3d_hf.prediction.parts import prediction_line
    from rad3d_hf.scoring import score, score_details
    from rad3d_hf.scoring.comparison import format_comparison, majority_answers
    from rad3d_hf.scoring.report import write_score_folder

    answers = {}
    collator = trainer.generation_collator
    # the same collator (so a temporal model keeps its earlier scans), with the current volume blanked
    blanked_collator = copy.copy(collator)
    blanked_collator.image_transform = BlankVolume(image_size)
    for name, chosen in (("volumes", collator), ("blanked", blanked_collator)):
        what = "with their CT volumes" if name == "volumes" else "with every volume blanked"
        logger.info("answering %d test questions (%s)", len(test_rows), what)
        trainer.generation_rows = test_rows
        trainer.generation_collator = chosen
        answers[name] = trainer.generate_all()
    if not trainer.is_world_process_zero():
        return None
    qa = [{k: r[k] for k in QA_COLUMNS} for r in test_rows]
    for name, file_name in (("volumes", "predictions.jsonl"), ("blanked", "predictions_blanked.jsonl")):
        with (output_dir / file_name).open("w") as f:
            for row in test_rows:
                f.write(prediction_line(row["id"], answers[name][row["id"]]))
    predictions = [answers["volumes"][r["id"]] for r in test_rows]
    result = score_details(predictions, qa, seed=seed)
    (output_dir / "scores.json").write_text(json.dumps(result.metrics, indent=2, default=str) + "\n")
    folder = output_dir / "scores"
    written = write_score_folder(result, folder, title=f"3D-RAD test ({len(qa)} questions, {output_dir.name})")
    blanked = score([answers["blanked"][r["id"]] for r in test_rows], qa, n_resamples=0)
    blind = score(majority_answers(qa), qa, n_resamples=0)
    columns = {"model": result.metrics, "blanked volumes": blanked, "blind": blind}
    title = (
        f"{len(qa)} test questions, in percent. blanked volumes: the same model with every volume replaced by an "
        "empty one; blind: each subtask's most common answer"
    )
    print("\n" + format_comparison(columns, title=title), flush=True)
    print(f"full report and figure: {', '.join(str(folder / name) for name in written)}", flush=True)
    return result.metrics


class BlankVolume:
    """An image transform that ignores the volume: every input becomes an empty (all-zero, all-air) image."""

    def __init__(self, size) -> None:
        self.size = tuple(size)

    def __call__(self, value) -> object:
        import numpy as np

        return np.zeros((1, *self.size), dtype=np.float32)
