"""Side-by-side Task 5/6 numbers of several runs and the blind baselines: accuracy, macro-F1, per-class recall.

The last two columns split each category into the two facts it combines (present now, present before), so a table
shows whether a run reads the current scan, the earlier ones, both or neither.

The blind baselines are scored like a model: their answers (``majority``: each subtask's most frequent option;
``history``: Task 6's label-list rule) go through :func:`~rad3d_hf.scoring.score`, so their macro-F1 and recalls are
computed the same way as the runs'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rad3d_hf.data.catalogue import OPTION_LETTERS, TEMPORAL_OPTIONS, TEMPORAL_TASKS
from rad3d_hf.scoring import baselines

_CLASS_LETTERS = OPTION_LETTERS[: len(TEMPORAL_OPTIONS)]


def blind_predictions(rows: Sequence[Mapping[str, Any]], rule: str) -> list[str]:
    """The answers of the ``majority`` or ``history`` baseline to ``rows`` (one option letter each).

    ``history`` answers Task 6 rows by :func:`~rad3d_hf.scoring.baselines.history_rule` and every other row by the
    majority rule.
    """
    if rule not in ("majority", "history"):
        raise ValueError(f"rule must be 'majority' or 'history', got {rule!r}")
    majority = baselines.majority_by_subtask(rows)
    out = []
    for row in rows:
        if rule == "history" and int(row["task"]) == 6:
            out.append(baselines.history_rule(row.get("history") or []))
        else:
            out.append(majority[(int(row["task"]), row["subtask"])])
    return out


def temporal_table(reports: Mapping[str, Mapping[str, Any]], tasks: Sequence[int] = TEMPORAL_TASKS) -> str:
    """A plain-text table: one line per (task, report) with accuracy, macro-F1, recall of each class, now, before.

    ``reports`` maps a name (``"single"``, ``"temporal"``, ``"majority"``...) to a report as ``score()`` returns it.
    A task a report does not cover is left out for that report.
    """
    header = (
        f"{'task':<8}{'run':<10}{'n':>5}{'accuracy':>10}{'macro-F1':>10}"
        + "".join(f"{'recall ' + letter:>10}" for letter in _CLASS_LETTERS)
        + f"{'now':>7}{'before':>8}"
    )
    lines = [header, "-" * len(header)]
    for task in tasks:
        for name, report in reports.items():
            key = f"task{task}"
            if f"{key}/accuracy" not in report:
                continue
            cells = [report.get(f"{key}/accuracy"), report.get(f"{key}/macro_f1")]
            cells += [report.get(f"{key}/accuracy_{letter}") for letter in _CLASS_LETTERS]
            shown = "".join(f"{_number(v):>10}" for v in cells)
            shown += f"{_number(report.get(f'{key}/present_now_accuracy')):>7}"
            shown += f"{_number(report.get(f'{key}/previously_present_accuracy')):>8}"
            lines.append(f"{'Task ' + str(task):<8}{name:<10}{report.get(f'{key}/n', ''):>5}{shown}")
    legend = ", ".join(
        f"{letter} = {option.split(' (')[0]}" for letter, option in zip(_CLASS_LETTERS, TEMPORAL_OPTIONS)
    )
    facts = "now / before: answers right about the finding being on the current scan (A, C) / an earlier one (A, B)"
    return "\n".join([*lines, f"classes: {legend}", facts])


def _number(value: Any) -> str:
    if value is None or math.isnan(float(value)):  # NaN: a class with no reference rows
        return "-"
    return f"{float(value):.3f}"


__all__ = ["TEMPORAL_TASKS", "blind_predictions", "temporal_table"]
