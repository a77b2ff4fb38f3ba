"""Optional text metrics: evaluate rouge's bootstrap 'mid', METEOR and BERTScore; never downloaded."""

from __future__ import annotations

import sys
import types

import pytest

from rad3d_hf.scoring import optional_metrics, score
from rad3d_hf.scoring.text_metrics import rouge1_bootstrap_mid, rouge1_fmeasure
from tests.scoring_data import small_rows

ROWS = small_rows()
PREDICTIONS = [r["answer_choice"] or r["answer"].split()[0] for r in ROWS]


def test_rouge_bootstrap_mid_is_reported_per_subtask_and_seeded():
    report = score(PREDICTIONS, ROWS, n_resamples=0, rouge_bootstrap_mid=True, seed=9)
    subtask = [(p, r) for p, r in zip(PREDICTIONS, ROWS) if r["subtask"] == "Pathological_observation"]
    ordered = sorted(subtask, key=lambda pair: pair[1]["id"])
    expected = rouge1_bootstrap_mid([rouge1_fmeasure(p, r["answer"]) for p, r in ordered], seed=9)
    assert report["task2/Pathological_observation/rouge1_bootstrap_mid"] == expected
    assert report["task2/rouge1_bootstrap_mid"] == expected  # one subtask: the task value is its value
    assert "task4/rouge1_bootstrap_mid" not in report


def test_meteor_without_nltk_data_says_what_is_missing(monkeypatch, tmp_path):
    nltk = pytest.importorskip("nltk")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(nltk, "download", lambda *a, **k: pytest.fail("no download may be attempted"))
    with pytest.raises(optional_metrics.MissingResourceError, match="wordnet.*python -m nltk.downloader wordnet"):
        score(PREDICTIONS, ROWS, n_resamples=0, meteor=True)


def test_bertscore_without_the_package_or_model_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bert_score", None)  # import fails as if not installed
    with pytest.raises(optional_metrics.MissingResourceError, match="pip install bert-score"):
        score(PREDICTIONS, ROWS, n_resamples=0, bertscore_model=str(tmp_path))
    monkeypatch.setitem(sys.modules, "bert_score", types.SimpleNamespace(score=None))
    with pytest.raises(optional_metrics.MissingResourceError, match="does not exist"):
        score(PREDICTIONS, ROWS, n_resamples=0, bertscore_model=str(tmp_path / "roberta-large"))


def test_optional_metrics_are_averaged_like_the_others(monkeypatch, tmp_path):
    calls = []

    def fake_bert_score(cands, refs, model_type, num_layers, batch_size):
        calls.append((model_type, num_layers))
        f1 = [0.5 if c == r else 0.25 for c, r in zip(cands, refs)]
        return f1, f1, f1

    monkeypatch.setitem(sys.modules, "bert_score", types.SimpleNamespace(score=fake_bert_score))
    monkeypatch.setattr(optional_metrics, "meteor_scores", lambda p, r: [float(len(x) > 3) for x in p])
    report = score(PREDICTIONS, ROWS, n_resamples=0, meteor=True, bertscore_model=str(tmp_path), bertscore_layers=9)
    assert calls and all(call == (str(tmp_path), 9) for call in calls)
    for number in (1, 2, 3):
        subtask_values = [
            v
            for k, v in report.items()
            if k.startswith(f"task{number}/") and k.count("/") == 2 and k.endswith("/bertscore_f1")
        ]
        assert report[f"task{number}/bertscore_f1"] == pytest.approx(sum(subtask_values) / len(subtask_values))
        assert f"task{number}/meteor" in report
    assert "task4/meteor" not in report
