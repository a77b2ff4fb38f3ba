"""The report a person reads: the paper-layout table, the JSON report and the per-question log.

The table follows the paper: one block per task in paper order, its headline metrics in percent with the 95%
interval (resampling patients or CT volumes, as ``cluster_by`` says), the blind baselines beside them, then the per-subtask values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring.measurements import MAX_MEASUREMENT_TEXT
from rad3d_hf.scoring.scorer import QuestionResult

METRIC_LABELS: dict[str, str] = {
    "bleu1": "BLEU-1",
    "rouge1": "ROUGE-1",
    "rouge1_bootstrap_mid": "ROUGE-1 (bootstrap mid)",
    "meteor": "METEOR",
    "bertscore_f1": "BERTScore F1",
    "measurement_exact": "Exact (mm)",
    "accuracy": "Accuracy",
    "accuracy_official": "Accuracy (official rule)",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
}


def headline_metrics(task_number: int, metrics: Mapping[str, Any]) -> list[str]:
    """The metrics shown for a task, in table order (optional ones only when present)."""
    if TASKS[task_number].is_open:
        names = ["bleu1", "rouge1", "rouge1_bootstrap_mid", "meteor", "bertscore_f1"]
        if task_number == 3:
            names.append("measurement_exact")
    else:
        names = ["accuracy", "accuracy_official"]
        names += ["balanced_accuracy"] if task_number == 4 else ["macro_f1"]
    return [name for name in names if f"task{task_number}/{name}" in metrics]


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.2f}"


def _interval(metrics: Mapping[str, Any], key: str) -> str:
    low, high = metrics.get(f"{key}_ci95_low"), metrics.get(f"{key}_ci95_high")
    if low is None or high is None:
        return ""
    return f"[{_pct(low)}, {_pct(high)}]"


def format_table(metrics: Mapping[str, Any], *, subtasks: bool = True, title: str | None = None) -> str:
    """The report as a fixed-width text table (percentages), in the paper's task order."""
    lines = []
    header = title or "3D-RAD"
    lines.append(
        f"{header}: {metrics['n']:,} questions on {metrics['n_volumes']:,} CT volumes "
        f"(rad3d-hf {metrics['version']}, seed {metrics['seed']}, {metrics['n_resamples']:,} "
        f"{metrics.get('cluster_by', 'volume')} resamples)"
    )
    if "coverage" in metrics:
        lines.append(
            f"subset: {metrics['n']:,} of {metrics['n_expected']:,} questions scored ({_pct(metrics['coverage'])}%)"
        )
    columns = f"{'':<34}{'score':>8}  {'95% CI':<16}{'majority':>9}{'text-only':>10}{'micro':>8}"
    rule = "-" * len(columns)
    lines += [rule, columns, rule]
    for number, task in TASKS.items():
        prefix = f"task{number}/"
        if f"{prefix}n" not in metrics:
            continue
        extra = f"n={metrics[prefix + 'n']:,}, {metrics[prefix + 'n_volumes']:,} volumes"
        lines.append(f"Task {number} {task.name} ({extra})")
        for metric in headline_metrics(number, metrics):
            key = prefix + metric
            majority = metrics.get(f"{key}_baseline_majority")
            history = metrics.get(f"{key}_baseline_history")
            lines.append(
                f"  {METRIC_LABELS[metric]:<32}{_pct(metrics[key]):>8}  {_interval(metrics, key):<16}"
                f"{_pct(majority) if majority is not None else '':>9}{_pct(history) if history is not None else '':>10}"
                f"{_pct(metrics.get(key + '_micro')) if key + '_micro' in metrics else '':>8}"
            )
        notes = []
        if not task.is_open:
            notes.append(f"unparseable {_pct(metrics[prefix + 'unparseable_rate'])}%")
        if metrics.get(prefix + "n_empty"):
            notes.append(f"{metrics[prefix + 'n_empty']:,} empty answers (scored 0)")
        if metrics.get(prefix + "measurement_n_unread"):
            notes.append(
                f"answers over {MAX_MEASUREMENT_TEXT:,} characters, not read as measurements: "
                f"{metrics[prefix + 'measurement_n_unread']:,}"
            )
        if number == 3 and prefix + "measurement_abs_error_mm" in metrics:
            notes.append(
                f"mean abs error {metrics[prefix + 'measurement_abs_error_mm']:.2f} mm, "
                f"rel error {_pct(metrics[prefix + 'measurement_rel_error'])}%"
            )
        if notes:
            lines.append(f"  ({'; '.join(notes)})")
        if subtasks:
            main = headline_metrics(number, metrics)[:2] if task.is_open else ["accuracy"]
            for sub in task.subtasks:
                key = f"{prefix}{sub.name}/"
                if key + "n" not in metrics:
                    continue
                # fixed-width cells, so that every subtask's values line up under each other
                values = "".join(
                    f"{METRIC_LABELS[m]:>9} {_pct(metrics[key + m]):>6}  {_interval(metrics, key + m):<16}"
                    for m in main
                )
                lines.append(f"    {sub.name:<36}{values}{'n=' + format(metrics[key + 'n'], ','):>9}")
        lines.append(rule)
    row = paper_row(metrics)
    if row:
        lines.append(f"paper row (BLEU-1/ROUGE-1 for Tasks 1-3, accuracy for Tasks 4-6): {row}")
    return "\n".join(lines)


def paper_row(metrics: Mapping[str, Any]) -> str:
    """The headline numbers in one line, task by task, as a results table in the paper lists them (percent)."""
    cells = []
    for number, task in TASKS.items():
        prefix = f"task{number}/"
        if f"{prefix}n" not in metrics:
            continue
        if task.is_open:
            cells.append(f"T{number} {_pct(metrics[prefix + 'bleu1'])}/{_pct(metrics[prefix + 'rouge1'])}")
        else:
            cells.append(f"T{number} {_pct(metrics[prefix + 'accuracy'])}")
    return " | ".join(cells)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_report(path: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write the flat report as JSON (NaN, meaning "undefined here", becomes null)."""
    data = {key: _jsonable(value) for key, value in metrics.items()}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_question_log(path: str | Path, questions: Iterable[QuestionResult]) -> None:
    """Write one JSON line per question: id, prediction, parsed answer, score and how it was read."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for question in questions:
            record = {key: _jsonable(value) for key, value in question.to_record().items()}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


REPORT_FILE = "report.json"
QUESTIONS_FILE = "questions.jsonl"
TABLE_FILE = "table.txt"
FIGURE_FILE = "scores.png"


def write_score_folder(result: Any, out: str | Path, *, title: str, figure: bool = True) -> list[str]:
    """Write a :class:`ScoreResult` as ``report.json``, ``questions.jsonl``, ``table.txt`` and ``scores.png``.

    Returns the file names written (the folder is created). The printed table is ``table.txt``'s content.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(out / REPORT_FILE, result.metrics)
    write_question_log(out / QUESTIONS_FILE, result.questions)
    (out / TABLE_FILE).write_text(format_table(result.metrics, title=title) + "\n", encoding="utf-8")
    written = [REPORT_FILE, QUESTIONS_FILE, TABLE_FILE]
    if figure:
        from rad3d_hf.scoring.figure import plot_report

        plot_report(result.metrics, out / FIGURE_FILE)
        written.append(FIGURE_FILE)
    return written
