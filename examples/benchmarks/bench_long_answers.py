"""How scoring time grows with the length of one Task 3 answer: linear, and a 1 MB answer in under a second.

    python examples/benchmarks/bench_long_answers.py

For each shape of answer (prose repeating one measurement, dimension chains with and without units, long digit runs,
numbers joined by "and", ranges, whitespace), ``score()`` runs on one Task 3 question whose answer is that shape
repeated to 125 KB and to 1 MB, in the same process. It prints the best of three timings of each and their ratio: for
8x the input a linear parser takes about 8x the time (a quadratic one 64x). The measurement parser alone (the part
that was quadratic) is timed beside it.
"""

from __future__ import annotations

import argparse
import time

from rad3d_hf.scoring import clear_caches, score
from rad3d_hf.scoring.measurements import parse_measurement

SHAPES = {
    "prose": "The nodule measures 12 by 9 mm and ",
    "dimension chain": "3 cm x ",
    "chain without unit": "1 x ",
    "digit run": "1",
    "numbers joined by and": "3 and ",
    "ranges": "2-",
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
    print(f"{'answer shape':24s} {'score 125 KB':>13s} {'score 1 MB':>11s} {'ratio':>6s} {'parse 1 MB':>11s}")
    for name, unit in SHAPES.items():
        small = unit * (125_000 // len(unit)) + " 12x9 mm"
        large = unit * (1_000_000 // len(unit)) + " 12x9 mm"
        t_small = _best(lambda text=small: score([text], [ROW], n_resamples=0), args.repeats)
        t_large = _best(lambda text=large: score([text], [ROW], n_resamples=0), args.repeats)
        t_parse = _best(lambda text=large: parse_measurement(text), args.repeats)
        print(f"{name:24s} {t_small:12.3f}s {t_large:10.3f}s {t_large / t_small:5.1f}x {t_parse:10.3f}s")


if __name__ == "__main__":
    main()
