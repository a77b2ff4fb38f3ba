"""Results records side by side: the data of the leaderboard page and its Markdown table.

:func:`leaderboard_data` turns records (:mod:`~rad3d_hf.scoring.results_record`) into rows: one per record, the blind
baselines of every distinct question set, and the paper's reported numbers (:mod:`~rad3d_hf.scoring.published`,
marked "reported, official scoring, no interval"). Records are grouped by the questions they were scored on (the
record's questions digest): each group gets a letter, every row shows its group, and records of different groups or
scored by different rad3d-hf versions are flagged, never silently mixed. For each task, every pair of records scored
on the same questions of that task by the same version is compared from their details
(:func:`~rad3d_hf.scoring.record_comparison.compare_details`: paired bootstrap over patients).

:func:`render_page` fills the page template (``leaderboard_page.html``, self-contained: inline styles and script,
no network) with that data; :func:`leaderboard_markdown` gives the table for a model card.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import combinations
from typing import Any

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.scoring import published
from rad3d_hf.scoring.record_comparison import compare_details, significant
from rad3d_hf.scoring.report import METRIC_LABELS
from rad3d_hf.scoring.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED

TEMPLATE = "leaderboard_page.html"
TASK_KEYS = [f"task{n}" for n in TASKS]
# view -> task -> metrics tried in order (the first a row has is shown)
VIEWS: dict[str, dict[str, Any]] = {
    "headline": {
        "label": "Headline: ROUGE-1 (Tasks 1-3), accuracy with the letter read strictly (Tasks 4-6)",
        "metrics": {k: ["rouge1"] if n <= 3 else ["accuracy"] for n, k in zip(TASKS, TASK_KEYS)},
    },
    "official": {
        "label": "Official scoring: ROUGE-1 (bootstrap median where scored), accuracy by the '<letter>.' substring rule",
        "metrics": {
            k: ["rouge1_bootstrap_mid", "rouge1"] if n <= 3 else ["accuracy_official"] for n, k in zip(TASKS, TASK_KEYS)
        },
    },
    "balanced": {
        "label": "Chance-aware: BLEU-1 (Tasks 1-3), balanced accuracy (Task 4), macro-F1 (Tasks 5-6)",
        "metrics": {
            k: ["bleu1"] if n <= 3 else ["balanced_accuracy"] if n == 4 else ["macro_f1"]
            for n, k in zip(TASKS, TASK_KEYS)
        },
    },
}
PAIRED_METRICS = ("rouge1", "bleu1", "accuracy", "accuracy_official", "balanced_accuracy", "measurement_exact")


@dataclass
class Entry:
    """One results record to show: where it came from, the record, and its details rows (None when absent)."""

    source: str
    record: Mapping[str, Any]
    details: list[dict[str, Any]] | None = None


def _letters() -> Any:
    for i in range(26 * 26):
        yield chr(65 + i) if i < 26 else chr(64 + i // 26) + chr(65 + i % 26)


def describe_input(protocol: Mapping[str, Any]) -> str:
    """A short line on how the CT reached the model, from a record's ``input_protocol``."""
    name = str(protocol.get("name", "not stated"))
    params = protocol.get("params") or {}
    if params.get("renderer") == "slices":
        preset = params.get("preset")
        if preset == "auto" and params.get("auto_choice"):
            preset = f"auto -> {params['auto_choice']}"
        detail = f"{params.get('num_slices')} slices, {params.get('size')} px, {preset}"
        detail += ", montage" if params.get("montage") else ""
    elif protocol.get("kind") == "native-3d" or params.get("transform") == "m3d" or params.get("recipe") == "m3d":
        size = params.get("size") or [32, 256, 256]
        detail = f"native 3D {'x'.join(str(s) for s in size)}, {protocol.get('volume_format') or 'format not stated'}"
    else:
        detail = ""
    return f"{name} ({detail})" if detail else name


