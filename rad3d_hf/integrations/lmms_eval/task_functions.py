"""The functions the ``3drad`` task YAMLs name: documents in, images and prompts out, answers scored as ``rad3d-hf score``.

- ``process_docs`` keeps each document's volume as ``{"path", "bytes"}`` (no decoding until a model asks) and orders
  the documents by volume, so a volume's questions follow one another and its slices are rendered once;
- ``doc_to_visual`` renders the volume with :class:`~rad3d_hf.transforms.slices.SliceRenderer`, set by
  ``RAD3D_RENDER`` (preset, default ``auto``: HU windows, or the fixed [0, 1] scale of a normalised array),
  ``RAD3D_RENDER_SLICES``, ``RAD3D_RENDER_SIZE``, ``RAD3D_RENDER_SAMPLING``, ``RAD3D_RENDER_SEED`` and
  ``RAD3D_RENDER_MONTAGE`` (1: one montage image);
- ``doc_to_text`` is the official prompt (:func:`rad3d_hf.prompts.question_prompt`: the question, the choices of a
  closed question, ``Answer:``), with the task's ``pre_prompt`` / ``post_prompt`` around it;
- ``process_results`` passes each answer on with its reference row, and the ``aggregate_*`` functions score all of a
  task's answers at once with :func:`rad3d_hf.scoring.score`: the same numbers ``rad3d-hf score`` prints for them;
  ``judge_score`` (Tasks 1-3) asks the judge ``RAD3D_JUDGE_URL`` / ``RAD3D_JUDGE_MODEL`` name, NaN without one.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.prompts import question_prompt, target_text

if TYPE_CHECKING:
    from PIL import Image

    from rad3d_hf.transforms.slices import SliceRenderer

# The report keys each task reports in lmms-eval (all of them are also in `rad3d-hf score`'s report.json).
TASK_METRICS: dict[int, tuple[str, ...]] = {
    1: ("bleu1", "rouge1", "judge_score"),
    2: ("bleu1", "rouge1", "judge_score"),
    3: ("bleu1", "rouge1", "measurement_exact", "judge_score"),
    4: ("accuracy", "balanced_accuracy", "accuracy_official", "unparseable_rate"),
    5: ("accuracy", "macro_f1", "accuracy_official", "unparseable_rate"),
    6: ("accuracy", "macro_f1", "accuracy_official", "unparseable_rate"),
}
# What scoring (and a judge, which reads the question) needs of a row; the rest of a document stays behind.
_REFERENCE_FIELDS = (
    "id", "task", "subtask", "question", "answer", "volume_name", "patient_id", "question_type", "choices", "answer_choice",
    "history",
)  # fmt: skip
logger = logging.getLogger(__name__)
_RENDER_CACHE_SIZE = 8
_renders: OrderedDict[tuple[str, Any, str], list[Image.Image]] = OrderedDict()
_reports: OrderedDict[tuple[tuple[str, str], ...], dict[str, Any]] = OrderedDict()


def renderer_from_environment(environ: Mapping[str, str] | None = None) -> SliceRenderer:
    """The :class:`SliceRenderer` the ``RAD3D_RENDER*`` variables describe (defaults: the renderer's own)."""
    from rad3d_hf.transforms.slices import DEFAULT_PRESET, DEFAULT_SIZE, DEFAULT_SLICES, SliceRenderer

    environ = os.environ if environ is None else environ

    def number(name: str, default: int) -> int:
        text = environ.get(name, "").strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name}={text!r}: expected an integer") from None

    montage = environ.get("RAD3D_RENDER_MONTAGE", "").strip().lower()
    if montage not in ("", "0", "1", "true", "false"):
        raise ValueError(f"RAD3D_RENDER_MONTAGE={montage!r}: expected 1 or 0")
    return SliceRenderer(
        environ.get("RAD3D_RENDER", "").strip() or DEFAULT_PRESET,
        num_slices=number("RAD3D_RENDER_SLICES", DEFAULT_SLICES),
        size=number("RAD3D_RENDER_SIZE", DEFAULT_SIZE),
        sampling=environ.get("RAD3D_RENDER_SAMPLING", "").strip() or "uniform",  # type: ignore[arg-type]
        seed=number("RAD3D_RENDER_SEED", 0),
        montage=montage in ("1", "true"),
    )


