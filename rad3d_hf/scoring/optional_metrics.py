"""METEOR and BERTScore F1, used only when their resources are already on this machine.

Neither is ever downloaded here: METEOR needs NLTK with its ``wordnet`` (and ``punkt_tab``) data in ``nltk.data.path``;
BERTScore needs the ``bert-score`` package and a local model folder (the official script used ``roberta-large``,
layer 17). When something is missing, :class:`MissingResourceError` says what and how to get it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any


class MissingResourceError(RuntimeError):
    """An optional metric was requested but a resource it needs is not available locally."""


def _nltk_resource(nltk: Any, name: str, hint: str) -> None:
    try:
        nltk.data.find(name)
    except LookupError:
        searched = ", ".join(map(str, nltk.data.path))
        raise MissingResourceError(
            f"METEOR needs the NLTK data {name!r}, which is not in nltk.data.path ({searched}); "
            f"install it with: python -m nltk.downloader {hint}"
        ) from None


def meteor_scores(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """METEOR per question as evaluate's ``meteor`` module computes it (NLTK, default alpha/beta/gamma)."""
    try:
        nltk = importlib.import_module("nltk")
    except ImportError:
        raise MissingResourceError("METEOR needs NLTK: pip install nltk") from None
    _nltk_resource(nltk, "corpora/wordnet", "wordnet")
    _nltk_resource(nltk, "tokenizers/punkt_tab", "punkt_tab")
    from nltk import word_tokenize
    from nltk.translate import meteor_score

    return [
        float(meteor_score.single_meteor_score(word_tokenize(ref), word_tokenize(pred)))
        for pred, ref in zip(predictions, references, strict=True)
    ]


def bertscore_f1(
    predictions: Sequence[str],
    references: Sequence[str],
    model: str,
    num_layers: int = 17,
    batch_size: int = 64,
) -> list[float]:
    """BERTScore F1 per question with the ``bert-score`` package, the local model folder ``model`` and its layer
    ``num_layers`` (17 is what bert-score uses for roberta-large)."""
    try:
        bert_score = importlib.import_module("bert_score")
    except ImportError:
        raise MissingResourceError("BERTScore needs the bert-score package: pip install bert-score") from None
    from pathlib import Path

    if not Path(model).is_dir():
        raise MissingResourceError(
            f"BERTScore model folder {model!r} does not exist; download the model (e.g. roberta-large) once with "
            "hf download and pass its local folder"
        )
    _, _, f1 = bert_score.score(
        list(predictions), list(references), model_type=str(model), num_layers=num_layers, batch_size=batch_size
    )
    return [float(v) for v in f1]
