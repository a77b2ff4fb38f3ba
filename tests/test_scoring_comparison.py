"""Paired comparison of two prediction files: values, intervals, p-values, seeding, and `rad3d-hf compare`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rad3d_hf.cli import main
from rad3d_hf.data.catalogue import OPTION_LETTERS
from rad3d_hf.data.rows import read_rows
from rad3d_hf.scoring import score
from rad3d_hf.scoring.paired_comparison import bootstrap_p_value, compare
from rad3d_hf.scoring.predictions import write_predictions_jsonl
from tests.qa_table_files import closed_row, write_table
from tests.scoring_data import make_row


def _rows(n_patients: int = 30):
    rows = []
    for p in range(n_patients):
        for recon in (1, 2):  # two reconstructions of one scan: one patient, two volumes
            volume = f"test_{p}_a_{recon}"
            index = 2 * p + recon
            rows.append(make_row(4, "Lung nodule", index, "AB"[p % 2], volume))
            rows.append(make_row(5, "b", index, "ABCD"[p % 4], volume))
            rows.append(make_row(1, "Diagnosis", index, f"nodule in lobe {p % 3}", volume))
    return rows


def _right(row):
    return row["answer"] if row["task"] == 1 else f"{row['answer_choice']}. {row['answer']}"


def _wrong(row):
    if row["task"] == 1:
        return "no finding"
    letters = OPTION_LETTERS[: len(row["choices"])]
    return letters[(letters.index(row["answer_choice"]) + 1) % len(letters)]


def test_identical_predictions_differ_by_zero_with_p_one():
    rows = _rows()
    predictions = [_right(r) if i % 3 else _wrong(r) for i, r in enumerate(rows)]
    result = compare(predictions, predictions, rows, n_resamples=200)
    for key in ("task4/accuracy", "task5/b/accuracy", "task1/bleu1", "task1/rouge1"):
        assert result[f"{key}_diff"] == 0
        assert result[f"{key}_diff_ci95_low"] == result[f"{key}_diff_ci95_high"] == 0
        assert result[f"{key}_diff_p"] == 1.0


def test_a_clearly_better_model_has_a_positive_interval_and_small_p():
    rows = _rows()
    good = [_right(r) for r in rows]
    poor = [_right(r) if i % 2 else _wrong(r) for i, r in enumerate(rows)]
    result = compare(good, poor, rows, n_resamples=500, seed=3)
    report_good, report_poor = score(good, rows, n_resamples=0), score(poor, rows, n_resamples=0)
    for key in ("task4/accuracy", "task4/balanced_accuracy", "task5/accuracy", "task1/rouge1"):
        assert result[f"{key}_a"] == report_good[key] and result[f"{key}_b"] == report_poor[key]
        assert result[f"{key}_diff"] == pytest.approx(report_good[key] - report_poor[key])
        assert 0 < result[f"{key}_diff_ci95_low"] <= result[f"{key}_diff"] <= result[f"{key}_diff_ci95_high"]
        assert result[f"{key}_diff_p"] == pytest.approx(2 / 501)  # the smallest p 500 resamples can give
    reverse = compare(poor, good, rows, n_resamples=500, seed=3)
    assert reverse["task4/accuracy_diff_ci95_high"] == pytest.approx(-result["task4/accuracy_diff_ci95_low"])


def test_seeded_recorded_and_clustered_by_patient_by_default():
    rows = _rows()
    a = [_right(r) if i % 4 else _wrong(r) for i, r in enumerate(rows)]
    b = [_right(r) if i % 3 else _wrong(r) for i, r in enumerate(rows)]
    first = compare(a, b, rows, n_resamples=300, seed=7)
    assert first == compare(a, b, rows, n_resamples=300, seed=7)
    assert (first["seed"], first["n_resamples"], first["cluster_by"]) == (7, 300, "patient")
    by_volume = compare(a, b, rows, n_resamples=300, seed=7, cluster_by="volume")
    assert by_volume["cluster_by"] == "volume"
    assert by_volume["task4/accuracy_diff_ci95_low"] != first["task4/accuracy_diff_ci95_low"]
    shuffled = np.random.default_rng(0).permutation(len(rows))
    again = compare(
        [a[i] for i in shuffled], [b[i] for i in shuffled], [rows[i] for i in shuffled], n_resamples=300, seed=7
    )
    assert again == first  # row order does not matter


def test_p_value_rule():
    assert bootstrap_p_value(np.array([[1.0], [2.0], [3.0]]))[0] == pytest.approx(2 / 4)
    assert bootstrap_p_value(np.array([[-1.0], [1.0], [2.0], [np.nan]]))[0] == pytest.approx(1.0)
    assert np.isnan(bootstrap_p_value(np.array([[np.nan], [np.nan]]))[0])


def test_bad_input_is_an_error():
    rows = _rows(2)
    with pytest.raises(ValueError, match="both must answer every row"):
        compare(["A"] * len(rows), ["A"], rows)
    with pytest.raises(ValueError, match="cluster_by"):
        compare(["A"] * len(rows), ["A"] * len(rows), rows, cluster_by="scanner")


@pytest.fixture
def tables(tmp_path):
    root = tmp_path / "tables"
    rows = [
        closed_row(4, "Lung nodule", "test", f"test_{p}_a_{r}.nii.gz", "Nodule?", "AB"[p % 2])
        for p in range(12)
        for r in (1, 2)
    ]
    write_table(root, "test", 4, "Lung nodule", rows)
    return root


def test_compare_cli_prints_writes_and_plots(tables, tmp_path, capsys):
    rows = list(read_rows(str(tables), "test", "task4_lung_nodule"))
    a = {row["id"]: f"{row['answer_choice']}. {row['answer']}" for row in rows}
    b = {row["id"]: ("Yes" if i % 2 else "No") for i, row in enumerate(rows)}
    write_predictions_jsonl(tmp_path / "a.jsonl", a)
    write_predictions_jsonl(tmp_path / "b.jsonl", b)
    out = tmp_path / "cmp"
    args = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--data-dir", str(tables)]
    code = main(["compare", *args, "--config", "task4_lung_nodule", "--out", str(out), "--resamples", "200"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "A = a.jsonl, B = b.jsonl: 24 paired questions" in printed and "200 paired resamples of patients" in printed
    assert "Lung nodule" in printed and "A - B" in printed
    result = json.loads((out / "comparison.json").read_text())
    assert result["task4/accuracy_a"] == 1.0 and result["seed"] == 0 and result["cluster_by"] == "patient"
    assert result["task4/accuracy_diff"] == pytest.approx(1.0 - result["task4/accuracy_b"])
    assert (out / "comparison.txt").read_text().strip() in printed
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_cli_files_answering_different_questions_exit_2(tables, tmp_path, capsys):
    rows = list(read_rows(str(tables), "test", "task4_lung_nodule"))
    write_predictions_jsonl(tmp_path / "a.jsonl", {row["id"]: "Yes" for row in rows})
    write_predictions_jsonl(tmp_path / "b.jsonl", {row["id"]: "Yes" for row in rows[1:]})
    args = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--data-dir", str(tables), "--no-figure"]
    assert main(["compare", *args, "--config", "task4_lung_nodule"]) == 2
    error = capsys.readouterr().err.strip()
    assert "must answer the same questions; 1 differ" in error and rows[0]["id"] in error
    assert len(error.splitlines()) == 1
