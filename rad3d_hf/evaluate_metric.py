"""The evaluate module of the 3D-RAD scoring: a thin wrapper over :func:`rad3d_hf.scoring.score`.

``evaluate.load("3d-rad-metric")`` (after ``import rad3d_hf``) and ``evaluate.load("metric/3d-rad-metric")`` (the
module folder, no import needed) both give :class:`ThreeDRadMetric`. ``evaluate`` picks the first concrete
``EvaluationModule`` subclass it finds in this module's namespace, so only ``evaluate`` itself is imported here, never
one of its classes by name.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

from rad3d_hf.data.catalogue import CITATION
from rad3d_hf.scoring import score
from rad3d_hf.scoring.row_checks import REQUIRED_FIELDS, task_number
from rad3d_hf.scoring.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED

_DESCRIPTION = """\
Scores answers to the six 3D-RAD tasks (3D medical VQA over chest CT from CT-RATE). Open tasks (1 Anomaly Detection,
2 Image Observation, 3 Medical Computation): corpus BLEU-1 and mean ROUGE-1 F per subtask, computed exactly as the
official scripts do through evaluate's bleu and rouge modules; Task 3 also as measurements normalised to millimetres.
Closed tasks (4 Existence Detection, 5 Static and 6 Longitudinal Temporal Diagnosis): accuracy from an answer
extractor that never guesses, plus the official substring rule as `accuracy_official`. A task's value is the unweighted
mean of its subtasks. Every report carries counts, 95% bootstrap intervals clustered by CT volume (seeded), blind
baselines and the package version.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): one answer per question ("" scores 0 and is counted in `taskN/n_empty`).
    references (`list` of `dict`): the dataset rows of the questions (`load_dataset("3d-rad", ...)` rows), with at
        least `id`, `task`, `subtask`, `answer`, `volume_name`; closed questions also `choices` and `answer_choice`.
    seed (`int`, default 0): seeds the bootstrap; recorded as `seed` in the output.
    n_resamples (`int`, default 1000): bootstrap resamples for the 95% intervals (0: no intervals).
    cluster_by (`str`, default "patient"): what the bootstrap resamples, "patient" or "volume".
    rouge_bootstrap_mid (`bool`, default False): also report evaluate rouge's default aggregate.
    meteor (`bool`, default False): also report METEOR (needs NLTK's wordnet data locally).
    bertscore_model (`str`, optional): local model folder; also report BERTScore F1 (needs `bert-score`).
Returns:
    A flat `dict`: `taskN/M` (unweighted mean over subtasks), `taskN/SUBTASK/M`, `taskN/M_micro`,
    `taskN/M_ci95_low`/`_high`, `taskN/M_baseline_majority`, counts (`taskN/n`, ...), `seed`, `version`.
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("metric/3d-rad-metric")  # or evaluate.load("3d-rad-metric") after `import rad3d_hf`
    >>> yes_no = ["Yes", "No"]
    >>> references = [
    ...     {"id": "test/task4/lung_nodule/000000", "task": 4, "subtask": "Lung nodule", "answer": "Yes",
    ...      "choices": yes_no, "answer_choice": "A", "volume_name": "test_1_a_1"},
    ...     {"id": "test/task4/lung_nodule/000001", "task": 4, "subtask": "Lung nodule", "answer": "No",
    ...      "choices": yes_no, "answer_choice": "B", "volume_name": "test_2_a_1"},
    ...     {"id": "test/task3/diameter/000000", "task": 3, "subtask": "Diameter", "answer": "2 cm",
    ...      "choices": [], "answer_choice": "", "volume_name": "test_1_a_1"},
    ... ]
    >>> predictions = ["Yes, a nodule is present.", "A. Yes", "20 mm"]
    >>> results = metric.compute(predictions=predictions, references=references)
    >>> results["task4/accuracy"], results["task4/Lung nodule/accuracy_baseline_majority"]
    (0.5, 0.5)
    >>> results["task3/measurement_exact"], results["task3/rouge1"]
    (1.0, 0.0)
    >>> results["task4/n"], results["seed"]
    (2, 0)
"""

_REFERENCE_FEATURES = {
    "id": datasets.Value("string"),
    "task": datasets.Value("int32"),
    "subtask": datasets.Value("string"),
    "question": datasets.Value("string"),
    "answer": datasets.Value("string"),
    "question_type": datasets.Value("string"),
    "choices": datasets.List(datasets.Value("string")),
    "answer_choice": datasets.Value("string"),
    "volume_name": datasets.Value("string"),
    "history": datasets.List(datasets.Value("int32")),
}


_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "question": "",
    "question_type": "",
    "choices": [],
    "answer_choice": "",
    "history": [],
}


def reference_fields(row: Any, position: int = 0) -> dict[str, Any]:
    """The fields of a dataset row that scoring reads; the rest (``volume``, ``task_name``...) stays out of Arrow."""
    if not isinstance(row, dict):
        raise TypeError(f"reference {position} is a {type(row).__name__}, not a dataset row (a dict)")
    missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
    if missing:
        raise ValueError(f"reference {position} (id {row.get('id')!r}) lacks the field(s) {', '.join(missing)}")
    out = {name: row[name] for name in REQUIRED_FIELDS}
    # checked here, before Arrow would cast 4.5 to 4 or True to 1 on the way into the int32 column
    out["task"] = task_number(row["task"], f"reference {position} (id {row.get('id')!r})")
    for name, default in _OPTIONAL_DEFAULTS.items():
        value = row.get(name)
        out[name] = default if value is None else value
    return out


def _check_prediction(prediction: Any, reference: dict[str, Any] | None, position: int) -> None:
    """A prediction must be a string: evaluate's own check would not say which one is not."""
    if not isinstance(prediction, str):
        which = f"id {reference['id']!r}" if reference is not None else f"position {position}"
        raise TypeError(f"the prediction for {which} is a {type(prediction).__name__}, not a string")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ThreeDRadMetric(evaluate.Metric):
    """The 3D-RAD six-task scoring as an evaluate metric."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": dict(_REFERENCE_FEATURES)}
            ),
            homepage="https://github.com/Tang-xiaoxiao/3D-RAD",
            codebase_urls=["https://github.com/Tang-xiaoxiao/3D-RAD"],
            reference_urls=["https://huggingface.co/datasets/Tang-xiaoxiao/3D-RAD"],
        )

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """Add a batch of predictions and dataset rows (only the fields scoring reads are stored)."""
        if references is not None:
            references = [reference_fields(row, i) for i, row in enumerate(references)]
        if predictions is not None:
            for i, prediction in enumerate(predictions):
                _check_prediction(
                    prediction, references[i] if references is not None and i < len(references) else None, i
                )
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
        """Add one prediction and its dataset row (only the fields scoring reads are stored)."""
        if reference is not None:
            reference = reference_fields(reference)
        if prediction is not None:
            _check_prediction(prediction, reference, 0)
        super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(
        self,
        predictions: list[str],
        references: list[dict[str, Any]],
        seed: int = DEFAULT_SEED,
        n_resamples: int = DEFAULT_RESAMPLES,
        cluster_by: str = "patient",
        rouge_bootstrap_mid: bool = False,
        meteor: bool = False,
        bertscore_model: str | None = None,
        bertscore_layers: int = 17,
    ) -> dict[str, Any]:
        # The seed defaults to a constant, not to evaluate's per-instance random seed: same input, same report.
        return score(
            predictions,
            references,
            seed=seed,
            n_resamples=n_resamples,
            cluster_by=cluster_by,
            rouge_bootstrap_mid=rouge_bootstrap_mid,
            meteor=meteor,
            bertscore_model=bertscore_model,
            bertscore_layers=bertscore_layers,
        )
