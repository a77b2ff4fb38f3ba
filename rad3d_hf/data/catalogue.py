"""The 3D-RAD task catalogue: the single source of truth for tasks, subtasks, numbering and answer options.

Numbering follows the paper: task 1 is Anomaly Detection and task 2 Image Observation. The published CSV folders and
their ``Task`` column number these two the other way round; ``TaskInfo.source_task`` and ``TaskInfo.folder`` keep the
source numbering so every row can be traced back to the file it came from.

Subtasks are named as the source files are (file stem: ``"Lung nodule"``, ``"Diameter"``, ``"b"``). The ``Subtask``
column of the CSVs is a 1-based index into the split's sorted file list, so it differs between splits for Tasks 5/6
(``c`` is 2 in test and 1 in train); ``Subtask.source_index`` records it per split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

QuestionType = Literal["open", "closed"]
Split = Literal["train", "test"]

CITATION = """\
@inproceedings{gai2025threedrad,
  title     = {3D-RAD: A Comprehensive 3D Radiology Med-VQA Dataset with Multi-Temporal Analysis and Diverse Diagnostic Tasks},
  author    = {Gai, Xiaotang and Liu, Jiaxiang and Li, Yichen and Meng, Zijie and Wu, Jian and Liu, Zuozhu},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS), Datasets and Benchmarks Track},
  year      = {2025},
  eprint    = {2506.11147},
  archivePrefix = {arXiv}
}
"""

SPLITS: tuple[str, ...] = ("train", "test")
CSV_HEADER: tuple[str, ...] = (
    "Task",
    "Subtask",
    "VolumeName",
    "Question",
    "Answer",
    "QuestionType",
    "AnswerChoice",
    "Choice A",
    "Choice B",
    "Choice C",
    "Choice D",
)
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
SOURCE_QUESTION_TYPES: dict[str, QuestionType] = {"Open": "open", "Close": "closed"}
EMPTY_FIELD = "-"

EXISTENCE_OPTIONS: tuple[str, ...] = ("Yes", "No")
TEMPORAL_OPTIONS: tuple[str, ...] = (
    "Refractory Lesion (Persistent or recurrent, now present)",
    "Resolved Lesion (Previously present or recurrent, now absent)",
    "New Lesion (Absent previously, now present)",
    "No Abnormality (Always absent)",
)
# What each temporal option says of the finding: present on the current scan (refractory, new), and present on an
# earlier scan (refractory, resolved). The current scan alone decides only the first.
TEMPORAL_PRESENT_NOW: frozenset[str] = frozenset("AC")
TEMPORAL_PRESENT_BEFORE: frozenset[str] = frozenset("AB")
TEMPORAL_TASKS: tuple[int, ...] = (5, 6)


def temporal_letter(now: bool, before: bool) -> str:
    """The temporal option whose two facts are (present ``now``, present ``before``): A, B, C or D."""
    (letter,) = [
        L for L in OPTION_LETTERS if (L in TEMPORAL_PRESENT_NOW) == now and (L in TEMPORAL_PRESENT_BEFORE) == before
    ]
    return letter


# The 18 CT-RATE abnormality labels, in CT-RATE's label-file column order.
FINDINGS: tuple[str, ...] = (
    "Medical material",
    "Arterial wall calcification",
    "Cardiomegaly",
    "Pericardial effusion",
    "Coronary artery wall calcification",
    "Hiatal hernia",
    "Lymphadenopathy",
    "Emphysema",
    "Atelectasis",
    "Lung nodule",
    "Lung opacity",
    "Pulmonary fibrotic sequela",
    "Pleural effusion",
    "Mosaic attenuation pattern",
    "Peribronchial thickening",
    "Consolidation",
    "Bronchiectasis",
    "Interlobular septal thickening",
)


def named_finding(question: str, findings: Sequence[str] = FINDINGS) -> str | None:
    """The finding ``question`` names: the longest of ``findings`` it contains (case-insensitive), else None."""
    text = question.lower()
    named = [f for f in findings if f.lower() in text]
    return max(named, key=len) if named else None


@dataclass(frozen=True)
class Subtask:
    """One subtask: one source CSV file per split it appears in."""

    name: str
    source_index: dict[str, int] = field(hash=False, compare=False)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self.source_index)

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def slug(self) -> str:
        """Lower-case identifier used in config names, e.g. ``lung_nodule``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


@dataclass(frozen=True)
class TaskInfo:
    """One of the six 3D-RAD tasks, numbered as in the paper."""

    number: int
    name: str
    source_task: int
    folder: str
    question_type: QuestionType
    options: tuple[str, ...]
    subtasks: tuple[Subtask, ...]

    @property
    def config_name(self) -> str:
        return f"task{self.number}"

    @property
    def is_open(self) -> bool:
        return self.question_type == "open"

    def subtasks_in(self, split: str) -> tuple[Subtask, ...]:
        """Subtasks with a source file in ``split``, in source-index order."""
        present = [s for s in self.subtasks if split in s.source_index]
        return tuple(sorted(present, key=lambda s: s.source_index[split]))

    def subtask(self, name: str) -> Subtask:
        for sub in self.subtasks:
            if sub.name == name:
                return sub
        known = ", ".join(repr(s.name) for s in self.subtasks)
        raise KeyError(f"task{self.number} ({self.name}) has no subtask {name!r}; known: {known}")


