"""BLEU-1 and ROUGE-1 exactly as the official 3D-RAD scoring computes them through evaluate's modules.

- ``rouge1``: rouge-score's ROUGE-1 F per question (its default tokenizer: lowercase, every character outside
  ``[a-z0-9]`` becomes a separator; no stemming). :func:`rouge1_fmeasure` performs the same floating-point operations
  as ``rouge_score.rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)``, so values are identical.
- ``bleu1``: corpus BLEU with maximum n-gram order 1 over a set of questions, 13a tokenisation (case-sensitive), no
  smoothing, brevity penalty ``exp(1 - 1/ratio)`` when the prediction is not longer than the reference, as evaluate's
  ``bleu`` module computes it with ``max_order=1``, on predictions and references stripped of surrounding whitespace
  as the official evaluation strips them. Corpus BLEU is a function of three integer sums (clipped unigram
  matches, prediction length, reference length), which is what makes bootstrap resampling cheap: see
  :func:`bleu1_from_sums`.
- ``rouge1_bootstrap_mid``: the default aggregate of evaluate's ``rouge`` module (the median of 1,000 bootstrap means
  drawn with numpy's legacy generator), reproduced under an explicit seed. It is not the mean; it is offered only so
  that numbers reported that way can be compared.

Both tokenizers are pure functions of the text and cached, because benchmark answers repeat heavily.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_ROUGE_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# mteval-v13a's rules: isolate most ASCII punctuation (a character table: the same output as a regular expression
# replacing each such character by itself between spaces, several times faster), then split periods and commas
# unless they sit between digits, and split a dash that follows a digit.
_13A_PUNCTUATION = (
    "".join(
        chr(c)
        for lo, hi in (
            (ord("{"), ord("~")),
            (ord("["), ord("`")),
            (ord(" "), ord("&")),
            (ord("("), ord("+")),
            (ord(":"), ord("@")),
        )
        for c in range(lo, hi + 1)
    )
    + "/"
)
_13A_ISOLATE = str.maketrans({c: f" {c} " for c in _13A_PUNCTUATION})
# 13a's period and comma rules are two substitutions whose replacements name groups ("([^0-9])([\.,])" -> "\1 \2 ",
# then "([\.,])([^0-9])" -> " \1 \2"); Python expands such a template for every match, about 2 µs each, so text
# dense with periods took a second a megabyte. What they do to a run of periods and commas depends only on its length
# and on the characters c before and d after it (the line is padded, so both exist), and is done here with constant
# replacements, which the regex engine applies at C speed:
# - a lone one is split off unless c and d are both digits ("1.5" stays one token);
_13A_LONE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"{re.escape(p)}(?<![.,]{re.escape(p)})(?![.,])(?:(?<![0-9]{re.escape(p)})|(?![0-9]))"), f" {p} ")
    for p in ".,"
)
# - in a longer run, every one is split from the one before it and the first from c; the last is split from d when d
#   is not a digit, or when the run's length is odd after a non-digit or even after a digit (how the first rule's
#   non-overlapping matches pair up the run; tokens are what count, so the order of the spaces does not matter).
_13A_RUN = re.compile(r"([.,](?<=(.)[.,])[.,]+)(?=(.))", re.S)  # each pattern starts with what it looks for: faster
_13A_DASH = (re.compile(r"(?<=[0-9])-"), " - ")  # "([0-9])(-)" -> "\1 \2 ", with the digit left in place
_13A_ENTITIES: tuple[tuple[str, str], ...] = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))

_CACHE_SIZE = 1 << 17


@lru_cache(maxsize=_CACHE_SIZE)
def rouge_tokens(text: str) -> tuple[str, ...]:
    """rouge-score's default tokens of ``text`` (no stemming)."""
    return tuple(_ROUGE_NON_ALNUM.sub(" ", text.lower()).split())


@lru_cache(maxsize=_CACHE_SIZE)
def _rouge_counts(text: str) -> tuple[Counter[str], int]:
    tokens = rouge_tokens(text)
    return Counter(tokens), len(tokens)


@lru_cache(maxsize=_CACHE_SIZE)
def tokenize_13a(text: str) -> tuple[str, ...]:
    """Tokens of ``text`` under the 13a tokenizer (mteval-v13a, as used by sacrebleu and evaluate's bleu)."""
    line = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in _13A_ENTITIES:
            line = line.replace(entity, char)
    line = f" {line} ".translate(_13A_ISOLATE)
    if "." in line or "," in line:
        for pattern, replacement in _13A_LONE:
            line = pattern.sub(replacement, line)
        line = _13A_RUN.sub(_split_run, line)
    if "-" in line:
        line = _13A_DASH[0].sub(_13A_DASH[1], line)
    return tuple(line.split())


