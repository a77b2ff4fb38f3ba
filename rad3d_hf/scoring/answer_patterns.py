"""The patterns the answer extractor reads, and the context checks around a match.

Every pattern here is linear in the answer's length: no quantifier runs over another one, text is normalised first
so that whitespace runs are a single character, and every look at the text around a match reads a fixed-size
window (``CONTEXT``) rather than the whole prefix.
"""

from __future__ import annotations

import re

from rad3d_hf.data.catalogue import OPTION_LETTERS

LETTERS = "".join(OPTION_LETTERS)
# how many characters before or after a match the context checks read
CONTEXT = 32

_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n\s*")
# markdown emphasis and code ("**B**", "`B`") and zero-width characters
_DECORATION = str.maketrans("", "", "*`\u200b\ufeff")


def normalise(text: str) -> str:
    """The answer with markdown emphasis removed and each whitespace run shortened to one space or newline."""
    return _LINE_BREAKS.sub("\n", _HORIZONTAL_SPACE.sub(" ", text.translate(_DECORATION))).strip()


# Patterns matched on the ASCII-lower-cased answer start with a literal, so that the regex engine skips to candidate
# positions (a lookbehind first would make it try every position, ~10x slower); the word boundary before a match is
# checked in code instead (``word_matches``). Letter patterns run on the answer itself (letters are case-sensitive).

# Final-answer markers; the last one in the answer decides.
ANSWER_TAG = re.compile(r"<answer>([^<]{0,2000})</answer>")
BOXED = re.compile(r"\\boxed ?\{ ?(?:\\(?:text|textbf|mathrm)\{([^{}]{0,200})\}|([^{}]{0,200})) ?\}")
ANSWER_LINE = re.compile(r"(?:final answer|answer|ans)(?: is)? ?[:：=] ?|final answer is ")
# what a line marker's answer may span: the rest of its line, at most this many characters
LINE_ANSWER_CHARS = 300

# A letter stated as the answer: "The answer is B", "Option (c)", "I choose B", "Ans: B". The cue is matched on the
# lower-cased answer, the letter after it (``LETTER_AFTER_CUE``) on the answer itself.
STATEMENT_CUE = re.compile(
    r"(?:answer|option|choice)(?: (?:is|would be|will be|should be|must be))?(?: ?[:=\-])? ?(?:option |letter )?"
    r"|i(?: would| will|'d|'ll)? (?:choose|chose|pick|select|go with|opt for)(?: option| answer| choice)? ?"
    r"|my (?:answer|choice|pick) is(?: ?[:=\-])? ?"
)
# A lower-case "a" is an article unless marked ("(a)", "a.", "a)") or ending the answer.
LETTER_AFTER_CUE = re.compile(
    rf"[(\[]([{LETTERS}])[)\]]|([{LETTERS}])(?![A-Za-z0-9])|[(\[]([{LETTERS.lower()}])[)\]]"
    rf"|([{LETTERS[1:].lower()}])(?![A-Za-z0-9'])|(a)(?=[.):](?![A-Za-z0-9])|$|\n)"
)
# "B is correct", "(B) is the right answer": the letter (group 1), matched on the answer itself
LETTER_IS_CORRECT = re.compile(
    rf"([{LETTERS}])[)\]]?[.:]? (?i:(?:is|would be|seems) (?:the )?(?:correct|right|best|most likely|answer))"
    r"(?![A-Za-z])"
)
WHOLE_LETTER = re.compile(rf"^[(\[]?([{LETTERS}{LETTERS.lower()}])[)\]]?[.):]?$")
# "(B)" (group 1) or "B.", "B)", "B:", "B -" (group 2)
MARKED_LETTER = re.compile(rf"[(\[]([{LETTERS}])[)\]]|([{LETTERS}])(?:[.):]| -)(?![A-Za-z0-9])")
# two letters offered as alternatives: "(A) or (B)", "A/B", "B or C"
LETTER_ALTERNATIVES = re.compile(
    rf"[(\[]?[{LETTERS}][)\]]?[.,]? ?(?i:or|and/or|/|vs\.?) ?[(\[]?[{LETTERS}](?![A-Za-z0-9])"
)
# a negation just after a letter or an option: "B is incorrect", "New lesion? No.", "new lesion is not seen"
_NEGATION_AFTER = re.compile(
    r"(?i)[)\]]?[.:]? ?(?:(?:is|was|are|would be|seems) (?:not|incorrect|wrong|false|unlikely|ruled out|excluded"
    r"|absent)(?![A-Za-z])|(?:[?:=] ?|\(|- )(?:no|not|none|absent|false|negative|incorrect|wrong)(?![A-Za-z]))"
)
# a letter followed by an alternative: "(A) or (B)", "A. Yes or B. No"
_ALTERNATIVE_AFTER = re.compile(
    rf"[)\]]?[.,:]? ?(?:[A-Za-z ]{{0,24}} )?(?i:or|and/or|/|vs\.?) ?[(\[]?[{LETTERS}{LETTERS.lower()}](?![A-Za-z0-9])"
)

