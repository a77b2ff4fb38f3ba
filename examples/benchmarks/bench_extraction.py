"""How long the closed-answer extractor takes on long answers, and how its time grows with the answer's length.

    python examples/benchmarks/bench_extraction.py [--mib 1]

For each adversarial pattern (text a quadratic rule would choke on: repeated markers, letters, negations, brackets,
whitespace) an answer of ``--mib`` MiB and one of 1/8 of that are read for a Yes/No and a four-option question. Printed:
the CPU seconds of the long answer (best of ``--repeats``), the ratio long / short (8 for linear work, 64 for
quadratic), and, as the baseline run in the same process, the time of ``str.lower`` + one ``re.finditer`` of a
single-literal pattern over the same text: the least any reading of the whole answer costs.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from functools import partial

from rad3d_hf.data.catalogue import EXISTENCE_OPTIONS, TEMPORAL_OPTIONS
from rad3d_hf.scoring.answer_extraction import extract_choice

UNITS = {
    "marked letters": "A. Yes or B. No? ",
    "alternatives": "The answer is (A) or (B). Not A. hepatitis B. ",
    "negated options": "no new lesion, not a resolved lesion? No. ",
    "answer lines": "Answer: ",
    "answer tags": "<answer>",
    "boxes": "\\boxed{",
    "whitespace": " " * 40 + "\n" * 4,
    "brackets": "(",
    "letters": "A",
    "negated verbs": "does not show ",
    "prose": "There is a small nodule in the right upper lobe, unchanged. ",
}
_LITERAL = re.compile("answer")


def _baseline(text: str) -> int:
    return sum(1 for _ in _LITERAL.finditer(text.lower()))


def _cpu(function: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=float, default=1.0, help="length of the long answer in MiB (default: 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = int(args.mib * 2**20)
    print(f"{'pattern':<18}{'options':>8}{'long (s)':>10}{'long/short':>12}{'baseline (s)':>14}")
    worst = 0.0
    for name, unit in UNITS.items():
        long_answer = (unit * (1 + size // len(unit)))[:size]
        short_answer = long_answer[: size // 8]
        for choices in (list(EXISTENCE_OPTIONS), list(TEMPORAL_OPTIONS)):
            long_s = _cpu(partial(extract_choice, long_answer, choices), args.repeats)
            short_s = _cpu(partial(extract_choice, short_answer, choices), args.repeats)
            base = _cpu(partial(_baseline, long_answer), args.repeats)
            worst = max(worst, long_s)
            print(f"{name:<18}{len(choices):>8}{long_s:>10.3f}{long_s / max(short_s, 1e-6):>12.1f}{base:>14.4f}")
    print(f"slowest {args.mib:g} MiB answer: {worst:.3f} s CPU")


if __name__ == "__main__":
    main()
