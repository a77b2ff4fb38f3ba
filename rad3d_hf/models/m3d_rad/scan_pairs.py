"""Task 5 questions made from pairs of Task 4 scans: many more time courses to learn a comparison from.

A Task 5 question asks how the finding it names changed between a patient's earlier scans and the current one. A
train split holds few such patients (the demo's temporal cohort has 24), and a model trained on them learns those
patients rather than how to compare two scans. It holds many more scans whose Task 4 labels say whether each finding
is on them (the demo: 396). Two such scans, one standing for an earlier scan and one for the current scan, have a
known course by the catalogue's definitions: the finding on both (A, refractory), on the earlier one only (B,
resolved), on the current one only (C, new), on neither (D, no abnormality).

:func:`scan_pair_rows` draws such pairs, the four courses equally often for every finding, seeded, and words each as
the split's own Task 5 question about that finding (the first Task 5 row naming it). The two scans are mostly of
different patients: which two is independent of the course, so the only way to the answer is reading each scan.
The rows carry the ids ``pairs/seed<seed>/<k>`` and name their scans (``volume_name``, ``prior_volume_names``);
``examples/finetune_m3d_rad.py --scan-pairs N`` adds their volumes and trains on them with the published questions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rad3d_hf.data.catalogue import (
    EXISTENCE_OPTIONS,
    OPTION_LETTERS,
    TEMPORAL_OPTIONS,
    TEMPORAL_PRESENT_BEFORE,
    TEMPORAL_PRESENT_NOW,
    named_finding,
    temporal_letter,
)

EXISTENCE_TASK = 4
PAIRED_TASK = 5
_ANSWERS = dict(zip(EXISTENCE_OPTIONS, (True, False)))  # Yes: present
# (present now, present before) of each temporal option, in option order: refractory, resolved, new, no abnormality
COURSES: tuple[tuple[bool, bool], ...] = tuple(
    (letter in TEMPORAL_PRESENT_NOW, letter in TEMPORAL_PRESENT_BEFORE)
    for letter in OPTION_LETTERS[: len(TEMPORAL_OPTIONS)]
)
# identity fields a pair row takes from its current scan's Task 4 row rather than from the question's template
_SCAN_FIELDS = ("volume_name", "patient_id", "scan", "reconstruction")


def existence_labels(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], bool]:
    """``(volume name, finding) -> present`` from the Task 4 rows among ``rows`` (others are skipped).

    An answer other than Yes/No, or two questions about the same volume and finding with different answers, is a
    ValueError naming the rows.
    """
    seen: dict[tuple[str, str], tuple[bool, str]] = {}
    for row in rows:
        if int(row["task"]) != EXISTENCE_TASK:
            continue
        answer = str(row["answer"]).strip()
        if answer not in _ANSWERS:
            raise ValueError(f"row {row['id']}: a Task 4 answer must be Yes or No, got {answer!r}")
        key = (str(row["volume_name"]), str(row["subtask"]))
        value = _ANSWERS[answer]
        if key in seen and seen[key][0] != value:
            raise ValueError(
                f"rows {seen[key][1]} and {row['id']} give volume {key[0]} different answers for {key[1]!r}"
            )
        seen.setdefault(key, (value, str(row["id"])))
    return {key: value for key, (value, _) in seen.items()}


@dataclass
class ScanPairs:
    """What :func:`scan_pair_rows` made: the rows, and the findings it could not pair, with the reason."""

    rows: list[dict[str, Any]]
    seed: int
    skipped: dict[str, str] = field(default_factory=dict)


def _templates(temporal_rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The first closed four-option Task 5 row naming each finding."""
    templates: dict[str, Mapping[str, Any]] = {}
    for row in temporal_rows:
        if int(row["task"]) != PAIRED_TASK or row["question_type"] != "closed" or len(row["choices"]) != 4:
            continue
        finding = named_finding(str(row["question"]))
        if finding is not None:
            templates.setdefault(finding, row)
    return templates


def scan_pair_rows(
    existence_rows: Iterable[Mapping[str, Any]],
    temporal_rows: Iterable[Mapping[str, Any]],
    *,
    count: int,
    seed: int,
) -> ScanPairs:
    """``count`` Task 5 rows, each a pair of scans from ``existence_rows`` (Task 4) with its course as the answer.

    The findings take turns, and each finding's pairs go through the four courses in turn; a pair's current scan is
    drawn among the scans with the course's label now, its earlier scan among the other scans with the label
    before (``random.Random(seed)``). A finding no Task 5 row of ``temporal_rows`` names, or without two scans for
    some course, is left out and reported in ``skipped``. Fields other than the question, options, answer and scans
    come from the current scan's Task 4 row; ``history`` is empty (the course is to be read from the scans).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    existence_rows = list(existence_rows)
    labels = existence_labels(existence_rows)
    scan_rows = {str(r["volume_name"]): r for r in existence_rows if int(r["task"]) == EXISTENCE_TASK}
    templates = _templates(temporal_rows)
    findings = sorted({finding for _, finding in labels})
    pools: dict[str, dict[bool, list[str]]] = {f: {True: [], False: []} for f in findings}
    for (volume, finding), present in sorted(labels.items()):
        pools[finding][present].append(volume)
    skipped: dict[str, str] = {}
    usable = []
    for finding in findings:
        if finding not in templates:
            skipped[finding] = "no Task 5 question names it"
        elif min(len(pools[finding][True]), len(pools[finding][False])) < 2:
            skipped[finding] = "fewer than two scans with it, or without it"
        else:
            usable.append(finding)
    pairs = ScanPairs(rows=[], seed=seed, skipped=skipped)
    if not usable:
        if count:
            raise ValueError(f"no finding can be paired: {skipped or 'no Task 4 rows'}")
        return pairs
    rng = random.Random(seed)
    for k in range(count):
        finding = usable[k % len(usable)]
        now, before = COURSES[(k // len(usable)) % len(COURSES)]
        current = rng.choice(pools[finding][now])
        earlier = current
        while earlier == current:  # each pool holds two scans or more
            earlier = rng.choice(pools[finding][before])
        template = templates[finding]
        letter = temporal_letter(now, before)
        choices = list(template["choices"])
        row = {k: v for k, v in template.items() if k not in ("volume", "prior_volumes")}
        row.update({f: scan_rows[current][f] for f in _SCAN_FIELDS if f in scan_rows[current]})
        row.update(
            id=f"pairs/seed{seed}/{k:06d}",
            answer_choice=letter,
            answer=choices[OPTION_LETTERS.index(letter)],
            history=[],
            prior_volume_names=[earlier],
        )
        pairs.rows.append(row)
    return pairs


__all__ = ["COURSES", "ScanPairs", "existence_labels", "scan_pair_rows"]