# The answer says it cannot answer: nothing after the letter rules is read from it ("No idea", "Not sure").
HEDGE = re.compile(
    r"(?:no idea|not sure|unsure|(?:do not|don't|dont|cannot|can't|can not) (?:know|tell|say|determine"
    r"|be determined|decide|assess|evaluate|answer|be sure|confirm|see)|unable to|not possible|impossible to"
    r"|difficult to (?:say|tell|determine|assess)|hard to (?:say|tell|determine|assess)|uncertain|undetermined"
    r"|indeterminate|insufficient|not enough (?:information|detail)|unclear whether|cannot be (?:excluded|ruled out))"
    r"(?![a-z])"
)

# Yes/No questions (on the lower-cased answer)
YES_NO_ALTERNATIVES = re.compile(r"(?:yes ?(?:/|or|and) ?no|no ?(?:/|or|and) ?yes)(?![a-z])")
FIRST_WORD = re.compile(r"^[\W_]*([A-Za-z]+)(?![A-Za-z0-9])")
YES = re.compile(r"yes(?![a-z0-9])")
NO = re.compile(r"no(?![a-z0-9])")
# a finding said to be there ("shows", "is present") or, after a negation, not there ("does not show")
FINDING_SEEN = re.compile(
    r"(?:present|seen|visible|visualized|visualised|identified|detected|observed|evident|noted|shows?|showing"
    r"|demonstrates?|demonstrated|reveals?|revealed|appreciated|found|there is|there are|evidence of|positive)"
    r"(?![a-z])"
)
FINDING_ABSENT = re.compile(r"(?:absent|absence of|negative|free of|ruled out|none)(?![a-z])")
# a seen-verb negated just after ("shows no"); an option offered beside another just after ("new lesion or not")
_SEEN_NEGATION_AFTER = re.compile(r"(?i) ?(?:no|not)(?![A-Za-z])")
_OR_AFTER = re.compile(r"(?i) ?(?:or|vs\.?|versus|and/or)(?![A-Za-z])")

_WORD_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def word_matches(pattern: re.Pattern[str], text: str, inside: frozenset[str] = _WORD_CHARACTERS) -> list[re.Match[str]]:
    """The matches of ``pattern`` in ``text`` that do not start inside a word (after a character of ``inside``)."""
    return [m for m in pattern.finditer(text) if m.start() == 0 or text[m.start() - 1] not in inside]