def _indexed(names: tuple[str, ...], splits: tuple[str, ...] = SPLITS) -> tuple[Subtask, ...]:
    return tuple(Subtask(n, {s: i + 1 for s in splits}) for i, n in enumerate(names))


def _temporal_subtasks() -> tuple[Subtask, ...]:
    test_letters = "bcdefgh"
    train_letters = ("c", "d", "e", "f", "g", "h", "i", "j", "k", "n", "o", "q")
    letters = sorted(set(test_letters) | set(train_letters))
    subtasks = []
    for letter in letters:
        index = {}
        if letter in train_letters:
            index["train"] = train_letters.index(letter) + 1
        if letter in test_letters:
            index["test"] = test_letters.index(letter) + 1
        subtasks.append(Subtask(letter, index))
    return tuple(subtasks)


_EXISTENCE_FILES = tuple(sorted(FINDINGS))

TASKS: dict[int, TaskInfo] = {
    1: TaskInfo(
        1,
        "Anomaly Detection",
        2,
        "Task2_Anomaly_Detection",
        "open",
        (),
        _indexed(("Abnormality_feature", "Abnormality_position", "Abnormality_type", "Diagnosis")),
    ),
    2: TaskInfo(
        2,
        "Image Observation",
        1,
        "Task1_Image_Observation",
        "open",
        (),
        _indexed(("Anatomical_observation", "Pathological_observation")),
    ),
    3: TaskInfo(
        3,
        "Medical Computation",
        3,
        "Task3_Medical_Computation",
        "open",
        (),
        _indexed(("Diameter", "Size", "Thickness")),
    ),
    4: TaskInfo(
        4,
        "Existence Detection",
        4,
        "Task4_Existence_Detection",
        "closed",
        EXISTENCE_OPTIONS,
        _indexed(_EXISTENCE_FILES),
    ),
    5: TaskInfo(
        5,
        "Static Temporal Diagnosis",
        5,
        "Task5_Static_Temporal_Diagnosis",
        "closed",
        TEMPORAL_OPTIONS,
        _temporal_subtasks(),
    ),
    6: TaskInfo(
        6,
        "Longitudinal Temporal Diagnosis",
        6,
        "Task6_Longitudinal_Temporal_Diagnosis",
        "closed",
        TEMPORAL_OPTIONS,
        _temporal_subtasks(),
    ),
}

TASK_BY_SOURCE: dict[int, TaskInfo] = {t.source_task: t for t in TASKS.values()}
TASK_BY_FOLDER: dict[str, TaskInfo] = {t.folder: t for t in TASKS.values()}
ALL_CONFIG = "all"


def get_task(number: int) -> TaskInfo:
    """The task with paper number ``number`` (1-6)."""
    try:
        return TASKS[int(number)]
    except (KeyError, ValueError):
        raise KeyError(f"no 3D-RAD task {number!r}; tasks are numbered 1-6 as in the paper") from None


def subtask_config_name(task: TaskInfo, subtask: Subtask) -> str:
    """Config name of a single subtask, e.g. ``task4_lung_nodule`` or ``task6_b``."""
    return f"{task.config_name}_{subtask.slug}"


@dataclass(frozen=True)
class ConfigSpec:
    """What one dataset configuration selects: (task, subtask) pairs and the splits it offers."""

    name: str
    description: str
    selection: tuple[tuple[int, str], ...]

    def files(self, split: str) -> tuple[tuple[TaskInfo, Subtask], ...]:
        """The (task, subtask) source files this config reads in ``split``, in a fixed order."""
        out = []
        for number, sub_name in self.selection:
            task = TASKS[number]
            sub = task.subtask(sub_name)
            if split in sub.source_index:
                out.append((task, sub))
        return tuple(out)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if self.files(s))


def _config_specs() -> dict[str, ConfigSpec]:
    specs: dict[str, ConfigSpec] = {}
    everything: list[tuple[int, str]] = []
    for task in TASKS.values():
        selection = tuple((task.number, s.name) for s in task.subtasks)
        everything.extend(selection)
        specs[task.config_name] = ConfigSpec(
            task.config_name, f"Task {task.number}: {task.name} (source folder {task.folder})", selection
        )
    specs[ALL_CONFIG] = ConfigSpec(ALL_CONFIG, "All six tasks", tuple(everything))
    for task in TASKS.values():
        for sub in task.subtasks:
            name = subtask_config_name(task, sub)
            specs[name] = ConfigSpec(
                name, f"Task {task.number} ({task.name}), subtask {sub.name!r}", ((task.number, sub.name),)
            )
    return specs


CONFIGS: dict[str, ConfigSpec] = _config_specs()


def get_config(name: str) -> ConfigSpec:
    """The configuration called ``name`` (``task1``..``task6``, ``all``, or a subtask config)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown 3D-RAD config {name!r}; known: {', '.join(CONFIGS)}") from None