def _cells(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for key, task in record["tasks"].items():
        cells[key] = {m: {"value": e.get("value"), "ci": e.get("ci95")} for m, e in task["metrics"].items()}
    return cells


def _baseline_rows(entry: Entry, group: str) -> list[dict[str, Any]]:
    majority: dict[str, dict[str, Any]] = {}
    history: dict[str, dict[str, Any]] = {}
    for key, task in entry.record["tasks"].items():
        for metric, values in task["metrics"].items():
            if "baseline_majority" in values:
                majority.setdefault(key, {})[metric] = {"value": values["baseline_majority"], "ci": None}
            if "baseline_history" in values:
                history.setdefault(key, {})[metric] = {"value": values["baseline_history"], "ci": None}
        if "accuracy" in majority.get(key, {}):  # the answers written "<letter>. <option>": both rules agree
            majority[key]["accuracy_official"] = majority[key]["accuracy"]
        if "accuracy" in history.get(key, {}):
            history[key]["accuracy_official"] = history[key]["accuracy"]
    note = f"blind (reads no image), on question set {group}"
    rows = [{"name": f"Blind: majority answer per subtask [{group}]", "kind": "baseline", "group": group,
             "input": "none (question text only)", "cells": majority, "flags": [], "note": note}]  # fmt: skip
    if history:
        rows.append({"name": f"Blind: Task 6 history rule [{group}]", "kind": "baseline", "group": group,
                     "input": "none (the labels printed in the question)", "cells": history, "flags": [],
                     "note": note})  # fmt: skip
    return rows


def _published_rows() -> list[dict[str, Any]]:
    rows = []
    for row in published.reference_rows():
        cells = {}
        for key, value in row["values"].items():
            stands_for = (
                ["rouge1", "rouge1_bootstrap_mid"] if value["metric"] == "rouge1" else ["accuracy", "accuracy_official"]
            )
            cells[key] = {m: {"value": value["value"], "ci": None, "reported": True} for m in stands_for}
        rows.append({"name": f"{row['name']} {row['setting']}", "kind": "published", "group": "published",
                     "input": row["input"], "cells": cells, "flags": [NOTE_PUBLISHED],
                     "note": f"{row['source']}; {row['scoring']}", "source": row["source_url"]})  # fmt: skip
    return rows


NOTE_PUBLISHED = published.NOTE


def _resampling(record: Mapping[str, Any]) -> str:
    return f"{record['scoring']['n_resamples']} {record['scoring']['cluster_by']} resamples"


def _record_flags(entry: Entry, group: str, n_groups: int, common: Mapping[str, Any]) -> list[str]:
    """What a reader must know before comparing this record: ``common`` holds what most records share."""
    record = entry.record
    version = common["version"]
    flags = []
    coverage = record["coverage"]
    if coverage.get("coverage") is not None and coverage["coverage"] < 1:
        flags.append(f"subset: {coverage['n']:,} of {coverage['n_expected']:,} questions")
    if n_groups > 1:
        flags.append(f"question set {group}: compare only with rows of set {group}")
    if record["package"]["version"] != version:
        flags.append(f"scored by rad3d-hf {record['package']['version']} (most rows: {version})")
    if record.get("tables_digest") != common["tables"][group]:
        flags.append(f"tables digest differs within set {group}: same ids and answers, other table files")
    if _resampling(record) != common["resampling"]:
        flags.append(f"intervals from {_resampling(record)} (most rows: {common['resampling']})")
    on_published = all(
        task.get("questions_digest") == published.PUBLISHED_TEST_SPLIT[int(key[4:])][1]
        for key, task in record["tasks"].items()
    )
    if not on_published:
        flags.append("not the published test split: not comparable with the reported (†) rows")
    protocol = record["input_protocol"]
    if protocol.get("name") in ("not stated", None):
        flags.append("input protocol not stated")
    elif protocol.get("exact") is False:
        flags.append(f"approximates {protocol['name']} (see its differences)")
    if entry.details is None:
        flags.append("no details.parquet: no paired differences")
    return flags


def _unique_names(entries: Sequence[Entry]) -> list[str]:
    names = [str(e.record["model"]["name"]) for e in entries]
    counts = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(f"{name} [{seen[name]}]" if counts[name] > 1 else name)
    return out


def _pairs(entries: Sequence[Entry], names: Sequence[str], seed: int, n_resamples: int) -> tuple[list, list]:
    pairs, notes = [], []
    for (i, a), (j, b) in combinations(enumerate(entries), 2):
        if a.details is None or b.details is None:
            continue
        if a.record["package"]["version"] != b.record["package"]["version"]:
            notes.append(f"{names[i]} vs {names[j]}: scored by different rad3d-hf versions, not compared")
            continue
        shared = [
            key
            for key, task in a.record["tasks"].items()
            if b.record["tasks"].get(key, {}).get("questions_digest") == task["questions_digest"]
        ]
        if not shared:
            continue
        keep = {int(key[4:]) for key in shared}
        result = compare_details(
            [r for r in a.details if int(r["task"]) in keep],
            [r for r in b.details if int(r["task"]) in keep],
            seed=seed,
            n_resamples=n_resamples,
        )
        for key in shared:
            for metric in PAIRED_METRICS:
                k = f"{key}/{metric}"
                if f"{k}_diff" not in result:
                    continue
                low, high = result.get(f"{k}_diff_ci95_low"), result.get(f"{k}_diff_ci95_high")
                pairs.append({
                    "task": key, "metric": metric, "a": names[i], "b": names[j], "n": result[f"{key}/n"],
                    "diff": _finite(result[f"{k}_diff"]), "ci": None if low is None else [_finite(low), _finite(high)],
                    "p": _finite(result.get(f"{k}_diff_p")), "significant": significant(result, k),
                })  # fmt: skip
    return pairs, notes


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def leaderboard_data(
    entries: Sequence[Entry],
    *,
    include_published: bool = True,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    title: str = "3D-RAD leaderboard",
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (rows, groups, paired differences, notes)."""
    from rad3d_hf import __version__

    if not entries:
        raise ValueError("no results records to show")
    names = _unique_names(entries)
    letters = _letters()
    group_of: dict[str, str] = {}
    for entry in entries:
        digest = entry.record["questions_digest"]
        if digest not in group_of:
            group_of[digest] = next(letters)

    def most(values: Any) -> Any:
        return Counter(values).most_common(1)[0][0]

    common = {
        "version": most(e.record["package"]["version"] for e in entries),
        "resampling": most(_resampling(e.record) for e in entries),
        "tables": {
            letter: most(
                e.record.get("tables_digest") for e in entries if group_of[e.record["questions_digest"]] == letter
            )
            for letter in group_of.values()
        },
    }
    rows: list[dict[str, Any]] = []
    baselines: dict[str, list[dict[str, Any]]] = {}
    for entry, name in zip(entries, names):
        group = group_of[entry.record["questions_digest"]]
        protocol = entry.record["input_protocol"]
        rows.append({
            "name": name, "kind": "record", "group": group, "input": describe_input(protocol),
            "input_detail": protocol, "cells": _cells(entry.record), "source": entry.source,
            "flags": _record_flags(entry, group, len(group_of), common),
            "note": f"{entry.record['coverage']['n']:,} questions; rad3d-hf {entry.record['package']['version']}",
        })  # fmt: skip
        baselines.setdefault(group, _baseline_rows(entry, group))
    for group_rows in baselines.values():
        rows.extend(group_rows)
    if include_published:
        rows.extend(_published_rows())
    pairs, notes = _pairs(entries, names, seed, n_resamples)
    if len(group_of) > 1:
        notes.append(f"{len(group_of)} question sets ({', '.join(group_of.values())}): rows of different sets differ in "
                     "their questions, so their numbers are not comparable")  # fmt: skip
    return {
        "title": title,
        "generated_by": f"rad3d-hf {__version__}",
        "tasks": [{"key": k, "label": f"T{n} {TASKS[n].name}"} for n, k in zip(TASKS, TASK_KEYS)],
        "views": VIEWS,
        "metric_labels": METRIC_LABELS,
        "rows": rows,
        "groups": [{"letter": letter, "questions_digest": digest} for digest, letter in group_of.items()],
        "pairs": pairs,
        "pairs_resamples": n_resamples,
        "notes": notes,
    }


def _cell_text(row: Mapping[str, Any], task: str, metrics: Sequence[str]) -> str:
    cell = row["cells"].get(task, {})
    for metric in metrics:
        if metric in cell and cell[metric]["value"] is not None:
            entry = cell[metric]
            text = f"{100 * entry['value']:.2f}"
            if entry.get("ci"):
                text += f" [{100 * entry['ci'][0]:.2f}, {100 * entry['ci'][1]:.2f}]"
            return text + (" †" if entry.get("reported") else "")
    return "-"


def leaderboard_markdown(data: Mapping[str, Any], view: str = "headline") -> str:
    """The rows as a Markdown table (percent, 95% interval in brackets; † = reported, official scoring)."""
    metrics = data["views"][view]["metrics"]
    head = ["model", "set", "input", *(t["label"] for t in data["tasks"])]
    lines = [f"{data['views'][view]['label']}. † reported by the paper, official scoring, no interval.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    for row in data["rows"]:
        cells = [row["name"], row["group"], row["input"], *(_cell_text(row, t, metrics[t]) for t in metrics)]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines.append("")
    lines.extend(
        f"- {row['name']}: {'; '.join(row['flags'])}"
        for row in data["rows"]
        if row["kind"] == "record" and row["flags"]
    )
    lines.extend(f"- {note}" for note in data["notes"])
    return "\n".join(lines) + "\n"


def render_page(data: Mapping[str, Any]) -> str:
    """The self-contained HTML page: the template with ``data`` inlined as JSON."""
    template = resources.files("rad3d_hf.scoring").joinpath(TEMPLATE).read_text(encoding="utf-8")
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")  # inert inside <script>
    title = str(data["title"]).replace("&", "&amp;").replace("<", "&lt;")
    return template.replace("__TITLE__", title).replace("/*__DATA__*/null", blob)


__all__ = [
    "PAIRED_METRICS",
    "VIEWS",
    "Entry",
    "describe_input",
    "leaderboard_data",
    "leaderboard_markdown",
    "render_page",
]
