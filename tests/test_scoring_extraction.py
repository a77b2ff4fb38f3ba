"""The closed-answer extractor: stated formats, priority, tie-break, and that it never guesses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rad3d_hf.catalogue import EXISTENCE_OPTIONS, OPTION_LETTERS, TEMPORAL_OPTIONS
from rad3d_hf.scoring.answer_extraction import RULES, extract_choice, official_correct

YES_NO = list(EXISTENCE_OPTIONS)
TEMPORAL = list(TEMPORAL_OPTIONS)
CHOICE_SETS = st.sampled_from([YES_NO, TEMPORAL])


@pytest.mark.parametrize(
    ("text", "choices", "letter", "rule"),
    [
        ("Yes, a nodule is present", YES_NO, "A", "yes_no_first_word"),
        ("No. There is no effusion.", YES_NO, "B", "yes_no_first_word"),
        ("There is no nodule.", YES_NO, "B", "yes_no_word"),
        ("B. No", YES_NO, "B", "marked_letter"),
        ("(A)", YES_NO, "A", "letter"),
        ("b", YES_NO, "B", "letter"),
        ("The answer is B.", YES_NO, "B", "statement"),
        ("Answer: (A) Yes", YES_NO, "A", "statement"),
        ("A. Yes or B. No? The correct answer is B", YES_NO, "B", "statement"),
        ("D. No Abnormality (Always absent)", TEMPORAL, "D", "marked_letter"),
        ("No Abnormality (Always absent)", TEMPORAL, "D", "option_text"),
        ("new lesion", TEMPORAL, "C", "option_text"),
        ("It is a resolved  lesion.", TEMPORAL, "B", "option_text"),
    ],
)
def test_formats(text, choices, letter, rule):
    found = extract_choice(text, choices)
    assert (found.letter, found.rule) == (letter, rule)


@pytest.mark.parametrize(
    ("text", "choices", "rule"),
    [
        ("", YES_NO, "empty"),
        ("   ", TEMPORAL, "empty"),
        ("A. Yes or B. No", YES_NO, "ambiguous"),  # two marked letters disagree: no answer, no guess
        ("Maybe yes, maybe no", YES_NO, "ambiguous"),
        ("Refractory lesion or new lesion", TEMPORAL, "ambiguous"),
        ("C", YES_NO, "unparseable"),  # a letter that is not an option of a Yes/No question
        ("NO1", YES_NO, "unparseable"),  # "no" inside a token is not the word "no"
        ("I cannot tell", YES_NO, "unparseable"),
        ("Abnormal", TEMPORAL, "unparseable"),
    ],
)
def test_no_answer_is_never_guessed(text, choices, rule):
    found = extract_choice(text, choices)
    assert found.letter is None and found.rule == rule


def test_rule_names_are_the_documented_ones():
    assert RULES == ("statement", "letter", "marked_letter", "option_text", "yes_no_first_word", "yes_no_word")


def test_bad_choices_are_an_error():
    with pytest.raises(ValueError, match="2 to 4 choices"):
        extract_choice("A", ["only one"])


def test_official_rule_is_the_substring_rule():
    assert official_correct("A. B. C. D.", "C")
    assert not official_correct("C", "C")  # the official rule misses a bare letter
    assert official_correct("The scan shows B. calcification", "B")


TEMPLATES = ["{L}", "({L})", "{L}.", "{L})", "The answer is {L}.", "Answer: {L}", "{L}. {T}", "({L}) {T}", "{T}"]


@settings(max_examples=200, deadline=None)
@given(CHOICE_SETS, st.data())
def test_every_stated_format_reads_its_letter(choices, data):
    index = data.draw(st.integers(0, len(choices) - 1))
    template = data.draw(st.sampled_from(TEMPLATES))
    letter = OPTION_LETTERS[index]
    text = template.format(L=letter, T=choices[index])
    assert extract_choice(text, choices).letter == letter


@settings(max_examples=200, deadline=None)
@given(CHOICE_SETS, st.text(alphabet=st.sampled_from("ABCDabcd yesnoNOYES.()[]:,-1 \n\tRrLlwuv"), max_size=40))
def test_a_read_letter_is_always_in_the_text(choices, text):
    """Never guesses: whatever is read is written in the answer, as the letter, the option text or yes/no."""
    found = extract_choice(text, choices)
    if found.letter is None:
        return
    option = choices[OPTION_LETTERS.index(found.letter)]
    lowered = text.lower()
    head = option.split(" (")[0].lower()
    assert found.letter in text.upper() or option.lower() in lowered or head in " ".join(lowered.split())
    if choices == YES_NO and found.rule.startswith("yes_no"):
        assert re.search(rf"\b{option.lower()}\b", lowered)


@settings(max_examples=200, deadline=None)
@given(CHOICE_SETS, st.data())
def test_conflicting_letters_are_ambiguous(choices, data):
    first, second = data.draw(st.lists(st.integers(0, len(choices) - 1), min_size=2, max_size=2, unique=True))
    text = f"{OPTION_LETTERS[first]}. {choices[first]} or {OPTION_LETTERS[second]}. {choices[second]}"
    assert extract_choice(text, choices).rule == "ambiguous"


@pytest.mark.parametrize(
    ("text", "choices", "letter"),
    [
        ("the answer is b", YES_NO, "B"),
        ("Answer: b", YES_NO, "B"),
        ("answer: (a)", YES_NO, "A"),
        ("the correct option is c.", TEMPORAL, "C"),
        ("**B**", YES_NO, "B"),  # markdown emphasis, as chat models write it
        ("**Answer:** B", YES_NO, "B"),
        ("**Answer: C**", TEMPORAL, "C"),
        ("The answer is a.", YES_NO, "A"),
    ],
)
def test_lower_case_and_markdown_letters(text, choices, letter):
    assert extract_choice(text, choices).letter == letter


@pytest.mark.parametrize("text", ["the answer is a nodule", "Answer: a lesion is present", "Answer: a yes"])
def test_lower_case_a_is_an_article_unless_marked(text):
    found = extract_choice(text, YES_NO)
    assert found.letter != "A" or found.rule != "statement"


@pytest.mark.parametrize("text", ["Yes or no", "Yes/No", "yes or no?", "No or yes."])
def test_an_answer_naming_both_yes_and_no_is_ambiguous(text):
    found = extract_choice(text, YES_NO)
    assert found.letter is None and found.rule == "ambiguous"


@pytest.mark.parametrize(
    ("text", "letter", "rule"),
    [
        ("No new lesion.", None, "unparseable"),  # a negated option is not that option
        ("There is not a new lesion; it is a refractory lesion.", "A", "option_text"),
        ("Without any resolved lesion", None, "unparseable"),
        ("There is no abnormality", "D", "option_text"),  # the option's own "No" is not a negation of it
    ],
)
def test_negated_option_text_is_not_chosen(text, letter, rule):
    found = extract_choice(text, TEMPORAL)
    assert (found.letter, found.rule) == (letter, rule)