def has_word_match(pattern: re.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` occurs in ``text`` at least once not inside a word."""
    return any(m.start() == 0 or text[m.start() - 1] not in _WORD_CHARACTERS for m in pattern.finditer(text))


def ascii_lower(text: str) -> str:
    """``text`` lower-cased with every character kept at its index (``str.lower`` may lengthen some letters)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


_ASCII_LOWER = {ord(c): ord(c.lower()) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


# Option texts (questions whose options are not Yes/No)
OPTION_HEAD = re.compile(r"^(.*?) ?\(")


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A pattern for the lower-cased ``phrase`` (on the lower-cased answer), any whitespace between its words."""
    escaped = r"\s".join(re.escape(word) for word in phrase.lower().split())
    return re.compile(rf"{escaped}(?![a-z0-9])")


# Words checked just before a match. The window's last words are compared with these sets (plain string operations,
# since a regex anchored at the window's end would be tried at every position of it).
_LEAD_PUNCTUATION = frozenset("\n.!?;:,()[]-\"'")
_LEAD_WORDS = frozenset(
    [
        "yes",
        "no",
        "lesion",
        "abnormality",
        "is",
        "be",
        "it's",
        "its",
        "think",
        "say",
        "choose",
        "chose",
        "pick",
        "select",
        "with",
        "so",
        "then",
        "therefore",
        "thus",
        "hence",
        "answer",
        "option",
        "choice",
        "letter",
        "or",
        "and",
        "probably",
        "likely",
        "perhaps",
        "maybe",
        "definitely",
        "correct",
        "was",
        "are",
        "choosing",
        "selecting",
        "go",
        "i.e",
        "e.g",
    ]
)
_NEGATIONS = frozenset(["not", "no", "never", "without", "neither", "nor", "except", "excluding", "against", "exclude"])
_NEGATION_PAIRS = frozenset(
    ("anything but", "everything but", "all but", "other than", "rather than", "instead of", "rule out", "ruled out")
)
_NEGATION_FILLERS = frozenset(["a", "an", "the", "any", "option", "choice", "letter"])
_FILLER_PAIRS = frozenset(("evidence of", "signs of", "sign of"))
_SEEN_FILLERS = frozenset(["be", "been", "clearly", "definitely"])
_ALTERNATION_WORDS = frozenset(("or", "either", "vs", "versus", "and/or"))
_NON_WORD = re.compile(r"[^a-z'/]+")


def _last_words(text: str, start: int) -> list[str]:
    """The lower-cased words just before ``start``, if only spaces or an opening bracket separate them from it."""
    window = text[max(0, start - CONTEXT) : start].rstrip(" ([")
    if not window or not (window[-1].isalpha() or window[-1] == "'"):
        return []
    words = [word for word in _NON_WORD.split(window.lower()) if word]
    return words[1:] if start > CONTEXT else words  # the first may be cut off


def _negation_ends(words: list[str], fillers: frozenset[str]) -> bool:
    if words and words[-1] in fillers:
        words = words[:-1]
    if len(words) >= 2 and " ".join(words[-2:]) in _FILLER_PAIRS:
        words = words[:-2]
    if not words:
        return False
    last = words[-1]
    return last in _NEGATIONS or last.endswith("n't") or " ".join(words[-2:]) in _NEGATION_PAIRS


def _starts_after(pattern: re.Pattern[str], text: str, end: int) -> bool:
    return pattern.match(text, end, end + CONTEXT) is not None


def offered_as_alternative(text: str, start: int, end: int) -> bool:
    """Whether an option's text is offered beside another: "resolved or new lesion", "new lesion or not"."""
    words = _last_words(text, start)
    return bool(words and words[-1] in _ALTERNATION_WORDS) or _starts_after(_OR_AFTER, text, end)


def negated(text: str, start: int, end: int) -> bool:
    """Whether the match at ``text[start:end]`` is denied by the words around it."""
    return _negation_ends(_last_words(text, start), _NEGATION_FILLERS) or _starts_after(_NEGATION_AFTER, text, end)


def offered_with_alternative(text: str, end: int) -> bool:
    """Whether the letter ending at ``end`` is followed by "or <letter>" ("(A) or (B)")."""
    return _starts_after(_ALTERNATIVE_AFTER, text, end)


def led_as_choice(text: str, start: int) -> bool:
    """Whether a marked letter at ``start`` is led like a choice (line start, punctuation, a cue word), not a name."""
    before = text[max(0, start - CONTEXT) : start].rstrip(" ")
    if not before or before[-1] in _LEAD_PUNCTUATION or not before[-1].isalpha():
        return True
    words = _last_words(text, start)
    return bool(words) and words[-1] in _LEAD_WORDS


def seen_verb_negated(text: str, start: int, end: int) -> bool:
    """Whether a seen-verb ("show", "present") is negated: "does not show", "not present", "shows no"."""
    return _negation_ends(_last_words(text, start), _SEEN_FILLERS) or _starts_after(_SEEN_NEGATION_AFTER, text, end)
