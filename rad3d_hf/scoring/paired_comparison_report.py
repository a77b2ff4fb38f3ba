"""A paired comparison as a person reads it: a fixed-width table and a forest plot of the differences."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.intervals import interval_metrics
from rad3d_hf.scoring.report import METRIC_LABELS


def _pct(value: Any, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def compared_rows(result: Mapping[str, Any], *, subtasks: bool = True) -> list[tuple[str, str, str]]:
    """(row label, metric, key prefix) for every compared value, task by task in paper order."""
    rows = []
    for number, task in TASKS.items():
        if f"task{number}/n" not in result:
            continue
        for metric in interval_metrics(task):
            key = f"task{number}/{metric}"
            if f"{key}_diff" not in result:
                continue
            rows.append((f"Task {number} {task.name}", metric, key))
            if subtasks:
                for sub in task.subtasks:
                    sub_key = f"task{number}/{sub.name}/{metric}"
                    if f"{sub_key}_diff" in result:
                        rows.append((f"  {sub.name}", metric, sub_key))
    return rows


def format_comparison(result: Mapping[str, Any], name_a: str, name_b: str, *, subtasks: bool = True) -> str:
    """The comparison as a text table: both values, A - B, its 95% interval and p-value (percentages)."""
    lines = [
        f"A = {name_a}, B = {name_b}: {result['n']:,} paired questions (rad3d-hf {result['version']}, seed "
        f"{result['seed']}, {result['n_resamples']:,} paired resamples of {result['cluster_by']}s)"
    ]
    columns = f"{'':<44}{'metric':<26}{'A':>8}{'B':>8}{'A - B':>9}  {'95% CI':<18}{'p':>7}"
    rule = "-" * len(columns)
    lines += [rule, columns, rule]
    for label, metric, key in compared_rows(result, subtasks=subtasks):
        interval = ""
        if f"{key}_diff_ci95_low" in result:
            interval = f"[{_pct(result[key + '_diff_ci95_low'], True)}, {_pct(result[key + '_diff_ci95_high'], True)}]"
        lines.append(
            f"{label[:43]:<44}{METRIC_LABELS[metric]:<26}{_pct(result[key + '_a']):>8}{_pct(result[key + '_b']):>8}"
            f"{_pct(result[key + '_diff'], True):>9}  {interval:<18}{_p(result.get(key + '_diff_p')):>7}"
        )
    lines.append(rule)
    return "\n".join(lines)


def plot_comparison(result: Mapping[str, Any], path: str | Path, name_a: str, name_b: str) -> None:
    """Save a forest plot of A - B per task and metric (points, 95% interval bars, zero line) as PNG at ``path``."""
    from matplotlib.figure import Figure

    rows = [row for row in compared_rows(result, subtasks=False) if row[1] != "accuracy_official"]
    fig = Figure(figsize=(9, 1.2 + 0.45 * len(rows)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for y, (_, _, key) in enumerate(reversed(rows)):
        diff = 100 * result[f"{key}_diff"]
        low, high = result.get(f"{key}_diff_ci95_low"), result.get(f"{key}_diff_ci95_high")
        if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
            ax.hlines(y, 100 * low, 100 * high, colors="#4c72b0", linewidth=2.5)
        ax.plot([diff], [y], "o", color="black", markersize=5)
        p = result.get(f"{key}_diff_p")
        ax.annotate(
            f"{diff:+.2f}" + (f"  p={p:.3f}" if p is not None and not math.isnan(p) else ""),
            (diff, y),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), [f"{label} - {METRIC_LABELS[metric]}" for label, metric, _ in reversed(rows)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    unit = "patients" if result["cluster_by"] == "patient" else "CT volumes"
    ax.set_xlabel(f"A - B (percentage points); bars: 95% paired bootstrap interval resampling {unit}")
    ax.set_title(f"A = {name_a}  vs  B = {name_b}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path)
