"""The 3D-RAD paper's reported numbers, held in one place, and the blind baselines on the same test split.

The paper (arXiv 2506.11147) reports one number per task and model, in percent, on the published test split, scored
by its own scripts: ROUGE for Tasks 1-3 (ROUGE-1, the median of 1,000 unseeded bootstrap means, empty answers
dropped) and, for Tasks 4-6, accuracy by the official rule (right when the answer's letter followed by "." appears
anywhere in the output). It gives no intervals. :data:`PUBLISHED` holds its zero-shot table and the fine-tuned
M3D-RAD row; :func:`reference_rows` gives them as rows for a leaderboard; :func:`published_markdown` prints them beside
the blind baselines.

The blind baselines are not the paper's: rad3d-hf computes them on the published test split from the question text
alone (:func:`compute_blind_baselines`; the test of this module checks :data:`BLIND_BASELINES` against the published
tables). Read the paper's numbers against them: the fine-tuned M3D-RAD reaches 82.43% on Task 4 where always
answering "B. No" gives 82.01%, and 74.77% on Task 6 where a rule reading only the earlier labels printed in the
question gives 75.92%.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS, TASKS
from rad3d_hf.scoring.baselines import history_rule

SOURCE = "the 3D-RAD paper, arXiv 2506.11147 (NeurIPS 2025 Datasets and Benchmarks)"
SOURCE_URL = "https://arxiv.org/abs/2506.11147"
SCORING_RULE = "official: letter + '.' substring for Tasks 4-6; BLEU/ROUGE as its scripts for 1-3"
NOTE = "reported, official scoring, no interval"
# What the paper calls each task's number, and the record metric that comes closest to it.
PAPER_METRIC: dict[int, str] = {1: "ROUGE", 2: "ROUGE", 3: "ROUGE", 4: "accuracy", 5: "accuracy", 6: "accuracy"}
CLOSEST_METRIC: dict[int, str] = {
    1: "rouge1",
    2: "rouge1",
    3: "rouge1",
    4: "accuracy_official",
    5: "accuracy_official",
    6: "accuracy_official",
}


@dataclass(frozen=True)
class PublishedRow:
    """One model's reported numbers (percent) by paper task number."""

    model: str
    size: str
    setting: str
    values: Mapping[int, float]
    source: str = SOURCE
    scoring: str = SCORING_RULE
    # how the CT reached the model, as far as 3D-RAD's published evaluation code tells (the paper does not say per row)
    input: str = "not stated"

    @property
    def label(self) -> str:
        return f"{self.model} ({self.size}), {self.setting}"


M3D_INPUT = "the released arrays, native 3D (3D-RAD's M3D evaluation code)"
PUBLISHED: tuple[PublishedRow, ...] = (
    PublishedRow(
        "RadFM",
        "13B",
        "zero-shot",
        {1: 17.62, 2: 19.14, 3: 6.62, 4: 29.20, 5: 44.11, 6: 42.99},
        input="the released arrays resized to 512 x 512 x 64, axis 3 read as depth (3D-RAD's RadFM evaluation code)",
    ),
    PublishedRow(
        "M3D", "7B", "zero-shot", {1: 18.64, 2: 20.82, 3: 23.24, 4: 18.00, 5: 25.47, 6: 24.17}, input=M3D_INPUT
    ),
    # Tasks 1 and 2 both read 23.19 in the paper's table; kept as printed.
    PublishedRow(
        "M3D", "4B", "zero-shot", {1: 23.19, 2: 23.19, 3: 5.63, 4: 40.25, 5: 25.40, 6: 24.31}, input=M3D_INPUT
    ),
    PublishedRow("OmniV", "1.5B", "zero-shot", {1: 25.72, 2: 26.69, 3: 7.88, 4: 28.66, 5: 22.96, 6: 24.23}),
    PublishedRow(
        "M3D-RAD",
        "4B",
        "fine-tuned on 3D-RAD-T (from M3D-LaMed 4B)",
        {1: 42.45, 2: 50.52, 3: 36.46, 4: 82.43, 5: 49.30, 6: 74.77},
        input=M3D_INPUT,
    ),
)


@dataclass(frozen=True)
class BlindBaseline:
    """A rule that answers from the question text alone, and what it scores (percent) on the published test split."""

    name: str
    rule: str
    values: Mapping[int, float]
    metric: Mapping[int, str] = field(default_factory=dict)


# Computed by rad3d-hf on the published test split (test_published_results.py recomputes them from the tables).
BLIND_BASELINES: tuple[BlindBaseline, ...] = (
    BlindBaseline(
        "one fixed answer",
        "always 'B. No' (Task 4), always 'D. No Abnormality' (Task 5); Task 6: last earlier label 1 -> A, any "
        "earlier 1 -> B, else D, read from the labels the question prints",
        {4: 82.01, 5: 46.09, 6: 75.92},
        {4: "accuracy", 5: "accuracy", 6: "accuracy"},
    ),
    BlindBaseline(
        "majority answer per subtask",
        "each subtask's most frequent reference answer (taken on the test references themselves)",
        {1: 4.56, 2: 10.07, 3: 36.53, 4: 82.01, 5: 46.65, 6: 46.65},
        {1: "rouge1", 2: "rouge1", 3: "rouge1", 4: "accuracy", 5: "accuracy", 6: "accuracy"},
    ),
)

