"""The flat report: keys, task averaging, baselines, intervals, determinism and order invariance."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rad3d_hf import __version__
from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring import score, score_details
from rad3d_hf.scoring.report import format_table
from rad3d_hf.scoring.statistics import cluster_index, grouped_bootstrap, resample_weights
from rad3d_hf.scoring.synthetic import perturbed_predictions
from tests.conftest import real_tables_or_skip
from tests.scoring_data import make_row, real_test_rows, small_rows

SMALL = small_rows()
SMALL_PREDICTIONS = perturbed_predictions(SMALL, seed=1)
KEY = re.compile(r"^task[1-6]/([^/]+/)?([a-z0-9_]+(_[A-D])?|confusion_[A-D]_([A-D]|none))$")


def test_public_entry_point_is_lazy_exported():
    import rad3d_hf

    assert rad3d_hf.score is score


def test_keys_follow_the_documented_shapes():
    report = score(SMALL_PREDICTIONS, SMALL, n_resamples=50)
    for key in report:
        assert key in ("n", "n_volumes", "seed", "n_resamples", "cluster_by", "version") or KEY.match(key), key
    assert report["version"] == __version__ and report["seed"] == 0
    assert report["task3/Diameter/n"] + report["task3/Size/n"] == report["task3/n"] == 6
    for key in (
        "task4/Lung nodule/accuracy",
        "task3/Diameter/rouge1",
        "task1/bleu1_micro",
        "task6/accuracy_baseline_history",
        "task4/balanced_accuracy_ci95_low",
        "task5/confusion_A_none",
        "task5/macro_f1",
        "task6/accuracy_D",
    ):
        assert key in report
    fractions = [
        v for k, v in report.items() if re.search(r"(accuracy|bleu1|rouge1|rate|f1|exact)(_|$)", k.split("/")[-1])
    ]
    assert all(0 <= v <= 1 for v in fractions if not math.isnan(v))


def test_task_value_is_the_unweighted_mean_of_subtasks():
    report = score(SMALL_PREDICTIONS, SMALL, n_resamples=0)
    for number, task in TASKS.items():
        metric = "rouge1" if task.is_open else "accuracy"
        values = [
            report[f"task{number}/{s.name}/{metric}"] for s in task.subtasks if f"task{number}/{s.name}/n" in report
        ]
        assert report[f"task{number}/{metric}"] == pytest.approx(sum(values) / len(values))


def test_perfect_and_empty_predictions():
    perfect = [r["answer_choice"] or r["answer"] for r in SMALL]
    report = score(perfect, SMALL, n_resamples=20)
    for number in TASKS:
        metric = "rouge1" if TASKS[number].is_open else "accuracy"
        assert report[f"task{number}/{metric}"] == 1.0
        assert report[f"task{number}/{metric}_ci95_low"] == 1.0
    empty = score([""] * len(SMALL), SMALL, n_resamples=0)
    assert empty["task1/bleu1"] == 0.0 and empty["task1/rouge1"] == 0.0 and empty["task4/accuracy"] == 0.0
    assert empty["task1/n_empty"] == 6 and empty["task4/n_empty"] == 12 and empty["task4/unparseable_rate"] == 1.0
    assert empty["task3/measurement_unparseable_rate"] == 1.0


def test_closed_answer_details():
    rows = [make_row(4, "Lung nodule", i, "AB"[i % 2], f"test_{i}_a_1") for i in range(4)]
    result = score_details(["Yes, there is one.", "A. Yes", "I cannot tell", "B."], rows, n_resamples=0)
    report = result.metrics
    assert [q.parsed for q in result.questions] == ["A", "A", None, "B"]
    assert report["task4/accuracy"] == 0.5
    assert report["task4/accuracy_official"] == 0.25  # only "B." contains its letter and a period
    assert report["task4/balanced_accuracy"] == pytest.approx(0.5)
    assert report["task4/unparseable_rate"] == 0.25 and report["task4/n_unparseable"] == 1


def test_temporal_answers_are_split_into_what_they_say_of_now_and_before():
    # references A B C D A; a model that reads only the current scan swaps A<->C and B<->D, plus one unread answer
    rows = [make_row(5, "c", i, letter, f"test_{i}_c_1") for i, letter in enumerate("ABCDA")]
    report = score(["C", "D", "A", "B", "no idea"], rows, n_resamples=0)
    assert report["task5/present_now_accuracy"] == pytest.approx(4 / 5)
    assert report["task5/previously_present_accuracy"] == 0.0
    report = score(["B", "A", "D", "C", "A"], rows, n_resamples=0)  # the past right, the present wrong
    assert report["task5/present_now_accuracy"] == pytest.approx(1 / 5)
    assert report["task5/previously_present_accuracy"] == 1.0
    assert report["task5/accuracy"] == pytest.approx(1 / 5)


def test_task3_measurement_scores():
    rows = [make_row(3, "Diameter", i, answer, f"test_{i}_a_1") for i, answer in enumerate(["2 cm", "30 mm", "5 mm"])]
    report = score(["20 mm", "2.5 cm", "no idea"], rows, n_resamples=0)
    assert report["task3/measurement_exact"] == pytest.approx(1 / 3)
    assert report["task3/measurement_abs_error_mm"] == pytest.approx(2.5)
    assert report["task3/measurement_rel_error"] == pytest.approx((0 + 5 / 30) / 2)
    assert report["task3/measurement_unparseable_rate"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("answer"), "lacks the field"),
        (lambda r: r.update(task=9), "tasks are numbered 1-6"),
        (lambda r: r.update(subtask="Lung nodules"), "has no subtask 'Lung nodules'"),
        (lambda r: r.update(answer_choice="C"), "outside its 2 choices"),
        (lambda r: r.update(choices=["Yes"], answer_choice="A"), r"reference 1 \(id '.+'\) has 1 choice"),
        (lambda r: r.update(choices=list("ABCDE")), r"reference 1 \(id '.+'\) has 5 choices"),
    ],
)
def test_bad_references_are_errors_naming_the_row(change, message):
    rows = [dict(r) for r in SMALL if r["task"] == 4][:2]
    change(rows[1])
    with pytest.raises(ValueError, match=message):
        score(["A", "B"], rows)


@pytest.mark.parametrize(("option", "value"), [("seed", -1), ("seed", 1.5), ("n_resamples", -3), ("seed", True)])
def test_bad_options_are_errors(option, value):
    with pytest.raises(ValueError, match=f"{option} must be a non-negative integer"):
        score(SMALL_PREDICTIONS, SMALL, **{option: value})


def test_numpy_seed_gives_a_json_report():
    import json

    report = score(SMALL_PREDICTIONS, SMALL, seed=np.int64(3), n_resamples=np.int64(10))
    assert json.loads(json.dumps(report, allow_nan=True))["seed"] == 3


def test_duplicate_ids_and_length_mismatch_are_errors():
    rows = [dict(SMALL[0]), dict(SMALL[0])]
    with pytest.raises(ValueError, match="duplicate reference ids"):
        score(["a", "b"], rows)
    with pytest.raises(ValueError, match="pair up"):
        score(["a"], SMALL[:2])
    with pytest.raises(TypeError, match="not a string"):
        score([None], SMALL[:1])


def test_same_input_same_output_and_the_seed_matters():
    first = score(SMALL_PREDICTIONS, SMALL, n_resamples=200, seed=5)
    assert score(SMALL_PREDICTIONS, SMALL, n_resamples=200, seed=5) == first
    other = score(SMALL_PREDICTIONS, SMALL, n_resamples=200, seed=6)
    assert other["seed"] == 6 and other["task4/accuracy"] == first["task4/accuracy"]
    assert any(other[k] != first[k] for k in first if k.endswith("_ci95_low"))


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_order_does_not_change_anything(rng):
    order = list(range(len(SMALL)))
    rng.shuffle(order)
    shuffled = score([SMALL_PREDICTIONS[i] for i in order], [SMALL[i] for i in order], n_resamples=100, seed=3)
    assert shuffled == score(SMALL_PREDICTIONS, SMALL, n_resamples=100, seed=3)


def test_subset_scoring_reports_coverage():
    report = score(SMALL_PREDICTIONS[:10], SMALL[:10], n_resamples=0, n_expected=len(SMALL))
    assert report["coverage"] == pytest.approx(10 / len(SMALL)) and report["n_expected"] == len(SMALL)


def test_bootstrap_is_clustered_by_volume():
    # one volume with many identical questions: resampling volumes cannot vary the value, resampling questions would
    clusters, n_clusters = cluster_index(["v2"] * 50 + ["v1"] * 50)
    assert n_clusters == 2 and clusters[0] == 1  # sorted names: v1 is 0
    stats = np.array([[0.0, 1.0]] * 50 + [[1.0, 1.0]] * 50)
    weights = resample_weights(n_clusters, 400, seed=0, stream=1).astype(float)
    groups = np.zeros(100, dtype=np.int64)
    per_group, mean = grouped_bootstrap(
        clusters, n_clusters, groups, 1, stats, lambda s: s[..., 0] / s[..., 1], weights
    )
    assert set(np.round(mean, 6)) <= {0.0, 0.5, 1.0}
    assert per_group.shape == (400, 1)


@pytest.mark.real_data
def test_blind_baselines_on_the_real_test_split():
    rows = real_test_rows(real_tables_or_skip())
    report = score([r["answer_choice"] or r["answer"] for r in rows], rows, n_resamples=0)
    assert round(100 * report["task4/accuracy_baseline_majority"], 2) == 82.01
    assert round(100 * report["task6/accuracy_baseline_history"], 2) == 75.92
    assert report["n"] == 33910 and report["n_volumes"] == 2696
    assert report["task4/n_volumes"] == 1304
    assert report["task3/measurement_exact"] == 1.0


@pytest.mark.real_data
def test_real_intervals_contain_the_score_and_are_deterministic():
    rows = real_test_rows(real_tables_or_skip())
    predictions = perturbed_predictions(rows, seed=11)
    first = score(predictions, rows)
    for number, task in TASKS.items():
        metric = "rouge1" if task.is_open else "accuracy"
        key = f"task{number}/{metric}"
        assert first[f"{key}_ci95_low"] <= first[key] <= first[f"{key}_ci95_high"]
        assert first[f"{key}_ci95_high"] - first[f"{key}_ci95_low"] < 0.1
    assert score(predictions, rows) == first
    table = format_table(first)
    assert "Task 6 Longitudinal Temporal Diagnosis" in table and "75.92" in table


def test_same_report_in_fresh_processes_with_different_hash_seeds(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = (
        "import json, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from scoring_data import small_rows\n"
        "from rad3d_hf.scoring import score\n"
        "from rad3d_hf.scoring.synthetic import perturbed_predictions\n"
        "rows = small_rows()\n"
        "print(json.dumps(score(perturbed_predictions(rows, seed=4), rows, n_resamples=300), sort_keys=True))\n"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    in_process = score(perturbed_predictions(SMALL, seed=4), SMALL, n_resamples=300)
    assert outputs[0].strip() == json.dumps(in_process, sort_keys=True)


def test_bootstrap_resamples_patients_by_default_and_says_which():
    from rad3d_hf.scoring.statistics import cluster_key

    assert cluster_key("test_1005_b_2", "volume") == "test_1005_b_2"
    assert cluster_key("test_1005_b_2", "patient") == "test_1005"
    # 40 patients with 4 reconstructions each, one question per volume, right or wrong by patient: the volumes of a
    # patient are not independent, so resampling patients must give the wider interval
    rows, predictions = [], []
    for patient in range(40):
        for reconstruction in range(1, 5):
            rows.append(make_row(4, "Lung nodule", len(rows), "B", f"test_{patient}_a_{reconstruction}"))
            predictions.append("B. No" if patient % 2 else "A. Yes")
    by_volume = score(predictions, rows, n_resamples=400, cluster_by="volume")
    by_patient = score(predictions, rows, n_resamples=400)
    assert (by_volume["cluster_by"], by_patient["cluster_by"]) == ("volume", "patient")
    assert by_volume["task4/accuracy"] == by_patient["task4/accuracy"] == 0.5

    def width(report):
        return report["task4/accuracy_ci95_high"] - report["task4/accuracy_ci95_low"]

    assert width(by_patient) > 1.5 * width(by_volume)
    with pytest.raises(ValueError, match="cluster_by='scan'"):
        score(predictions, rows, cluster_by="scan")


def test_a_task3_answer_longer_than_the_cap_is_not_read_as_a_measurement_and_is_counted():
    from rad3d_hf.scoring.measurements import MAX_MEASUREMENT_TEXT

    rows = [make_row(3, "Diameter", i, "2 cm", f"test_{i}_a_1") for i in range(3)]
    rows.append(make_row(3, "Size", 3, "3 x 2 cm", "test_3_a_1"))
    rows.append(make_row(3, "Size", 4, "5 mm " + "." * MAX_MEASUREMENT_TEXT, "test_4_a_1"))  # a reference over it
    at_limit = "2 cm".ljust(MAX_MEASUREMENT_TEXT)
    predictions = [at_limit, at_limit + " ", "20 mm", "30x20 mm", "5 mm"]
    result = score_details(predictions, rows, n_resamples=0)
    by_id = {q.id: q.to_record() for q in result.questions}
    read, unread, _, _, long_reference = (by_id[row["id"]] for row in rows)
    assert len(at_limit) == MAX_MEASUREMENT_TEXT and read["parsed"] == "20 mm" and read["measurement_exact"]
    assert "measurement_unread" not in read
    assert unread["parsed"] is None and "measurement_exact" not in unread
    assert unread["measurement_unread"] == f"longer than {MAX_MEASUREMENT_TEXT} characters"
    assert unread["rouge1"] == read["rouge1"] == 1.0  # the text metrics still read the whole answer
    assert long_reference["reference_measurement"] is None and long_reference["parsed"] == "5 mm"
    assert long_reference["reference_measurement_unread"] == f"longer than {MAX_MEASUREMENT_TEXT} characters"
    metrics = result.metrics
    assert metrics["task3/Diameter/measurement_n_unread"] == 1 and metrics["task3/Size/measurement_n_unread"] == 0
    assert metrics["task3/measurement_n_unread"] == 1
    assert metrics["task3/Diameter/measurement_n_compared"] == 2 and metrics["task3/measurement_n_compared"] == 3
    assert metrics["task3/Size/measurement_n_reference_unparseable"] == 1
    assert metrics["task3/measurement_n_reference_unparseable"] == 1
    assert metrics["task3/Diameter/measurement_unparseable_rate"] == pytest.approx(1 / 3)  # the unread answer
