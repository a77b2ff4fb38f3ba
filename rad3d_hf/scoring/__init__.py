"""Scoring of 3D-RAD predictions: plain functions, no evaluate needed.

``score(predictions, references)`` returns the flat report (see :mod:`rad3d_hf.scoring.scorer` for its keys);
``score_details`` also returns every question's parsed answer and score (:mod:`~rad3d_hf.scoring.questions`).
The parts: text metrics (:mod:`~rad3d_hf.scoring.text_metrics`), closed-answer extraction
(:mod:`~rad3d_hf.scoring.answer_extraction`), Task 3 measurements (:mod:`~rad3d_hf.scoring.measurements`), clustered
bootstrap (:mod:`~rad3d_hf.scoring.statistics`), blind baselines (:mod:`~rad3d_hf.scoring.baselines`), predictions
files (:mod:`~rad3d_hf.scoring.predictions`), the human-readable report (:mod:`~rad3d_hf.scoring.report`,
:mod:`~rad3d_hf.scoring.figure`), optional METEOR/BERTScore (:mod:`~rad3d_hf.scoring.optional_metrics`) and synthetic
predictions for benchmarks (:mod:`~rad3d_hf.scoring.synthetic`).
"""

from __future__ import annotations

from rad3d_hf.scoring.scorer import QuestionResult, ScoreResult, score, score_details


def clear_caches() -> None:
    """Empty the tokenizer, extraction and measurement caches (for timing cold runs)."""
    from rad3d_hf.scoring import answer_extraction, measurements, text_metrics

    for cached in (
        text_metrics.rouge_tokens,
        text_metrics._rouge_counts,
        text_metrics.tokenize_13a,
        text_metrics._bleu_counts,
        answer_extraction._extract,
        measurements.parse_measurement,
    ):
        cached.cache_clear()


__all__ = ["QuestionResult", "ScoreResult", "clear_caches", "score", "score_details"]
