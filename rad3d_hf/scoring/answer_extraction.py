"""Read the chosen option out of a free-text answer to a closed question, without ever guessing.

Rules, tried in this order; the first rule that finds anything decides:

1. ``statement``: an explicit answer statement naming a letter: "The answer is B", "Answer: (B)", "option B",
   "choice: B"; lower case too ("the answer is b"), except that a lone "a" only counts when marked ("(a)", "a.",
   "a)", "a:") or ending the answer, since it is usually the article ("the answer is a nodule").
2. ``letter``: the whole answer is one letter, optionally in brackets or followed by ``.``, ``)`` or ``:``
   ("B", "(b)", "B.").
3. ``marked_letter``: letters marked as options anywhere, not inside a word: "B. No", "(B)", "B)", "B:".
4. ``option_text`` (questions whose options are not Yes/No): the full text of an option, matched case-insensitively
   on word boundaries ("No Abnormality (Always absent)"); failing that, the part of an option before its bracket
   ("No Abnormality"). An option text right after a negation ("no new lesion", "not a new lesion") does not count.
5. ``yes_no_first_word`` (Yes/No questions): the first word is "yes" or "no" ("Yes, a nodule is present"), unless
   the answer offers both as alternatives ("Yes or no", "Yes/No"), which is ``ambiguous``.
6. ``yes_no_word`` (Yes/No questions): the whole word "yes" or "no" occurs, but not both.

Markdown emphasis (``*``) is ignored ("**Answer:** B"). Tie-break: within the deciding rule, every match must name
the same option; if two different options match, the answer is ``ambiguous`` and no option is chosen. Letters only
count when they name an existing option (A/B for a Yes/No question). An answer that no rule reads is
``unparseable``. Both count as wrong and their rates are reported; nothing is ever chosen at random.

:func:`official_correct` is the rule of the official 3D-RAD script: the correct letter followed by a period occurs
anywhere in the answer (so "A. B. C. D." is always right). It is reported as ``accuracy_official``, named as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rad3d_hf.catalogue import OPTION_LETTERS

RULES: tuple[str, ...] = (
    "statement",
    "letter",
    "marked_letter",
    "option_text",
    "yes_no_first_word",
    "yes_no_word",
)
AMBIGUOUS = "ambiguous"
UNPARSEABLE = "unparseable"
EMPTY = "empty"

_LETTERS = "".join(OPTION_LETTERS)
_STATEMENT = re.compile(
    rf"(?i:\b(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\b\s*(?:is|would\s+be|:|-)?\s*:?\s*)"
    rf"(?:\(?([{_LETTERS}])\)?(?![A-Za-z0-9])|\(([{_LETTERS.lower()}])\)|([{_LETTERS[1:].lower()}])\)?(?![A-Za-z0-9])"
    rf"|(a)(?:\)|[.:](?![A-Za-z0-9])|\s*$))"
)
_WHOLE_LETTER = re.compile(rf"^\s*\(?([{_LETTERS}{_LETTERS.lower()}])\s*\)?\s*[.):]?\s*$")
_MARKED_LETTER = re.compile(rf"(?<![A-Za-z0-9])(?:\(([{_LETTERS}])\)|([{_LETTERS}])[.):](?![A-Za-z0-9]))")
_FIRST_WORD = re.compile(r"^[\W_]*([A-Za-z]+)(?![A-Za-z0-9])")
# "yes or no", "Yes/No": both options named as alternatives, whatever comes first
_YES_NO_ALTERNATIVES = re.compile(r"(?i)\b(?:yes\s*(?:/|\bor\b|\band\b)\s*no|no\s*(?:/|\bor\b|\band\b)\s*yes)\b")
_YES = re.compile(r"(?i)\byes\b")
_NO = re.compile(r"(?i)\bno\b")
_OPTION_HEAD = re.compile(r"^(.*?)\s*\(")
# "no new lesion", "not a new lesion": the option named only to be denied
_NEGATION_BEFORE = re.compile(r"(?i)\b(?:no|not|without|neither|nor)(?:\s+(?:a|an|the|any))?\s*$")


@dataclass(frozen=True)
class Extraction:
    """What was read from an answer: the option letter (``None`` if none) and the rule that decided."""

    letter: str | None
    rule: str

    @property
    def parsed(self) -> bool:
        return self.letter is not None


def _single(letters: Sequence[str], rule: str) -> Extraction | None:
    found = set(letters)
    if not found:
        return None
    if len(found) > 1:
        return Extraction(None, AMBIGUOUS)
    return Extraction(found.pop(), rule)


def _marked(pattern: re.Pattern[str], text: str, valid: str) -> list[str]:
    return [a or b for a, b in (m.groups() for m in pattern.finditer(text)) if (a or b) in valid]


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    escaped = r"\s+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?i)(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")


@lru_cache(maxsize=64)
def _option_patterns(choices: tuple[str, ...]) -> tuple[tuple[tuple[re.Pattern[str], str], ...], ...]:
    """Per matching level, (pattern, letter) pairs: full option texts first, then the text before a bracket."""
    full = tuple((_phrase_pattern(text), letter) for text, letter in zip(choices, OPTION_LETTERS) if text.strip())
    heads = []
    for text, letter in zip(choices, OPTION_LETTERS):
        head = _OPTION_HEAD.match(text)
        if head and head.group(1).strip():
            heads.append((_phrase_pattern(head.group(1)), letter))
    return (full, tuple(heads))


def _affirmed(pattern: re.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` occurs in ``text`` at least once without a negation just before it."""
    return any(not _NEGATION_BEFORE.search(text, 0, m.start()) for m in pattern.finditer(text))


