"""The temporal-vs-single comparison: both runs in order, compared only where both scored the test split."""

from __future__ import annotations

import json

from rad3d_hf.scoring import score
from rad3d_hf.scoring.temporal_runs import COMPARISON_FILE, RUN_NAMES, compare_temporal_runs
from tests.scoring_data import small_rows


def test_both_runs_are_compared_beside_the_blind_baselines(tmp_path, capsys):
    rows = [r for r in small_rows() if r["task"] in (5, 6)]
    calls = []

    def train_and_score(name, output_dir):
        calls.append((name, output_dir))
        answers = [r["answer_choice"] if name == "temporal" else "D" for r in rows]
        return score(answers, rows, n_resamples=0)

    out = compare_temporal_runs(train_and_score, lambda: rows, tmp_path, split="test", seed=3)
    assert calls == [(name, tmp_path / name) for name in RUN_NAMES] and RUN_NAMES[0] == "temporal"
    assert json.loads((tmp_path / COMPARISON_FILE).read_text()) == json.loads(json.dumps(out))
    assert set(out) == {"single", "temporal"} and out["temporal"]["task5/accuracy"] == 1.0
    printed = capsys.readouterr().out
    assert "Tasks 5 and 6 on the test split (seed 3)" in printed
    for run in ("temporal", "single", "majority", "history"):
        assert any(line.startswith("Task 5") and run in line for line in printed.splitlines()), run


def test_nothing_is_compared_without_both_reports(tmp_path):
    calls = []

    def train_and_score(name, output_dir):
        calls.append(name)
        return None if name == "single" else {"n": 1}

    def no_rows():
        raise AssertionError("the test rows are read only to compare")

    assert compare_temporal_runs(train_and_score, no_rows, tmp_path, split="test", seed=0) == {}
    assert calls == list(RUN_NAMES) and not (tmp_path / COMPARISON_FILE).exists()
