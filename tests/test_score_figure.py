"""The score figure: every bar carries a blind line, Task 4's balanced accuracy its chance level (0.50)."""

from __future__ import annotations

import math

import pytest

from rad3d_hf.scoring import score
from rad3d_hf.scoring.figure import baseline_values, plot_report, report_figure
from tests.scoring_data import small_rows

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def metrics():
    rows = small_rows()
    predictions = [r["answer_choice"] or r["answer"] for r in rows]
    predictions[3] = "B" if rows[3]["answer_choice"] == "A" else "A"  # one Task 4 answer wrong
    return score(predictions, rows, n_resamples=0)


def _blind_lines(ax) -> dict[float, list[tuple[float, bool]]]:
    """Per bar centre: the height of each horizontal line drawn across that bar, and whether it is solid."""
    lines: dict[float, list[tuple[float, bool]]] = {}
    for collection in ax.collections:
        styles = collection.get_linestyles()
        for segment, style in zip(collection.get_segments(), styles * len(collection.get_segments())):
            (x0, y0), (x1, y1) = segment
            if y0 == y1 and x1 - x0 == pytest.approx(0.84):  # the baselines' hlines, not the intervals' caps
                lines.setdefault(round((x0 + x1) / 2, 6), []).append((y0, style[1] is None))
    return lines


def test_every_bar_has_a_blind_line_and_balanced_accuracy_its_chance_level(metrics):
    assert "task4/balanced_accuracy_baseline_majority" not in metrics  # what the figure makes up for
    figure = report_figure(metrics)
    ax = figure.axes[0]
    labels = [label.get_text() for label in ax.get_xticklabels()]
    positions = [round(float(x), 6) for x in ax.get_xticks()]
    lines = _blind_lines(ax)
    assert set(lines) == set(positions), "a bar without its blind line"
    balanced = positions[labels.index("Bal. acc.")]
    assert lines[balanced] == [(pytest.approx(50.0), False)]  # dotted: the chance level's own line
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "blind: chance level (balanced accuracy)" in legend
    accuracy = positions[labels.index("Accuracy")]
    assert lines[accuracy][0][0] == pytest.approx(100 * metrics["task4/accuracy_baseline_majority"])


def test_baseline_values_per_metric(metrics):
    assert baseline_values(metrics, 4, "balanced_accuracy") == {"chance": 0.5}
    assert baseline_values(metrics, 4, "accuracy") == {"majority": metrics["task4/accuracy_baseline_majority"]}
    assert set(baseline_values(metrics, 6, "accuracy")) == {"majority", "history"}
    # a report that does carry a balanced-accuracy baseline is drawn as it is
    own = {**metrics, "task4/balanced_accuracy_baseline_majority": 0.75}
    assert baseline_values(own, 4, "balanced_accuracy") == {"majority": 0.75}
    assert baseline_values({**metrics, "task1/rouge1_baseline_majority": math.nan}, 1, "rouge1") == {}


def test_plot_report_writes_the_png(metrics, tmp_path):
    plot_report(metrics, tmp_path / "scores.png")
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
