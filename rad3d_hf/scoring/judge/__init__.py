"""Open answers (Tasks 1-3) judged by a model behind any OpenAI-compatible endpoint: reproducible, cached, counted.

``score(predictions, rows, judge=Judge(base_url, model))`` adds the ``judge_*`` keys of
:mod:`~rad3d_hf.scoring.judge.report` to the report. The prompts and how replies are read are in
:mod:`~rad3d_hf.scoring.judge.prompts`, the HTTP client in :mod:`~rad3d_hf.scoring.judge.client`, the SQLite cache in
:mod:`~rad3d_hf.scoring.judge.cache`.
"""

from __future__ import annotations

from rad3d_hf.scoring.judge.client import DEFAULT_CACHE, Judge, Judgement, JudgeUnavailable
from rad3d_hf.scoring.judge.prompts import PROMPTS, JudgePrompt

__all__ = ["DEFAULT_CACHE", "PROMPTS", "Judge", "JudgePrompt", "JudgeUnavailable", "Judgement"]
