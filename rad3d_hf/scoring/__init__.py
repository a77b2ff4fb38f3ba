"""Scoring of 3D-RAD predictions: plain functions, no evaluate needed.

``score(predictions, references)`` returns the flat report (see :mod:`rad3d_hf.scoring.scorer` for its keys);
``score_details`` also returns every question's parsed answer and score. The parts: text metrics
(:mod:`~rad3d_hf.scoring.text_metrics`), closed-answer extraction (:mod:`~rad3d_hf.scoring.answer_extraction`), Task 3
measurements (:mod:`~rad3d_hf.scoring.measurements`), clustered bootstrap (:mod:`~rad3d_hf.scoring.statistics`),
blind baselines (:mod:`~rad3d_hf.scoring.baselines`), predictions files (:mod:`~rad3d_hf.scoring.predictions`) and
the human-readable report (:mod:`~rad3d_hf.scoring.report`).
"""

from __future__ import annotations

from rad3d_hf.scoring.scorer import QuestionResult, ScoreResult, score, score_details

__all__ = ["QuestionResult", "ScoreResult", "score", "score_details"]
