"""The evaluate module: both ways of loading it offline, its card's example, and parity with the plain function."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rad3d_hf.scoring import score
from rad3d_hf.scoring.synthetic import perturbed_predictions
from tests.scoring_data import small_rows

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "metric" / "3d-rad-metric" / "README.md"


def test_bare_name_loads_after_import_and_matches_the_plain_function():
    import evaluate

    import rad3d_hf  # noqa: F401  (registers the name)

    metric = evaluate.load("3d-rad-metric")
    rows = small_rows()
    for row in rows:
        row["volume"] = object()  # what a dataset row with volumes carries; it must not reach Arrow
        row["task_name"] = "x"
    predictions = perturbed_predictions(rows, seed=2)
    result = metric.compute(predictions=predictions, references=rows, n_resamples=100, seed=4)
    assert result == score(predictions, rows, n_resamples=100, seed=4)
    for prediction, row in zip(predictions, rows):
        metric.add(prediction=prediction, reference=row)
    assert metric.compute(n_resamples=100, seed=4) == result


def test_missing_required_fields_are_errors_before_arrow():
    import evaluate

    import rad3d_hf  # noqa: F401

    metric = evaluate.load("3d-rad-metric")
    row = small_rows()[0]
    del row["volume_name"]
    with pytest.raises(ValueError, match="lacks the field\\(s\\) volume_name"):
        metric.compute(predictions=["a"], references=[row])


def test_folder_loads_in_a_fresh_process_without_importing_the_package(tmp_path):
    script = (
        "import sys, json, evaluate\n"
        "assert 'rad3d_hf' not in sys.modules\n"
        "metric = evaluate.load('metric/3d-rad-metric')\n"
        "rows = [{'id': 'test/task4/lung_nodule/000000', 'task': 4, 'subtask': 'Lung nodule', 'answer': 'No',\n"
        "         'choices': ['Yes', 'No'], 'answer_choice': 'B', 'volume_name': 'test_1_a_1'}]\n"
        "print(json.dumps(metric.compute(predictions=['No.'], references=rows, n_resamples=10)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["task4/accuracy"] == 1.0 and result["task4/n"] == 1


def test_the_metric_card_example_runs_as_a_doctest(monkeypatch):
    monkeypatch.chdir(ROOT)  # the example loads the module folder by its relative path
    text = CARD.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, str(CARD), str(CARD), 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_module_docstring_example_runs_as_a_doctest(monkeypatch):
    from rad3d_hf import evaluate_metric

    monkeypatch.chdir(ROOT)
    test = doctest.DocTestParser().get_doctest(evaluate_metric._KWARGS_DESCRIPTION, {}, "kwargs", None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
