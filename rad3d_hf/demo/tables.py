"""QA tables of the demo cohort, in the official 3D-RAD CSV format, derived from the phantoms' ground truth.

Every source file of the catalogue is written for each split (header only where the demo has no rows). Numbering is
the source one: the ``Task`` column is ``TaskInfo.source_task`` and ``Subtask`` the file's per-split index. Answers
come from :mod:`rad3d_hf.demo.findings`, so they agree with the voxels: Task 4 asks every finding of every volume,
Tasks 5/6 derive their categories from the Task 4 labels of the patient's earlier scans (Task 6 prints those labels in
the question), Task 3 reports the sizes the nodules and effusions were drawn with, and the open questions of Tasks 1
and 2 name the lobes and sides where the phantom put its findings. Question wording is the package's own.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Sequence
from pathlib import Path

from rad3d_hf.data.catalogue import (
    CSV_HEADER,
    EMPTY_FIELD,
    EXISTENCE_OPTIONS,
    FINDINGS,
    OPTION_LETTERS,
    SPLITS,
    TASKS,
    TEMPORAL_OPTIONS,
    Subtask,
    TaskInfo,
    temporal_letter,
)
from rad3d_hf.demo.findings import TEMPORAL_FINDINGS, Lobe, Nodule, PatientTruth, ScanTruth
from rad3d_hf.demo.phantoms import PACEMAKER_MM

Row = list[str]
TableKey = tuple[str, str, str]  # (split, task folder, subtask file stem)

HISTORY_NOTE = "(Note: 0 indicates absence, and 1 indicates presence.)"

_EXISTENCE_QUESTIONS = (
    "Is {f} seen on this chest CT?",
    "Does this chest CT volume show {f}?",
    "Can {f} be identified in this scan?",
    "Is there {f} in this CT examination?",
    "Do the CT images contain signs of {f}?",
    "Would {f} be reported for this CT volume?",
)
_STATIC_TEMPORAL_QUESTIONS = (
    "Compared with the patient's earlier scans, how should the {f} on this CT be categorised?",
    "Which temporal category fits the {f} on the current chest CT?",
    "How does the {f} on this CT relate to the patient's previous examinations?",
    "What is the course of the {f} as judged on the current CT volume?",
)
_HISTORY_LEADS = (
    "Labels of {f} on the earlier scans: {h}.",
    "Earlier readings for {f}: {h}.",
    "Record of {f} before this scan: {h}.",
    "Prior examinations scored {f} as {h}.",
)
_HISTORY_LINKS = (
    "The record runs from the oldest scan to the latest.",
    "Read the current CT together with this record.",
    "Combine the record with the current image.",
)
_HISTORY_QUESTIONS = (
    "Which category describes {f} on the current CT?",
    "How should {f} be classified now?",
    "What is the temporal status of {f} on this scan?",
)


def temporal_category(history: Sequence[bool], present: bool) -> int:
    """Index into ``TEMPORAL_OPTIONS``: refractory, resolved, new, or never present."""
    return OPTION_LETTERS.index(temporal_letter(present, any(history)))


def format_history(history: Sequence[bool]) -> str:
    """Earlier labels as the published questions print them: ``[0, 1]``."""
    return "[" + ", ".join(str(int(v)) for v in history) + "]"


def _open_row(task: TaskInfo, sub: Subtask, split: str, stem: str, question: str, answer: str) -> Row:
    return [str(task.source_task), str(sub.source_index[split]), f"{stem}.nii.gz", question, answer, "Open"] + [
        EMPTY_FIELD
    ] * 5


def _closed_row(
    task: TaskInfo, sub: Subtask, split: str, stem: str, question: str, options: Sequence[str], answer: int
) -> Row:
    choices = list(options) + [EMPTY_FIELD] * (len(OPTION_LETTERS) - len(options))
    return [
        str(task.source_task),
        str(sub.source_index[split]),
        f"{stem}.nii.gz",
        question,
        options[answer],
        "Close",
        OPTION_LETTERS[answer],
        *choices,
    ]


def _rnd(seed: int, *parts: object) -> random.Random:
    # str seeds hash with SHA-512 inside random, so choices do not depend on PYTHONHASHSEED
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _lung_nodules(scan: ScanTruth) -> list[tuple[str, Nodule]]:
    """(how questions name it, nodule): the largest nodule of each lobe, largest first."""
    by_lobe: dict[Lobe, Nodule] = {}
    for n in sorted(scan.nodules, key=lambda n: (-n.long_mm, -n.short_mm, n.track)):
        by_lobe.setdefault(n.lobe, n)
    counts = {lobe: sum(n.lobe == lobe for n in scan.nodules) for lobe in by_lobe}
    return [
        (("the largest nodule" if counts[lobe] > 1 else "the nodule") + f" in the {lobe.phrase}", n)
        for lobe, n in by_lobe.items()
    ]


def _anomaly_items(patient: PatientTruth, scan: ScanTruth) -> dict[str, list[tuple[str, str]]]:
    """Paper Task 1 (Anomaly Detection) questions about what the phantom shows, per subtask file."""
    items: dict[str, list[tuple[str, str]]] = {
        "Abnormality_feature": [],
        "Abnormality_position": [],
        "Abnormality_type": [],
        "Diagnosis": [],
    }
    nodules = _lung_nodules(scan)
    for name, n in nodules:
        shape = "Round." if n.is_round else "Oval."
        items["Abnormality_feature"].append((f"What is the shape of {name}?", shape))
        items["Abnormality_type"].append((f"What type of lesion is present in the {n.lobe.phrase}?", "Solid nodule."))
        items["Diagnosis"].append(
            (f"What is the most likely diagnosis for the focal opacity in the {n.lobe.phrase}?", "Pulmonary nodule.")
        )
    if nodules:
        question = "Where is the nodule located?"
        if len(scan.nodules) > 1:
            question = "Where is the largest nodule located?"
        items["Abnormality_position"].append((question, nodules[0][1].lobe.answer))
    effusion = scan.pleural_effusion
    if effusion is not None:
        items["Abnormality_feature"].append(
            (f"What is the density of the collection in the {effusion.side} pleural space?", "Fluid density.")
        )
        side = effusion.side.capitalize()
        items["Abnormality_position"].append(("Which side shows pleural effusion?", f"{side} side."))
        items["Abnormality_type"].append(
            (f"What abnormality occupies the dependent {effusion.side} pleural space?", "Pleural effusion.")
        )
    if scan.consolidation is not None:
        lobe = scan.consolidation.lobe
        items["Abnormality_position"].append(("Where is the consolidation located?", lobe.answer))
        items["Abnormality_feature"].append((f"What density fills part of the {lobe.phrase}?", "Consolidation."))
        items["Diagnosis"].append(
            (f"What is the most likely diagnosis for the dense area in the {lobe.phrase}?", "Pneumonic consolidation.")
        )
    if scan.has("Emphysema"):
        items["Abnormality_feature"].append(
            ("What pattern is seen in the upper zones of both lungs?", "Low attenuation areas.")
        )
        items["Diagnosis"].append(("What explains the low attenuation of the upper lung zones?", "Emphysema."))
    if scan.has("Cardiomegaly"):
        items["Abnormality_type"].append(("What abnormality of the heart is seen?", "Cardiomegaly."))
        items["Diagnosis"].append(("What condition affects the heart size?", "Cardiomegaly."))
    if scan.pericardial_effusion_mm is not None:
        items["Abnormality_type"].append(("What type of collection surrounds the heart?", "Pericardial effusion."))
    if scan.has("Medical material"):
        items["Abnormality_position"].append(("Where is the medical device located?", "Left anterior chest wall."))
        items["Abnormality_type"].append(
            ("What type of object lies in the left anterior chest wall?", "Cardiac pacemaker generator.")
        )
    if scan.has("Arterial wall calcification"):
        items["Abnormality_position"].append(("Where are the arterial wall calcifications seen?", "Descending aorta."))
    if scan.has("Coronary artery wall calcification"):
        items["Abnormality_feature"].append(
            ("What is the density of the foci along the anterior heart surface?", "Calcific density.")
        )
    if not (nodules or effusion or scan.consolidation or scan.has("Emphysema")):
        items["Diagnosis"].append(("Which abnormality is seen in the lung parenchyma?", "No abnormality."))
    return items


def _observation_items(patient: PatientTruth, scan: ScanTruth) -> dict[str, list[tuple[str, str]]]:
    """Paper Task 2 (Image Observation) questions: normal anatomy and where pathology sits."""
    anatomical = [
        ("On which side of the midline does the heart lie?", "Left side."),
        ("Which structure lies in the posterior midline of the chest?", "Vertebral column."),
        ("Where does the descending aorta run?", "Left anterior to the spine."),
        ("What is the state of the trachea?", "Patent and air-filled."),
    ]
    if scan.has("Medical material"):
        anatomical.append(("Which device lies in the left anterior chest wall?", "Cardiac pacemaker generator."))
    pathological: list[tuple[str, str]] = []
    nodules = _lung_nodules(scan)
    if nodules:
        which = "the nodule" if len(scan.nodules) == 1 else "the largest nodule"
        question = f"Which lung contains {which}?"
        pathological.append((question, f"{nodules[0][1].lobe.side.capitalize()} lung."))
    if scan.pleural_effusion is not None:
        side = scan.pleural_effusion.side.capitalize()
        pathological.append(("Where is pleural fluid observed?", f"{side} pleural space."))
    if scan.has("Emphysema"):
        pathological.append(("Where are the low attenuation areas located?", "Upper zones of both lungs."))
    if scan.pericardial_effusion_mm is not None:
        pathological.append(("Where is the fluid around the heart located?", "Pericardial space."))
    if scan.has("Cardiomegaly"):
        pathological.append(("How does the heart size appear?", "Enlarged."))
    if not pathological:
        pathological.append(("Is a pathological finding seen in the chest?", "No pathological finding."))
    return {"Anatomical_observation": anatomical, "Pathological_observation": pathological}


def _computation_items(patient: PatientTruth, scan: ScanTruth) -> dict[str, list[tuple[str, str]]]:
    """Task 3 (Medical Computation): the sizes the phantom was drawn with, in millimetres."""
    items: dict[str, list[tuple[str, str]]] = {"Diameter": [], "Size": [], "Thickness": []}
    for name, n in _lung_nodules(scan):
        if n.is_round:
            items["Diameter"].append((f"What is the diameter of {name}?", f"{n.long_mm} mm"))
        else:
            items["Size"].append((f"What is the size of {name}?", f"{n.long_mm}x{n.short_mm} mm"))
    items["Diameter"].append(("What is the diameter of the descending aorta?", f"{patient.aorta_diameter_mm} mm"))
    width, depth = scan.heart_axial_mm(patient.anatomy)
    items["Size"].append(("What is the axial size of the heart?", f"{width}x{depth} mm"))
    if scan.has("Medical material"):
        items["Size"].append(("What is the size of the device in the left anterior chest wall?", _DEVICE_SIZE))
    if scan.pleural_effusion is not None:
        e = scan.pleural_effusion
        items["Thickness"].append(
            (
                f"What is the thickness of the {e.side} pleural effusion at its thickest point?",
                f"{round(e.thickness_mm)} mm",
            )
        )
    if scan.pericardial_effusion_mm is not None:
        thickness = f"{scan.pericardial_effusion_mm} mm"
        items["Thickness"].append(("What is the thickness of the pericardial effusion?", thickness))
    items["Thickness"].append(
        (
            "What is the thickness of the subcutaneous fat of the chest wall?",
            f"{round(patient.anatomy.fat_mm)} mm",
        )
    )
    return items


_DEVICE_SIZE = f"{PACEMAKER_MM[0]}x{PACEMAKER_MM[1]} mm"
_OPEN_ITEMS = {1: _anomaly_items, 2: _observation_items, 3: _computation_items}
# At most this many questions per volume and open subtask file, drawn in a seeded order.
_MAX_OPEN_PER_FILE = 2


def build_tables(cohort: dict[str, list[PatientTruth]], seed: int) -> dict[TableKey, list[Row]]:
    """Every source file of every split (``(split, folder, subtask)``) and its data rows, in file order."""
    tables: dict[TableKey, list[Row]] = {}
    for split in SPLITS:
        for task in TASKS.values():
            for sub in task.subtasks_in(split):
                tables[(split, task.folder, sub.name)] = []
        for patient in cohort.get(split, []):
            _add_patient(tables, split, patient, seed)
    return tables


def _add_patient(tables: dict[TableKey, list[Row]], split: str, patient: PatientTruth, seed: int) -> None:
    if patient.temporal_cohort:
        # one anatomy question per scan: every scan is then named in the split's tables, as earlier scans must be
        task, sub = TASKS[2], TASKS[2].subtask("Anatomical_observation")
        for scan, _reconstruction, stem in patient.volumes():
            rnd = _rnd(seed, split, patient.patient_id, scan.letter, "anatomy")
            question, answer = rnd.choice(_observation_items(patient, scan)["Anatomical_observation"])
            tables[(split, task.folder, sub.name)].append(_open_row(task, sub, split, stem, question, answer))
    else:
        _add_static_tasks(tables, split, patient, seed)
    _add_temporal_tasks(tables, split, patient, seed)


def _add_static_tasks(tables: dict[TableKey, list[Row]], split: str, patient: PatientTruth, seed: int) -> None:
    # screening patients are asked Task 4 only; the others Tasks 1-3 too
    for task_number, items_for in () if patient.screening else _OPEN_ITEMS.items():
        task = TASKS[task_number]
        for scan, _reconstruction, stem in patient.volumes():
            per_file = items_for(patient, scan)
            for sub in task.subtasks_in(split):
                items = per_file.get(sub.name, [])
                # keyed by scan, not reconstruction: both reconstructions of a scan get the same questions
                rnd = _rnd(seed, split, patient.patient_id, scan.letter, task.folder, sub.name)
                chosen = sorted(rnd.sample(range(len(items)), min(_MAX_OPEN_PER_FILE, len(items))))
                for i in chosen:
                    question, answer = items[i]
                    tables[(split, task.folder, sub.name)].append(_open_row(task, sub, split, stem, question, answer))

    existence = TASKS[4]
    for scan, _reconstruction, stem in patient.volumes():
        for finding in FINDINGS:
            sub = existence.subtask(finding)
            rnd = _rnd(seed, split, patient.patient_id, scan.letter, "existence", finding)
            question = rnd.choice(_EXISTENCE_QUESTIONS).format(f=finding.lower())
            answer_index = 0 if scan.has(finding) else 1
            tables[(split, existence.folder, sub.name)].append(
                _closed_row(existence, sub, split, stem, question, EXISTENCE_OPTIONS, answer_index)
            )


def _add_temporal_tasks(tables: dict[TableKey, list[Row]], split: str, patient: PatientTruth, seed: int) -> None:
    static, longitudinal = TASKS[5], TASKS[6]
    letters_here = {s.name for s in static.subtasks_in(split)}
    for index, scan in enumerate(patient.scans):
        # the published temporal tables ask about reconstruction 1 of every later scan with a file in the split
        if index == 0 or scan.letter not in letters_here:
            continue
        stem = patient.volume_stem(scan.letter, 1)
        rnd = _rnd(seed, split, patient.patient_id, scan.letter, "temporal")
        order = list(TEMPORAL_FINDINGS)
        rnd.shuffle(order)
        for finding in order:
            history = [earlier.has(finding) for earlier in patient.scans[:index]]
            category = temporal_category(history, scan.has(finding))
            f = finding.lower()
            q5 = rnd.choice(_STATIC_TEMPORAL_QUESTIONS).format(f=f)
            lead = rnd.choice(_HISTORY_LEADS).format(f=f, h=format_history(history))
            q6 = f"{lead} {HISTORY_NOTE} {rnd.choice(_HISTORY_LINKS)} {rnd.choice(_HISTORY_QUESTIONS).format(f=f)}"
            for task, question in ((static, q5), (longitudinal, q6)):
                sub = task.subtask(scan.letter)
                tables[(split, task.folder, sub.name)].append(
                    _closed_row(task, sub, split, stem, question, TEMPORAL_OPTIONS, category)
                )


def write_tables(root: str | os.PathLike[str], tables: dict[TableKey, list[Row]]) -> list[str]:
    """Write ``<root>/<split>/<folder>/<subtask>.csv`` for every table; the relative paths written."""
    written = []
    for (split, folder, name), rows in tables.items():
        path = Path(root, split, folder, f"{name}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(rows)
        written.append(path.relative_to(root).as_posix())
    return written
