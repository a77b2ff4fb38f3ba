"""Deterministic synthetic predictions for benchmarks, parity checks and pipeline tests.

:func:`perturbed_predictions` turns reference rows into answers of the kinds models give: reworded, truncated,
padded or wrong open answers, measurements in other units, closed answers as letters, option texts, "Yes, ..." sentences,
wrong options, unreadable text and a few empty answers. Every choice comes from ``random.Random(seed)``, so a seed
gives the same predictions everywhere.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS

_FILLERS = ("The answer is ", "I think ", "Findings: ", "It shows ", "")
_UNREADABLE = ("I cannot tell from this scan.", "Unclear.", "Please consult a radiologist")
_NUMBER_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(mm|cm)\b(.*)$")


def _open_answer(rng: random.Random, answer: str, others: Sequence[str]) -> str:
    roll = rng.random()
    words = answer.split()
    if roll < 0.01:
        return ""
    if roll < 0.25:
        return answer
    if roll < 0.40:
        return rng.choice(_FILLERS) + answer.lower()
    if roll < 0.55 and len(words) > 1:
        del words[rng.randrange(len(words))]
        return " ".join(words)
    if roll < 0.65 and len(words) > 1:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)
    if roll < 0.75:
        measured = _NUMBER_UNIT.match(answer)
        if measured:
            value, unit, rest = float(measured[1]), measured[2], measured[3]
            value, unit = (value * 10, "mm") if unit == "cm" else (value / 10, "cm")
            return f"{value:g} {unit}{rest}"
        return answer + " " + rng.choice(("noted", "is seen", "bilaterally", "in the lung"))
    return rng.choice(others)


def _closed_answer(rng: random.Random, row: Mapping[str, Any]) -> str:
    choices = list(row["choices"])
    letters = OPTION_LETTERS[: len(choices)]
    roll = rng.random()
    if roll < 0.01:
        return ""
    if roll < 0.04:
        return rng.choice(_UNREADABLE)
    letter = row["answer_choice"] if roll < 0.70 else rng.choice(letters)
    text = choices[letters.index(letter)]
    style = rng.randrange(6)
    if style == 0:
        return f"{letter}. {text}"
    if style == 1:
        return text
    if style == 2:
        return f"The answer is {letter}."
    if style == 3:
        return f"({letter})"
    if style == 4 and text in ("Yes", "No"):
        return f"{text}, {'it is' if text == 'Yes' else 'it is not'} present."
    return letter


def perturbed_predictions(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> list[str]:
    """One synthetic prediction per row, deterministic in ``seed`` and the rows' content and order."""
    rng = random.Random(seed)
    by_subtask: dict[tuple[int, str], list[str]] = {}
    for row in rows:
        by_subtask.setdefault((int(row["task"]), str(row["subtask"])), []).append(str(row["answer"]))
    out = []
    for row in rows:
        if row.get("answer_choice"):
            out.append(_closed_answer(rng, row))
        else:
            out.append(_open_answer(rng, str(row["answer"]), by_subtask[(int(row["task"]), str(row["subtask"]))]))
    return out
