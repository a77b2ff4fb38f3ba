"""What the dataset card says of each source table: questions, volumes, repeated rows and blind-baseline hits.

Computed from the exported rows (:func:`summarize_source`), so every number in the card is counted, never typed in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rad3d_hf.data.builder import qa_features
from rad3d_hf.scoring.baselines import history_rule

_QA_SCHEMA = qa_features().arrow_schema


@dataclass(frozen=True)
class BlindBaseline:
    """A rule that answers without the image: its name, the tasks it applies to and the letter it predicts."""

    name: str
    tasks: tuple[int, ...]
    predict: Callable[[dict[str, Any]], str]


BLIND_BASELINES: tuple[BlindBaseline, ...] = (
    BlindBaseline('always "No"', (4,), lambda row: "B"),
    BlindBaseline('always "D" (No Abnormality)', (5, 6), lambda row: "D"),
    BlindBaseline("history rule (question text only)", (6,), lambda row: history_rule(row["history"])),
)


@dataclass(frozen=True)
class SourceSummary:
    """What the card needs of one source table in one split."""

    split: str
    task: int
    subtask: str
    questions: int
    volumes: frozenset[str]
    duplicate_rows: int
    baseline_correct: tuple[tuple[str, int], ...]
    arrow_bytes: int = 0


def summarize_source(split: str, task: int, subtask: str, rows: Iterable[dict[str, Any]]) -> SourceSummary:
    """Count questions, distinct volumes, rows repeating an earlier one, and blind-baseline hits of one table.

    ``arrow_bytes`` is the Arrow size of the QA columns (the card's ``num_bytes``; datasets checks only the counts)."""
    rows = list(rows)
    arrow_bytes = pa.Table.from_pylist([{k: r[k] for k in _QA_SCHEMA.names} for r in rows], schema=_QA_SCHEMA).nbytes
    baselines = [b for b in BLIND_BASELINES if task in b.tasks]
    correct = Counter({b.name: 0 for b in baselines})
    seen: set[tuple[str, str, str]] = set()
    volumes: set[str] = set()
    questions = duplicates = 0
    for row in rows:
        questions += 1
        volumes.add(row["volume_name"])
        key = (row["volume_name"], row["question"], row["answer"])
        duplicates += key in seen
        seen.add(key)
        for baseline in baselines:
            correct[baseline.name] += baseline.predict(row) == row["answer_choice"]
    return SourceSummary(
        split,
        task,
        subtask,
        questions,
        frozenset(volumes),
        duplicates,
        tuple((b.name, correct[b.name]) for b in baselines),
        arrow_bytes,
    )


@dataclass(frozen=True)
class BaselineResult:
    """Accuracy of one blind baseline on one task and split: mean over subtask files (as the official scripts average)
    and pooled over questions."""

    baseline: str
    task: int
    split: str
    mean_over_subtasks: float
    pooled: float
    questions: int


def blind_baselines(summaries: Iterable[SourceSummary]) -> list[BaselineResult]:
    """Blind-baseline accuracies per baseline, task and split, from table summaries."""
    grouped: dict[tuple[str, int, str], list[tuple[int, int]]] = {}
    for s in summaries:
        for name, correct in s.baseline_correct:
            if s.questions:
                grouped.setdefault((name, s.task, s.split), []).append((correct, s.questions))
    results = []
    order = {b.name: i for i, b in enumerate(BLIND_BASELINES)}
    for (name, task, split), parts in sorted(grouped.items(), key=lambda kv: (kv[0][1], order[kv[0][0]], kv[0][2])):
        n = sum(q for _, q in parts)
        mean = sum(c / q for c, q in parts) / len(parts)
        results.append(BaselineResult(name, task, split, mean, sum(c for c, _ in parts) / n, n))
    return results
