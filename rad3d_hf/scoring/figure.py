"""The report as a figure: per-task scores with 95% intervals and blind baselines; confusion matrices of Tasks 5/6."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from rad3d_hf.data.catalogue import OPTION_LETTERS, TASKS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_SHORT_OPTIONS = ("Refractory", "Resolved", "New", "No abnormality")
_BARS: dict[int, tuple[str, ...]] = {1: ("bleu1", "rouge1"), 2: ("bleu1", "rouge1"), 3: ("bleu1", "rouge1")}
_LABELS = {"bleu1": "BLEU-1", "rouge1": "ROUGE-1", "accuracy": "Accuracy", "balanced_accuracy": "Bal. acc."}
_OPEN_COLOURS = {"bleu1": "#4c72b0", "rouge1": "#8fb0dd"}
_CLOSED_COLOUR = "#dd8452"
# each blind baseline the report may carry: line colour, line style, legend label
_BASELINE_STYLES: dict[str, tuple[str, str, str]] = {
    "majority": ("black", "-", "blind: majority answer per subtask"),
    "history": ("#c00000", "--", "blind: text-only history rule (Task 6)"),
    "chance": ("black", ":", "blind: chance level (balanced accuracy)"),
}
# The report has no blind baseline of balanced accuracy; its chance level stands in: a constant answer, the majority
# one included, scores 0.5 on every subtask that holds both answers (on a subtask of one answer it would score 1, so
# the line is the chance level, not the majority answer's score).
_CHANCE_LEVELS: dict[str, float] = {"balanced_accuracy": 0.5}


def _bars(metrics: Mapping[str, Any]) -> list[tuple[int, str]]:
    bars = []
    for number in TASKS:
        if f"task{number}/n" not in metrics:
            continue
        names = _BARS.get(number, ("accuracy", "balanced_accuracy") if number == 4 else ("accuracy",))
        bars += [(number, name) for name in names]
    return bars


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not math.isnan(value)


def baseline_values(metrics: Mapping[str, Any], number: int, name: str) -> dict[str, float]:
    """The blind lines drawn on Task ``number``'s ``name`` bar: kind (``majority``, ``history``, ``chance``) to value.

    The report's baselines of that metric, or else its chance level (balanced accuracy: 0.5).
    """
    key = f"task{number}/{name}"
    found = {kind: metrics.get(f"{key}_baseline_{kind}") for kind in ("majority", "history")}
    values = {kind: float(v) for kind, v in found.items() if _finite(v)}
    if not values and name in _CHANCE_LEVELS:
        values["chance"] = _CHANCE_LEVELS[name]
    return values


def _score_panel(ax: Any, metrics: Mapping[str, Any]) -> None:
    bars = _bars(metrics)
    positions, x, previous = [], 0.0, None
    for number, _ in bars:
        x += 1.5 if previous is not None and number != previous else 1.0
        positions.append(x)
        previous = number
    labelled: set[str] = set()  # each baseline's legend entry once
    for pos, (number, name) in zip(positions, bars):
        key = f"task{number}/{name}"
        value = metrics[key]
        colour = _OPEN_COLOURS.get(name, _CLOSED_COLOUR if name == "accuracy" else "#c44e52")
        low, high = metrics.get(f"{key}_ci95_low"), metrics.get(f"{key}_ci95_high")
        error = None
        if _finite(low) and _finite(high):
            error = [[max(value - low, 0) * 100], [max(high - value, 0) * 100]]
        ax.bar(pos, value * 100, width=0.8, color=colour, yerr=error, capsize=4, edgecolor="black", linewidth=0.5)

        values = baseline_values(metrics, number, name)
        for kind, v in values.items():
            colour, style, label = _BASELINE_STYLES[kind]
            ax.hlines(v * 100, pos - 0.42, pos + 0.42, colors=colour, linestyles=style, linewidth=2.2,
                      label=None if kind in labelled else label)  # fmt: skip
            labelled.add(kind)
        # The bar's value sits inside the bar (just above a very short one), never above a baseline line, where it
        # would read as that line's value; each baseline line carries its own value at its right end.
        inside = value * 100 >= 12
        ax.text(
            pos, value * 100 - 1.5 if inside else value * 100 + 1.0, f"{100 * value:.1f}", ha="center",
            va="top" if inside else "bottom", fontsize=10, fontweight="bold", color="white" if inside else "black",
        )  # fmt: skip
        for kind, v in values.items():
            ax.text(pos + 0.44, v * 100, f"{100 * v:.1f}", ha="left", va="center", fontsize=7,
                    color=_BASELINE_STYLES[kind][0])  # fmt: skip
    ax.set_xticks(positions, [_LABELS[name] for _, name in bars], fontsize=9)
    for number in sorted({n for n, _ in bars}):
        centre = sum(p for p, (n, _) in zip(positions, bars) if n == number) / sum(n == number for n, _ in bars)
        name = textwrap.fill(TASKS[number].name, 14)
        ax.text(
            centre,
            -0.09,
            f"Task {number}\n{name}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=9,
            fontweight="bold",
        )
    ax.set_ylim(0, 108)
    unit = "patients" if metrics.get("cluster_by") == "patient" else "CT volumes"
    ax.set_ylabel(f"score (%); error bars: 95% CI resampling {unit}")
    ax.set_title("3D-RAD scores (unweighted mean over subtasks) beside blind baselines", fontsize=11, pad=24)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if labelled:
        # above the axes, so that it never hides a bar, its interval or its label
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labelled), fontsize=9, frameon=False)


def _confusion_panel(ax: Any, metrics: Mapping[str, Any], number: int) -> None:
    import numpy as np

    letters = OPTION_LETTERS[: len(TASKS[number].options)]
    predicted = (*letters, "none")  # "none": the extractor read no option from the prediction
    counts = np.array([[metrics[f"task{number}/confusion_{r}_{p}"] for p in predicted] for r in letters], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(letters)):
        for j in range(len(predicted)):
            colour = "white" if shares[i, j] > 0.6 else "black"
            label = f"{int(counts[i, j]):,}\n{100 * shares[i, j]:.0f}%"
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(
        range(len(predicted)), [f"{p}\n{s}" for p, s in zip(predicted, (*_SHORT_OPTIONS, "no option read"))], fontsize=8
    )
    ax.set_yticks(range(len(letters)), [f"{r} {s}" for r, s in zip(letters, _SHORT_OPTIONS)], fontsize=8)
    ax.set_xlabel("answer read from the prediction")
    ax.set_ylabel("reference")
    accuracy = metrics[f"task{number}/accuracy"]
    ax.set_title(f"Task {number} {TASKS[number].name}\naccuracy {100 * accuracy:.1f}%, row-normalised", fontsize=10)


def report_figure(metrics: Mapping[str, Any]) -> Figure:
    """The report figure: a plain matplotlib ``Figure`` (no pyplot, no GUI backend), its score panel first."""
    from matplotlib.figure import Figure

    confusion_tasks = [n for n in (5, 6) if f"task{n}/confusion_A_A" in metrics]
    rows = 2 if confusion_tasks else 1
    fig = Figure(figsize=(12, 5.2 * rows), dpi=110, layout="constrained")
    grid = fig.add_gridspec(rows, 2)
    _score_panel(fig.add_subplot(grid[0, :]), metrics)
    for column, number in enumerate(confusion_tasks):
        _confusion_panel(fig.add_subplot(grid[1, column]), metrics, number)
    return fig


def plot_report(metrics: Mapping[str, Any], path: str | Path) -> None:
    """Save the report figure (:func:`report_figure`) as PNG at ``path``."""
    report_figure(metrics).savefig(path)