def _split_run(match: re.Match[str]) -> str:
    run, before, after = match.groups()
    after_digit = before.isdigit() and before.isascii()
    split_after = not (after.isdigit() and after.isascii()) or (len(run) % 2 == (0 if after_digit else 1))
    return " " + " ".join(run) + (" " if split_after else "")


@lru_cache(maxsize=_CACHE_SIZE)
def _bleu_counts(text: str) -> tuple[Counter[str], int]:
    tokens = tokenize_13a(text)
    return Counter(tokens), len(tokens)


def _overlap(a: Counter[str], b: Counter[str]) -> int:
    if len(a) > len(b):
        a, b = b, a
    return sum(min(count, b[token]) for token, count in a.items() if token in b)


def rouge1_fmeasure(prediction: str, reference: str) -> float:
    """ROUGE-1 F of one prediction against one reference, equal to rouge-score's to the last digit."""
    ref_counts, ref_len = _rouge_counts(reference)
    pred_counts, pred_len = _rouge_counts(prediction)
    overlap = _overlap(ref_counts, pred_counts)
    precision = overlap / max(pred_len, 1)
    recall = overlap / max(ref_len, 1)
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def bleu1_counts(prediction: str, reference: str) -> tuple[int, int, int]:
    """The sufficient statistics of corpus BLEU-1 for one question: (clipped matches, prediction length, reference length).

    Both texts are stripped first, as the official 3D-RAD evaluation does before evaluate's bleu tokenizes them: 13a
    joins a hyphen at a line end to the next line ("-\\n" is removed), so a trailing "-\\n" counts as a token only after
    stripping."""
    ref_counts, ref_len = _bleu_counts(reference.strip())
    pred_counts, pred_len = _bleu_counts(prediction.strip())
    return _overlap(ref_counts, pred_counts), pred_len, ref_len


def bleu1_from_sums(matches: float, hyp_len: float, ref_len: float) -> float:
    """Corpus BLEU-1 from summed statistics, with the operations of evaluate's bleu (0.0 where it would divide by 0)."""
    if hyp_len <= 0 or ref_len <= 0:
        # evaluate raises ZeroDivisionError when every prediction is empty; an empty corpus scores 0 here.
        return 0.0
    precision = matches / hyp_len
    geo_mean = math.exp(math.log(precision)) if precision > 0 else 0.0
    ratio = hyp_len / ref_len
    brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return geo_mean * brevity_penalty


def bleu1_from_sums_array(matches: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """:func:`bleu1_from_sums` over arrays (bootstrap resamples), elementwise."""
    matches = np.asarray(matches, dtype=float)
    hyp_len = np.asarray(hyp_len, dtype=float)
    ref_len = np.asarray(ref_len, dtype=float)
    valid = (hyp_len > 0) & (ref_len > 0)
    safe_hyp = np.where(valid, hyp_len, 1.0)
    safe_ref = np.where(valid, ref_len, 1.0)
    precision = matches / safe_hyp
    ratio = safe_hyp / safe_ref
    with np.errstate(divide="ignore"):
        penalty = np.where(ratio > 1.0, 1.0, np.exp(1 - 1.0 / ratio))
    return np.where(valid, precision * penalty, 0.0)


def corpus_bleu1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-1 of paired predictions and references (one reference per prediction)."""
    matches = hyp = ref = 0
    for prediction, reference in zip(predictions, references, strict=True):
        m, h, r = bleu1_counts(prediction, reference)
        matches += m
        hyp += h
        ref += r
    return bleu1_from_sums(matches, hyp, ref)


def rouge1_bootstrap_mid(scores: Sequence[float], seed: int, n_samples: int = 1000) -> float:
    """evaluate's ``rouge`` default aggregate of per-question ROUGE-1 F values, under ``seed``.

    The median of ``n_samples`` means of resamples drawn with ``numpy.random.RandomState(seed)``, as
    ``rouge_score.scoring.BootstrapAggregator`` draws them after evaluate seeds numpy's global state.
    """
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return 0.0
    state = np.random.RandomState(seed)
    index = np.arange(values.size)
    means = np.empty(n_samples)
    for i in range(n_samples):
        means[i] = np.mean(values[state.choice(index, size=values.size)])
    return float(np.percentile(means, 50))