def _is_yes_no(choices: tuple[str, ...]) -> bool:
    return tuple(c.strip().lower() for c in choices) == ("yes", "no")


@lru_cache(maxsize=1 << 17)
def _extract(text: str, choices: tuple[str, ...]) -> Extraction:
    if not text.strip():
        return Extraction(None, EMPTY)
    valid = _LETTERS[: len(choices)]
    text = text.replace("*", "")  # markdown emphasis ("**Answer:** B")

    statements = [m[m.lastindex].upper() for m in _STATEMENT.finditer(text) if m.lastindex]
    found = _single([letter for letter in statements if letter in valid], "statement")
    if found:
        return found
    whole = _WHOLE_LETTER.match(text)
    if whole:
        letter = whole.group(1).upper()
        return Extraction(letter, "letter") if letter in valid else Extraction(None, UNPARSEABLE)
    found = _single(_marked(_MARKED_LETTER, text, valid), "marked_letter")
    if found:
        return found
    if not _is_yes_no(choices):
        for level in _option_patterns(choices):
            found = _single([letter for pattern, letter in level if _affirmed(pattern, text)], "option_text")
            if found:
                return found
    elif _YES_NO_ALTERNATIVES.search(text):
        return Extraction(None, AMBIGUOUS)
    else:
        first = _FIRST_WORD.match(text)
        if first and first.group(1).lower() in ("yes", "no"):
            return Extraction("A" if first.group(1).lower() == "yes" else "B", "yes_no_first_word")
        yes, no = bool(_YES.search(text)), bool(_NO.search(text))
        if yes and no:
            return Extraction(None, AMBIGUOUS)
        if yes or no:
            return Extraction("A" if yes else "B", "yes_no_word")
    return Extraction(None, UNPARSEABLE)


def extract_choice(prediction: str, choices: Sequence[str]) -> Extraction:
    """The option letter that ``prediction`` chooses among ``choices`` (option texts in letter order).

    Never guesses: returns ``Extraction(None, "ambiguous" | "unparseable" | "empty")`` when the answer does not name
    exactly one option under the first rule that matches (see the module docstring for the rules).
    """
    if not 2 <= len(choices) <= len(OPTION_LETTERS):
        raise ValueError(f"a closed question needs 2 to {len(OPTION_LETTERS)} choices, got {list(choices)!r}")
    return _extract(prediction, tuple(choices))


def official_correct(prediction: str, answer_choice: str) -> bool:
    """The official 3D-RAD rule: ``answer_choice + "."`` occurs in the prediction."""
    return (answer_choice + ".") in prediction
