"""The judge's two versioned prompts and how each reply is read into a score on a 0-1 scale.

- ``m3d-aspects/1``: the M3D-Bench / 3D-RAD rubric (``M3D/Bench/eval/eval_with_llm.py``): the judge lists the
  reference's aspects and gives the percentage the prediction matches, 0-100, read as 0-1. The official script reads
  ``Score: (\\d+\\.\\d+)``, so a reply of "Score: 85" (the form its own prompt asks for, "Score: xx.") is lost as NA;
  here "Score: 85", "Score: 85.0", "**Score:** 85", "85/100" and a bare "85" are read alike.
- ``equivalence/1``: does the prediction state the same clinical finding as the reference: yes / no / partially,
  read as 1 / 0 / 0.5.

A reply is never guessed: no score, two different scores, a range, a score out of 10 or one outside 0-100 is
unreadable (``None``). A prompt's text is part of its version: changing the wording means a new version, so cached
judgements of the old wording are never mixed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PROMPTS", "JudgePrompt", "read_aspects_score", "read_equivalence"]

_MARKUP = re.compile(r"[*_`#]")
_NUMBER = r"(\d{1,3}(?:\.\d+)?)"
# "Score: 85", "score = 85.0 / 100", "Score (0-100): 85%"; a range or a denominator other than 100 is caught below
_SCORE = re.compile(
    r"\bscore\b(?:\s*\(\s*0\s*-\s*100\s*\))?\s*[:=]\s*" + _NUMBER + r"(\s*(?:-|–|to)\s*\d)?\s*%?(?:\s*/\s*(\d+))?",
    re.IGNORECASE,
)
_FRACTION = re.compile(r"(?<![\d.])" + _NUMBER + r"\s*/\s*100\b")
_BARE = re.compile(r"^\s*" + _NUMBER + r"\s*%?\s*\.?\s*$")
_VERDICT = re.compile(r"\b(?:verdict|answer)\s*[:=]\s*(yes|no|partially|partial)\b", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^\W*(yes|no|partially|partial)\b", re.IGNORECASE)
_VERDICT_VALUES = {"yes": 1.0, "no": 0.0, "partially": 0.5, "partial": 0.5}


def _one(values: list[float]) -> float | None:
    """The value all readings agree on, or None when there is none or they disagree."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def read_aspects_score(reply: str) -> float | None:
    """A 0-100 score from the judge's reply, scaled to 0-1; None when it cannot be read without guessing."""
    text = _MARKUP.sub("", reply)
    values: list[float] = []
    for match in _SCORE.finditer(text):
        number, ranged, denominator = match.groups()
        if ranged or (denominator is not None and denominator != "100"):
            return None
        values.append(float(number))
    if not values:
        values = [float(m.group(1)) for m in _FRACTION.finditer(text)]
    if not values:
        bare = _BARE.match(text)
        values = [float(bare.group(1))] if bare else []
    score = _one(values)
    if score is None or not 0.0 <= score <= 100.0:
        return None
    return score / 100.0


def read_equivalence(reply: str) -> float | None:
    """1 (yes), 0 (no) or 0.5 (partially) from the judge's reply; None when it cannot be read without guessing."""
    text = _MARKUP.sub("", reply)
    values = [_VERDICT_VALUES[m.group(1).lower()] for m in _VERDICT.finditer(text)]
    if not values:
        first = _FIRST_WORD.match(text)
        values = [_VERDICT_VALUES[first.group(1).lower()]] if first else []
    return _one(values)


@dataclass(frozen=True)
class JudgePrompt:
    """One versioned prompt: its system and user text (``{question}``, ``{reference}``, ``{prediction}``) and reader."""

    name: str
    version: str
    system: str
    template: str
    read: Callable[[str], float | None]

    def messages(self, question: str, reference: str, prediction: str) -> list[dict[str, str]]:
        """The chat messages asking for one judgement."""
        user = self.template.format(question=question, reference=reference, prediction=prediction)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


_SYSTEM = "You are an experienced radiologist who grades answers to questions about CT scans. Be strict and concise."

_ASPECTS = """Grade a model's answer to a question about a CT scan against the reference answer.

First name the aspects the reference answer states (each finding, location, size, count or attribute). Then work out \
what percentage of those aspects the model's answer states correctly or partly correctly: 0 when it matches none, \
100 when it matches all of them. Wording may differ; judge the meaning.

Question: {question}
Reference answer: {reference}
Model answer: {prediction}

Finish with one line in exactly this form, with a number from 0 to 100:
Score: <number>"""

_EQUIVALENCE = """Decide whether a model's answer to a question about a CT scan states the same clinical finding as \
the reference answer. Wording may differ; judge the clinical meaning (finding, location, size, severity).

Question: {question}
Reference answer: {reference}
Model answer: {prediction}

Say "yes" if it states the same finding, "partially" if it states part of it or gets a detail wrong, and "no" if it \
states a different or contradicting finding, or none. Finish with one line in exactly this form:
Verdict: <yes|no|partially>"""

PROMPTS: dict[str, JudgePrompt] = {
    "m3d-aspects": JudgePrompt("m3d-aspects", "m3d-aspects/1", _SYSTEM, _ASPECTS, read_aspects_score),
    "equivalence": JudgePrompt("equivalence", "equivalence/1", _SYSTEM, _EQUIVALENCE, read_equivalence),
}
