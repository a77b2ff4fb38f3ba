"""How fast the full 3D-RAD scoring runs on the 33,910 test questions, against rouge-score + sacrebleu.

    python examples/benchmarks/bench_scoring.py --data-dir ../shared/3drad

Predictions are the real test answers perturbed deterministically (:func:`rad3d_hf.scoring.synthetic.perturbed_predictions`).
Three timings per repeat, all from cold caches, in the same process on the same predictions:

- ``rad3d_hf full``: ``rad3d_hf.scoring.score`` (BLEU-1, ROUGE-1, measurements, answer extraction, accuracy, blind
  baselines, 95% intervals with 1,000 volume resamples per task);
- ``baseline``: rouge-score's ``RougeScorer(["rouge1"])`` on every question plus sacrebleu's corpus BLEU (max order 1, no
  smoothing, 13a) per subtask file, over all 41 subtasks: what the official scripts compute on every question;
- ``rad3d_hf text``: our ROUGE-1 and BLEU-1 on exactly the baseline's work (every question, per subtask), the
  like-for-like comparison.

The ratios printed are baseline time / our time (higher is faster), from the best and the median of the repeats (the
best is the least disturbed by other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

from rad3d_hf.data.rows import read_rows
from rad3d_hf.scoring import clear_caches, score
from rad3d_hf.scoring.synthetic import perturbed_predictions
from rad3d_hf.scoring.text_metrics import corpus_bleu1, rouge1_fmeasure


def _baseline(groups: dict[tuple[int, str], list[tuple[str, str]]]) -> None:
    Tokenizer13a.__call__.cache_clear()
    TokenizerRegexp.__call__.cache_clear()
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)
    bleu = BLEU(max_ngram_order=1, smooth_method="none", tokenize="13a")
    for pairs in groups.values():
        [scorer.score(ref, pred)["rouge1"].fmeasure for pred, ref in pairs]
        bleu.corpus_score([p for p, _ in pairs], [[r for _, r in pairs]])


def _ours_text(groups: dict[tuple[int, str], list[tuple[str, str]]]) -> None:
    clear_caches()
    for pairs in groups.values():
        [rouge1_fmeasure(pred, ref) for pred, ref in pairs]
        corpus_bleu1([p for p, _ in pairs], [r for _, r in pairs])


def _ours_full(predictions: list[str], rows: list[dict], resamples: int) -> dict:
    clear_caches()
    return score(predictions, rows, n_resamples=resamples)


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    default_dir = os.environ.get("RAD3D_TABLES", str(Path(__file__).resolve().parents[3] / "shared" / "3drad"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=default_dir, help="folder with the published test tables")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbed predictions")
    args = parser.parse_args()

    rows = list(read_rows(args.data_dir, "test"))
    predictions = perturbed_predictions(rows, seed=args.seed)
    groups: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
    for prediction, row in zip(predictions, rows):
        groups[(row["task"], row["subtask"])].append((prediction, row["answer"]))
    print(
        f"{len(rows):,} test questions in {len(groups)} subtasks; {args.repeats} interleaved repeats from cold caches"
    )

    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeats):
        times["baseline (rouge-score + sacrebleu per subtask)"].append(_timed(_baseline, groups))
        times["rad3d_hf text (ROUGE-1 + BLEU-1, same work)"].append(_timed(_ours_text, groups))
        times["rad3d_hf full (score(): all metrics, baselines, intervals)"].append(
            _timed(_ours_full, predictions, rows, args.resamples)
        )
    print(f"  {'':<60} {'best':>6}   {'median':>6}")
    for name, values in times.items():
        print(f"  {name:<60} {min(values):6.2f} s {statistics.median(values):6.2f} s")
    (base_best, text_best, full_best), (base_med, text_med, full_med) = (
        [min(v) for v in times.values()],
        [statistics.median(v) for v in times.values()],
    )
    print(f"ratio baseline / rad3d_hf text: {base_best / text_best:.2f}x best-of, {base_med / text_med:.2f}x median")
    print(f"ratio baseline / rad3d_hf full: {base_best / full_best:.2f}x best-of, {base_med / full_med:.2f}x median")


if __name__ == "__main__":
    main()
