"""How scoring time grows with the length of one Task 3 answer: linear, and a 1 MB answer in under a second.

    python examples/benchmarks/bench_long_answers.py

For each shape of answer (prose repeating one measurement, dimension chains with and without units, long digit runs,
numbers joined by "and", ranges, runs of periods and commas, whitespace), ``score()`` runs on one Task 3 question whose answer is that shape
repeated to 125 KB and to 1 MB, in the same process. It prints the best of three timings of each and their ratio: for
8x the input a linear scorer takes about 8x the time (a quadratic one 64x). Both sizes are over
``MAX_MEASUREMENT_TEXT`` (65,536 characters), so ``score()`` reads them with ROUGE-1 and BLEU-1 only (the capped path)
and counts them as unread measurements. Beside it: ``score()`` of an answer exactly at the cap (the longest answer the
measurement parser reads, so the slowest one question can be), and the measurement parser alone on the 125 KB and
1 MB texts (no cap) with its ratio, which shows the parser itself is linear.
"""

from __future__ import annotations

import argparse
import time

from rad3d_hf.scoring import clear_caches, score
from rad3d_hf.scoring.measurements import MAX_MEASUREMENT_TEXT, parse_measurement

SHAPES = {
    "prose": "The nodule measures 12 by 9 mm and ",
    "dimension chain": "3 cm x ",
    "chain without unit": "1 x ",
    "digit run": "1",
    "numbers joined by and": "3 and ",
    "ranges": "2-",
    "periods and commas": "a.., ",
    "whitespace": " ",
}
ROW = {
    "id": "test/task3/size/000000",
    "task": 3,
    "subtask": "Size",
    "answer": "12x9 mm",
    "choices": [],
    "answer_choice": "",
    "volume_name": "test_1_a_1",
}


def _best(run, repeats: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        clear_caches()
        parse_measurement.cache_clear()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'answer shape':24s} {'score 125 KB':>13s} {'score 1 MB':>11s} {'ratio':>6s} {'score at cap':>13s}"
        f" {'parse 125 KB':>13s} {'parse 1 MB':>11s} {'ratio':>6s}"
    )
    for name, unit in SHAPES.items():
        small, large, at_cap = (_answer(unit, size) for size in (125_000, 1_000_000, MAX_MEASUREMENT_TEXT))
        assert len(at_cap) == MAX_MEASUREMENT_TEXT < len(small)
        for text, unread in ((small, 1), (large, 1), (at_cap, 0)):
            assert score([text], [ROW], n_resamples=0)["task3/measurement_n_unread"] == unread
        t_small = _best(lambda text=small: score([text], [ROW], n_resamples=0), args.repeats)
        t_large = _best(lambda text=large: score([text], [ROW], n_resamples=0), args.repeats)
        t_cap = _best(lambda text=at_cap: score([text], [ROW], n_resamples=0), args.repeats)
        p_small = _best(lambda text=small: parse_measurement(text), args.repeats)
        p_large = _best(lambda text=large: parse_measurement(text), args.repeats)
        print(
            f"{name:24s} {t_small:12.3f}s {t_large:10.3f}s {t_large / t_small:5.1f}x {t_cap:12.3f}s"
            f" {p_small:12.3f}s {p_large:10.3f}s {p_large / p_small:5.1f}x"
        )


def _answer(unit: str, size: int) -> str:
    """``unit`` repeated, then a measurement, ``size`` characters in all."""
    end = " 12x9 mm"
    return (unit * (size // len(unit) + 1))[: size - len(end)] + end


if __name__ == "__main__":
    main()
