"""BLEU-1 and ROUGE-1 against independent implementations: rouge-score per question, sacrebleu per subtask."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, scoring
from rouge_score import tokenize as rouge_tokenize
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from rad3d_hf.scoring import score
from rad3d_hf.scoring.synthetic import perturbed_predictions
from rad3d_hf.scoring.text_metrics import (
    bleu1_from_sums,
    corpus_bleu1,
    rouge1_bootstrap_mid,
    rouge1_fmeasure,
    rouge_tokens,
    tokenize_13a,
)
from tests.conftest import real_tables_or_skip
from tests.scoring_data import real_test_rows

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
ASCIIISH = st.text(alphabet="ab cdAB.,-;:()/&'\"0123456789\n\t", max_size=60)
# runs of periods and commas between digits and letters: what 13a's period and comma rules pair up
PERIOD_RUNS = st.text(alphabet="1a.,- \u0663", max_size=30)


def _sacrebleu_bleu1(predictions: list[str], references: list[str]) -> float:
    bleu = BLEU(max_ngram_order=1, smooth_method="none", tokenize="13a")
    return bleu.corpus_score(predictions, [references]).score / 100


@pytest.fixture(scope="module")
def open_pairs():
    rows = real_test_rows(real_tables_or_skip())
    predictions = perturbed_predictions(rows, seed=7)
    return [(p, r) for p, r in zip(predictions, rows) if r["question_type"] == "open"], rows, predictions


@pytest.mark.real_data
def test_rouge1_equals_rouge_score_per_question(open_pairs):
    pairs, _, _ = open_pairs
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
    assert len(pairs) == 4692
    for prediction, row in pairs:
        expected = scorer.score(row["answer"], prediction)["rouge1"].fmeasure
        assert rouge1_fmeasure(prediction, row["answer"]) == expected, (row["id"], prediction)


@pytest.mark.real_data
def test_bleu1_equals_sacrebleu_per_subtask(open_pairs):
    pairs, rows, predictions = open_pairs
    by_subtask = defaultdict(list)
    for prediction, row in pairs:
        by_subtask[(row["task"], row["subtask"])].append((prediction, row["answer"]))
    report = score(predictions, rows, n_resamples=0)
    assert len(by_subtask) == 9
    for (task, subtask), items in by_subtask.items():
        preds, refs = [p for p, _ in items], [r for _, r in items]
        expected = _sacrebleu_bleu1(preds, refs)
        assert corpus_bleu1(preds, refs) == pytest.approx(expected, abs=1e-12)
        assert report[f"task{task}/{subtask}/bleu1"] == pytest.approx(expected, abs=1e-12)
        rouge_expected = math.fsum(
            rouge_scorer.RougeScorer(["rouge1"]).score(r, p)["rouge1"].fmeasure for p, r in items
        ) / len(items)
        assert report[f"task{task}/{subtask}/rouge1"] == rouge_expected


@pytest.mark.real_data
def test_bleu1_on_closed_answers_as_text_matches_sacrebleu(real_tables):
    # the 13a tokenizer sees long option texts with brackets and commas here
    rows = [r for r in real_test_rows(real_tables) if r["task"] == 6 and r["subtask"] in ("c", "d")]
    predictions = perturbed_predictions(rows, seed=3)
    references = [r["answer"] for r in rows]
    assert corpus_bleu1(predictions, references) == pytest.approx(_sacrebleu_bleu1(predictions, references), abs=1e-12)


@pytest.mark.real_data
def test_rouge1_bootstrap_mid_equals_rouge_score_aggregator(open_pairs):
    pairs, _, _ = open_pairs
    subset = [(p, r) for p, r in pairs if r["subtask"] == "Thickness"]
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    aggregator = scoring.BootstrapAggregator()
    for prediction, row in subset:
        aggregator.add_scores(scorer.score(row["answer"], prediction))
    state = np.random.get_state()
    np.random.seed(42)  # what evaluate's module does around _compute, with its seed
    try:
        expected = aggregator.aggregate()["rouge1"].mid.fmeasure
    finally:
        np.random.set_state(state)
    ours = rouge1_bootstrap_mid([rouge1_fmeasure(p, r["answer"]) for p, r in subset], seed=42)
    assert ours == pytest.approx(expected, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(ASCIIISH | TEXT | PERIOD_RUNS)
def test_13a_tokens_equal_sacrebleu(text):
    assert " ".join(tokenize_13a(text)) == Tokenizer13a()(text)


@settings(max_examples=200, deadline=None)
@given(ASCIIISH | TEXT)
def test_rouge_tokens_equal_rouge_score(text):
    assert list(rouge_tokens(text)) == rouge_tokenize.tokenize(text, None)


@settings(max_examples=200, deadline=None)
@given(ASCIIISH, ASCIIISH)
def test_rouge1_fmeasure_equals_rouge_score_on_any_text(prediction, reference):
    expected = rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)["rouge1"].fmeasure
    assert rouge1_fmeasure(prediction, reference) == expected


def test_bleu1_edge_cases():
    assert bleu1_from_sums(0, 0, 5) == 0.0  # every prediction empty: evaluate raises, we score 0
    assert corpus_bleu1(["a b c d"], ["a b"]) == 0.5  # longer than the reference: no brevity penalty
    assert corpus_bleu1(["a"], ["a b"]) == pytest.approx(math.exp(1 - 2))  # brevity penalty exp(1 - ref/hyp)
    assert corpus_bleu1(["x y"], ["a b"]) == 0.0
