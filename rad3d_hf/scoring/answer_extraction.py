"""Read the chosen option out of a free-text answer to a closed question, without ever guessing.

The answer is first normalised: markdown emphasis and code marks (``*``, `````) are dropped and whitespace runs
shortened. Rules are then tried in this order; the first rule that finds anything decides:

1. ``final_answer``: a final-answer marker, the last one in the answer: ``<answer>B</answer>``, ``\\boxed{B}``,
   "Final answer: B", "Answer: B", "Ans: B" (the rest of that line, up to 300 characters). What it marks is read by
   rules 2-8 alone, so "Let me compare A and B ... Answer: B" is B. A marker whose content reads nothing does not
   decide; the whole answer is then read by rules 2-8.
2. ``statement``: a letter stated as the answer: "The answer is B", "option (c)", "I choose B", "B is correct".
   A lower-case "a" only counts when marked ("(a)", "a.") or ending the answer, since it is usually the article.
3. ``letter``: the whole answer is one letter, optionally bracketed or followed by ``.``, ``)`` or ``:`` ("B",
   "(b)", "[B]", "`B`", "B.").
4. ``marked_letter``: letters marked as options ("B. No", "(B)", "B)", "B:"), led like a choice: at the start of a
   line, after punctuation or after a cue word ("I think B."), never after another word, so "hepatitis B." or
   "vitamin A." name no option.
5. ``option_text`` (options other than Yes/No): the full text of an option, matched case-insensitively on word
   boundaries; failing that, the part of an option before its bracket ("New lesion").
6. ``yes_no_first_word`` (Yes/No questions): the first word is "yes" or "no" ("Yes, a nodule is present").
7. ``yes_no_word`` (Yes/No questions): the whole word "yes" or "no" occurs, but not both.
8. ``yes_no_phrase`` (Yes/No questions): the answer says the finding is there ("is present", "the CT scan shows",
   "there is") or is not ("not present", "does not show", "absent"), but not both.

Never read: a letter or an option right after a negation ("Not A.", "Anything but C.", "rather than B", "no new
lesion") or denied right after ("B is incorrect", "New lesion? No."); a letter inside a word or a name. Ambiguous,
choosing nothing: two different options under the deciding rule, letters offered as alternatives ("The answer is (A)
or (B)", "A/B") and Yes/No offered as alternatives ("Yes or no"). Unparseable: an answer that no rule reads, and one
that says it cannot answer ("No idea.", "It is not possible to say yes.", "Cannot be determined") unless rules 1-4
read a letter in it. Letters only count when they name an existing option (A/B for a Yes/No question). All of these
count as wrong and their rates are reported; nothing is ever chosen at random.

The extractor is linear in the answer's length (every context check reads a fixed window around its match), so a
1 MB answer is read in well under a second; nothing is cut off.

:func:`official_correct` is the rule of the official 3D-RAD script: the correct letter followed by a period occurs
anywhere in the answer (so "A. B. C. D." is always right). It is reported as ``accuracy_official``, named as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rad3d_hf.data.catalogue import OPTION_LETTERS
from rad3d_hf.scoring import answer_patterns as patterns

RULES: tuple[str, ...] = (
    "final_answer",
    "statement",
    "letter",
    "marked_letter",
    "option_text",
    "yes_no_first_word",
    "yes_no_word",
    "yes_no_phrase",
)
AMBIGUOUS = "ambiguous"
UNPARSEABLE = "unparseable"
EMPTY = "empty"
# answers up to this long are cached (scoring several files of one split reads the same short answers again)
_CACHED_CHARS = 4096


@dataclass(frozen=True)
class Extraction:
    """What was read from an answer: the option letter (``None`` if none) and the rule that decided."""

    letter: str | None
    rule: str

    @property
    def parsed(self) -> bool:
        return self.letter is not None


def _single(letters: Iterable[str], rule: str) -> Extraction | None:
    found = set(letters)
    if not found:
        return None
    if len(found) > 1:
        return Extraction(None, AMBIGUOUS)
    return Extraction(found.pop(), rule)


def _statement_letters(text: str, low: str, valid: str) -> list[str]:
    letters = []
    for cue in patterns.word_matches(patterns.STATEMENT_CUE, low):
        match = patterns.LETTER_AFTER_CUE.match(text, cue.end())
        if match is None or match.lastindex is None:
            continue
        _start, end = match.span(match.lastindex)
        if patterns.negated(low, cue.start(), end):
            continue
        if patterns.offered_with_alternative(text, end):
            return [AMBIGUOUS]
        letters.append(match.group(match.lastindex).upper())
        if len(set(letters)) > 1:
            break  # already ambiguous
    if " is " not in low and " would be " not in low and " seems " not in low:
        return [letter for letter in letters if letter in valid]
    letters.extend(
        match.group(1)
        for match in patterns.word_matches(patterns.LETTER_IS_CORRECT, text, _LETTER_INSIDE)
        if not _bracket_inside_word(text, match.start()) and not patterns.negated(low, match.start(), match.start())
    )
    return [letter for letter in letters if letter in valid]


# a letter is inside a word when a letter, a digit or an apostrophe comes just before it ("hepatitis B" is handled by
# the lead check); a bracket before a letter must itself not follow a letter ("x(B)")
_LETTER_INSIDE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'")


def _bracket_inside_word(text: str, start: int) -> bool:
    return text[start] in "([" and start > 0 and text[start - 1] in _LETTER_INSIDE


def _marked_letters(text: str, low: str, valid: str) -> list[str]:
    letters = []
    for match in patterns.word_matches(patterns.MARKED_LETTER, text, _LETTER_INSIDE):
        index = 1 if match.group(1) else 2
        start, end = match.span(index)
        if index == 1 and _bracket_inside_word(text, match.start()):
            continue
        if index == 2 and not patterns.led_as_choice(low, start):
            continue  # "hepatitis B.": a name, not a choice
        if patterns.negated(low, match.start(), end):
            continue
        if match.group(index) in valid:
            letters.append(match.group(index))
            if len(set(letters)) > 1:
                break  # already ambiguous
    return letters


@lru_cache(maxsize=64)
def _option_patterns(choices: tuple[str, ...]) -> tuple[tuple[tuple[re.Pattern[str], str], ...], ...]:
    """Per matching level, (pattern, letter) pairs: full option texts first, then the text before a bracket."""
    full = tuple(
        (patterns.phrase_pattern(text), letter) for text, letter in zip(choices, OPTION_LETTERS) if text.strip()
    )
    heads = []
    for text, letter in zip(choices, OPTION_LETTERS):
        head = patterns.OPTION_HEAD.match(" ".join(text.split()))
        if head and head.group(1).strip():
            heads.append((patterns.phrase_pattern(head.group(1)), letter))
    return (full, tuple(heads))


def _affirmed(pattern: re.Pattern[str], low: str) -> list[re.Match[str]]:
    """The occurrences of ``pattern`` in ``low`` that are not denied by the words around them."""
    return [m for m in patterns.word_matches(pattern, low) if not patterns.negated(low, m.start(), m.end())]


def _is_yes_no(choices: tuple[str, ...]) -> bool:
    return tuple(c.strip().lower() for c in choices) == ("yes", "no")


def _read_yes_no(low: str) -> Extraction | None:
    if patterns.has_word_match(patterns.YES_NO_ALTERNATIVES, low):
        return Extraction(None, AMBIGUOUS)
    first = patterns.FIRST_WORD.match(low)
    if first and first.group(1) in ("yes", "no"):
        return Extraction("A" if first.group(1) == "yes" else "B", "yes_no_first_word")
    yes, no = patterns.has_word_match(patterns.YES, low), patterns.has_word_match(patterns.NO, low)
    if yes and no:
        return Extraction(None, AMBIGUOUS)
    if yes or no:
        return Extraction("A" if yes else "B", "yes_no_word")
    seen = absent = False
    for match in patterns.word_matches(patterns.FINDING_SEEN, low):
        if patterns.seen_verb_negated(low, match.start(), match.end()):
            absent = True
        else:
            seen = True
    absent = absent or patterns.has_word_match(patterns.FINDING_ABSENT, low)
    if seen and absent:
        return Extraction(None, AMBIGUOUS)
    if seen or absent:
        return Extraction("A" if seen else "B", "yes_no_phrase")
    return None


def _read(text: str, choices: tuple[str, ...]) -> Extraction:
    """Rules 2-8 on normalised text."""
    valid = patterns.LETTERS[: len(choices)]
    low = patterns.ascii_lower(text)
    stated = _statement_letters(text, low, valid)
    if AMBIGUOUS in stated:
        return Extraction(None, AMBIGUOUS)
    found = _single(stated, "statement")
    if found:
        return found
    whole = patterns.WHOLE_LETTER.match(text)
    if whole:
        letter = whole.group(1).upper()
        return Extraction(letter, "letter") if letter in valid else Extraction(None, UNPARSEABLE)
    if ("or" in low or "/" in low or "vs" in low) and patterns.word_matches(
        patterns.LETTER_ALTERNATIVES, text, _LETTER_INSIDE
    ):
        return Extraction(None, AMBIGUOUS)
    found = _single(_marked_letters(text, low, valid), "marked_letter")
    if found:
        return found
    if patterns.has_word_match(patterns.HEDGE, low):
        return Extraction(None, UNPARSEABLE)
    if _is_yes_no(choices):
        return _read_yes_no(low) or Extraction(None, UNPARSEABLE)
    for level in _option_patterns(choices):
        affirmed = [(letter, match) for pattern, letter in level for match in _affirmed(pattern, low)]
        if any(patterns.offered_as_alternative(low, m.start(), m.end()) for _, m in affirmed):
            return Extraction(None, AMBIGUOUS)
        found = _single([letter for letter, _ in affirmed], "option_text")
        if found:
            return found
    return Extraction(None, UNPARSEABLE)


def _final_answer(text: str) -> str | None:
    """What the last final-answer marker marks: a tag's or a box's content, else the rest of an "Answer:" line."""
    low = patterns.ascii_lower(text)
    for pattern in (patterns.ANSWER_TAG, patterns.BOXED):
        last = None
        for last in pattern.finditer(low):  # noqa: B007 (the last match is the one wanted)
            pass
        if last is not None:
            group = next(i for i, value in enumerate(last.groups(), 1) if value is not None)
            return text[last.start(group) : last.end(group)]
    last = None
    for match in patterns.ANSWER_LINE.finditer(low):
        if match.start() == 0 or not low[match.start() - 1].isalpha():
            last = match
    if last is None:
        return None
    line = text[last.end() : last.end() + patterns.LINE_ANSWER_CHARS]
    return line.split("\n", 1)[0]


def _extract_normalised(text: str, choices: tuple[str, ...]) -> Extraction:
    if not text:
        return Extraction(None, EMPTY)
    marked = _final_answer(text)
    if marked is not None and marked.strip():
        found = _read(patterns.normalise(marked), choices)
        if found.letter is not None:
            return Extraction(found.letter, "final_answer")
        if found.rule == AMBIGUOUS:
            return found
    return _read(text, choices)


@lru_cache(maxsize=1 << 16)
def _extract(text: str, choices: tuple[str, ...]) -> Extraction:
    return _extract_normalised(patterns.normalise(text), choices)


def extract_choice(prediction: str, choices: Sequence[str]) -> Extraction:
    """The option letter that ``prediction`` chooses among ``choices`` (option texts in letter order).

    Never guesses: returns ``Extraction(None, "ambiguous" | "unparseable" | "empty")`` when the answer does not name
    exactly one option under the first rule that matches (see the module docstring for the rules).
    """
    if not 2 <= len(choices) <= len(OPTION_LETTERS):
        raise ValueError(f"a closed question needs 2 to {len(OPTION_LETTERS)} choices, got {list(choices)!r}")
    key = tuple(choices)
    if len(prediction) > _CACHED_CHARS:
        return _extract_normalised(patterns.normalise(prediction), key)
    return _extract(prediction, key)


def official_correct(prediction: str, answer_choice: str) -> bool:
    """The official 3D-RAD rule: ``answer_choice + "."`` occurs in the prediction."""
    return (answer_choice + ".") in prediction