# The published test split as rad3d-hf reads it: questions per task and their digest
# (rad3d_hf.scoring.results_record.questions_digest over ids and reference answers). A record whose task digest
# equals this one was scored on all of that task's published test questions.
PUBLISHED_TEST_SPLIT: dict[int, tuple[int, str]] = {
    1: (2666, "2f3b6b2a1eb95d46c7e78fb7fe5446a5"),
    2: (1024, "86ac448379488cd13fd0c9a314870bb8"),
    3: (1002, "9ec0f60cf00cd72cb6aaa7174e18fcb8"),
    4: (23472, "6e5c39170b1fcca37a263efb926639fd"),
    5: (2873, "f58e2851c73bc902772ae50847b6287c"),
    6: (2873, "7b31722229028e9e237ef590e4fa30b4"),
}


def _option(task: int, letter: str) -> str:
    return f"{letter}. {TASKS[task].options[OPTION_LETTERS.index(letter)]}"


def fixed_answer(row: Mapping[str, Any]) -> str | None:
    """The "one fixed answer" baseline's answer to a closed row, written ``"<letter>. <option>"`` so that the
    official rule and the package's extraction read it alike; None for open rows."""
    task = int(row["task"])
    if task == 4:
        return _option(4, "B")
    if task == 5:
        return _option(5, "D")
    if task == 6:
        return _option(6, history_rule(row.get("history") or []))
    return None


def compute_blind_baselines(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """Both baselines of :data:`BLIND_BASELINES` on ``rows`` (percent, by task), via :func:`rad3d_hf.scoring.score`."""
    from rad3d_hf.scoring.scorer import score

    report = score([str(row["answer"]) for row in rows], rows, n_resamples=0)
    majority = {
        n: 100 * report[f"task{n}/{metric}_baseline_majority"]
        for n, metric in BLIND_BASELINES[1].metric.items()
        if f"task{n}/n" in report
    }
    closed = [row for row in rows if int(row["task"]) in (4, 5, 6)]
    fixed: dict[int, float] = {}
    if closed:
        answers = [fixed_answer(row) or "" for row in closed]
        closed_report = score(answers, closed, n_resamples=0)
        fixed = {n: 100 * closed_report[f"task{n}/accuracy"] for n in (4, 5, 6) if f"task{n}/n" in closed_report}
    return {BLIND_BASELINES[0].name: fixed, BLIND_BASELINES[1].name: majority}


def reference_rows() -> list[dict[str, Any]]:
    """The published rows as leaderboard rows: values as fractions, each with the paper's metric and the closest
    record metric, no interval."""
    return [
        {
            "name": f"{row.model} ({row.size})",
            "setting": row.setting,
            "kind": "published",
            "note": NOTE,
            "source": row.source,
            "source_url": SOURCE_URL,
            "scoring": row.scoring,
            "input": row.input,
            "values": {
                f"task{n}": {
                    "paper_metric": PAPER_METRIC[n],
                    "metric": CLOSEST_METRIC[n],
                    "value": v / 100,
                    "ci95": None,
                }
                for n, v in row.values.items()
            },
        }
        for row in PUBLISHED
    ]


def published_markdown(baselines: Mapping[str, Mapping[int, float]] | None = None) -> str:
    """The paper's numbers beside the blind baselines, as a Markdown table (percent; tasks as rows).

    ``baselines`` defaults to :data:`BLIND_BASELINES`; pass :func:`compute_blind_baselines` of the tables to print
    numbers computed here and now.
    """
    if baselines is None:
        baselines = {b.name: b.values for b in BLIND_BASELINES}
    columns = [f"{p.model} ({p.size}){' fine-tuned' if p.setting != 'zero-shot' else ''}" for p in PUBLISHED]
    head = ["task", "metric", *columns, *(f"blind: {name}" for name in baselines)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for number, task in TASKS.items():
        cells = [f"{number} {task.name}", PAPER_METRIC[number]]
        cells += [f"{p.values[number]:.2f}" for p in PUBLISHED]
        cells += [f"{values[number]:.2f}" if number in values else "-" for values in baselines.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "BLIND_BASELINES",
    "CLOSEST_METRIC",
    "NOTE",
    "PAPER_METRIC",
    "PUBLISHED",
    "PUBLISHED_TEST_SPLIT",
    "SCORING_RULE",
    "SOURCE",
    "SOURCE_URL",
    "BlindBaseline",
    "PublishedRow",
    "compute_blind_baselines",
    "fixed_answer",
    "published_markdown",
    "reference_rows",
]