def process_docs(dataset: Any) -> Any:
    """Volumes as ``{"path", "bytes"}`` (decoded only when rendered), documents ordered by volume then id."""
    import datasets

    if "volume" in dataset.column_names and isinstance(dataset.features["volume"], datasets.Nifti):
        dataset = dataset.cast_column("volume", datasets.Nifti(decode=False))
    return dataset.sort(["volume_name", "id"])


def doc_to_visual(doc: Mapping[str, Any]) -> list[Image.Image]:
    """The document's volume as rendered images (one montage when ``RAD3D_RENDER_MONTAGE=1``)."""
    volume = doc.get("volume")
    if volume is None:
        raise ValueError(f"document {doc.get('id')!r} has no volume: set RAD3D_VOLUMES_DIR (or RAD3D_DEMO=1)")
    renderer = renderer_from_environment()
    name = doc.get("volume_name")
    path = volume.get("path") if isinstance(volume, Mapping) else volume
    if not isinstance(path, str):  # bytes only: nothing to key a cache on
        return _as_list(renderer.render(volume, key=name))
    key = (path, name, repr(renderer))
    if key not in _renders:
        _renders[key] = _as_list(renderer.render(volume, key=name))
        while len(_renders) > _RENDER_CACHE_SIZE:
            _renders.popitem(last=False)
    _renders.move_to_end(key)
    return list(_renders[key])


def _as_list(images: Any) -> list[Image.Image]:
    return images if isinstance(images, list) else [images]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    """The official prompt, between the task's ``pre_prompt`` and ``post_prompt`` (both empty by default)."""
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{question_prompt(doc)}{kwargs.get('post_prompt', '')}"


def doc_to_target(doc: Mapping[str, Any]) -> str:
    """The reference answer as a model is trained to write it (``"B. No"``, or the open answer)."""
    return target_text(doc)


def process_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """One answer with its reference row, under each of the task's metrics (scored together in aggregation)."""
    if len(results) != 1:
        raise ValueError(f"document {doc.get('id')!r}: expected one answer, got {len(results)}")
    prediction = results[0]
    if not isinstance(prediction, str):
        raise TypeError(f"document {doc.get('id')!r}: the answer is a {type(prediction).__name__}, not text")
    item = {
        "id": str(doc["id"]),
        "prediction": prediction,
        "reference": {name: doc[name] for name in _REFERENCE_FIELDS if name in doc},
    }
    return dict.fromkeys(TASK_METRICS[int(doc["task"])], item)


def score_items(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``rad3d_hf.scoring.score`` over the items of one task (point values; the last few reports are kept)."""
    from rad3d_hf.scoring import score

    key = tuple((str(item["id"]), str(item["prediction"])) for item in items)
    if key not in _reports:
        # Intervals are left out: lmms-eval shows none, and the point values do not depend on them.
        _reports[key] = score([i["prediction"] for i in items], [dict(i["reference"]) for i in items], n_resamples=0)
        while len(_reports) > 4:
            _reports.popitem(last=False)
    return _reports[key]


def _aggregate(metric: str, items: Sequence[Mapping[str, Any]]) -> float:
    if not items:
        return float("nan")
    tasks = {int(item["reference"]["task"]) for item in items}
    if len(tasks) != 1:
        raise ValueError(f"one lmms-eval task must hold one 3D-RAD task, got tasks {sorted(tasks)}")
    (task,) = tasks
    if task not in TASKS:
        raise ValueError(f"unknown 3D-RAD task {task}")
    return float(score_items(items)[f"task{task}/{metric}"])


def judge_from_environment(environ: Mapping[str, str] | None = None) -> Any:
    """The :class:`~rad3d_hf.scoring.judge.Judge` that ``RAD3D_JUDGE_URL`` and ``RAD3D_JUDGE_MODEL`` describe
    (``RAD3D_JUDGE_PROMPT``, default ``m3d-aspects``; ``RAD3D_JUDGE_CACHE``, the SQLite file), or None when unset."""
    from rad3d_hf.scoring.judge import Judge

    environ = os.environ if environ is None else environ
    url, model = environ.get("RAD3D_JUDGE_URL", "").strip(), environ.get("RAD3D_JUDGE_MODEL", "").strip()
    if not url and not model:
        return None
    if not (url and model):
        raise ValueError("set both RAD3D_JUDGE_URL and RAD3D_JUDGE_MODEL to judge the open answers (or neither)")
    prompt = environ.get("RAD3D_JUDGE_PROMPT", "").strip() or "m3d-aspects"
    cache = environ.get("RAD3D_JUDGE_CACHE", "").strip() or None
    return Judge(url, model, prompt, cache_path=cache, progress=False)


def aggregate_judge_score(items: Sequence[Mapping[str, Any]]) -> float:
    """Tasks 1-3: the model-judged score (``taskN/judge_score``, 0-1) when ``RAD3D_JUDGE_URL`` and
    ``RAD3D_JUDGE_MODEL`` name a judge; NaN, with a logged line, when no judge is set (never a guessed number)."""
    judge = judge_from_environment()
    if judge is None or not items:
        if judge is None:
            logger.warning("judge_score: no judge set (RAD3D_JUDGE_URL, RAD3D_JUDGE_MODEL): reported as NaN")
        return float("nan")
    from rad3d_hf.scoring import score

    (task,) = {int(item["reference"]["task"]) for item in items}
    report = score([i["prediction"] for i in items], [dict(i["reference"]) for i in items], n_resamples=0, judge=judge)
    return float(report[f"task{task}/judge_score"])


def aggregate_bleu1(items: Sequence[Mapping[str, Any]]) -> float:
    """Corpus BLEU-1, mean over the task's subtasks (``taskN/bleu1``)."""
    return _aggregate("bleu1", items)


def aggregate_rouge1(items: Sequence[Mapping[str, Any]]) -> float:
    """ROUGE-1 F, mean over the task's subtasks (``taskN/rouge1``)."""
    return _aggregate("rouge1", items)


def aggregate_measurement_exact(items: Sequence[Mapping[str, Any]]) -> float:
    """Task 3: share of measurements read equal to the reference (``task3/measurement_exact``)."""
    return _aggregate("measurement_exact", items)


def aggregate_accuracy(items: Sequence[Mapping[str, Any]]) -> float:
    """Closed-question accuracy, mean over the task's subtasks (``taskN/accuracy``)."""
    return _aggregate("accuracy", items)


def aggregate_balanced_accuracy(items: Sequence[Mapping[str, Any]]) -> float:
    """Task 4: mean of the Yes and No recalls, mean over subtasks (``task4/balanced_accuracy``)."""
    return _aggregate("balanced_accuracy", items)


def aggregate_accuracy_official(items: Sequence[Mapping[str, Any]]) -> float:
    """The official script's substring rule (``taskN/accuracy_official``)."""
    return _aggregate("accuracy_official", items)


def aggregate_macro_f1(items: Sequence[Mapping[str, Any]]) -> float:
    """Tasks 5/6: macro F1 over the four classes (``taskN/macro_f1``)."""
    return _aggregate("macro_f1", items)


def aggregate_unparseable_rate(items: Sequence[Mapping[str, Any]]) -> float:
    """Share of closed answers no choice could be read from (``taskN/unparseable_rate``)."""
    return _aggregate("unparseable_rate", items)
