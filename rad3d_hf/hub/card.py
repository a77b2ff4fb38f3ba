"""The 3D-RAD dataset card (``README.md`` of the Hub folder), generated from the exported rows.

Every number in the card (counts per config and split, volumes, duplicated rows, blind baselines) is computed from the
rows by :func:`summarize_source` and :func:`blind_baselines`; nothing is typed in. The YAML front matter declares the
configs (``configs:``, what datasets 4+ reads instead of a loading script) and their features and split sizes
(``dataset_info:``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import datasets
import yaml

from rad3d_hf.data.catalogue import ALL_CONFIG, CITATION, CONFIGS, OPTION_LETTERS, SPLITS, TASKS, get_config
from rad3d_hf.hub.source_summary import SourceSummary, blind_baselines
from rad3d_hf.scoring import published

CTRATE_REPO = "ibrahimhamamci/CT-RATE"
SOURCE_REPO = "https://github.com/Tang-xiaoxiao/3D-RAD"
SOURCE_HUB = "Tang-xiaoxiao/3D-RAD"
# The prose of the card that no count enters: how the rad3d-hf package loads the dataset and its CT volumes.
PACKAGE_SECTIONS = "card_sections.md"


@dataclass
class CardLayout:
    """How the folder is laid out: the data files of each config and split, the features, and volume facts."""

    data_files: dict[str, dict[str, list[str]]]
    features: datasets.Features
    metadata_filenames: dict[str, list[str]] | None = None
    volumes_embedded: bool | None = None
    volume_bytes: int | None = None
    volume_files: int | None = None
    volume_bytes_per_question: int | None = None
    skipped_questions: int = 0
    demo_seed: int | None = None


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _split_order(splits: Iterable[str]) -> list[str]:
    return [s for s in SPLITS if s in set(splits)]


def _chosen(summaries: list[SourceSummary], config: str, split: str) -> list[SourceSummary]:
    pairs = {(t.number, s.name) for t, s in get_config(config).files(split)}
    return [s for s in summaries if s.split == split and (s.task, s.subtask) in pairs]


def _counts(summaries: list[SourceSummary], config: str, split: str) -> tuple[int, int]:
    chosen = _chosen(summaries, config, split)
    return sum(s.questions for s in chosen), len(set().union(*(s.volumes for s in chosen))) if chosen else 0


def card_metadata(summaries: list[SourceSummary], layout: CardLayout) -> dict[str, Any]:
    """The card's YAML front matter as a dict: configs with their data files, and split sizes."""
    configs, infos = [], []
    for config, files in layout.data_files.items():
        entry: dict[str, Any] = {"config_name": config}
        if config == ALL_CONFIG:
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": files[s]} for s in _split_order(files)]
        if layout.metadata_filenames is not None:
            entry["metadata_filenames"] = layout.metadata_filenames[config]
        configs.append(entry)
        splits = [
            {
                "name": s,
                "num_bytes": sum(x.arrow_bytes for x in _chosen(summaries, config, s)),
                "num_examples": _counts(summaries, config, s)[0],
            }
            for s in _split_order(files)
        ]
        # Features are left to the data files' schemas: 60 copies of them here would make every load parse a YAML
        # block several times the size of the card (pure-Python YAML, seconds per load_dataset call).
        infos.append({"config_name": config, "splits": splits})
    total = sum(s.questions for s in summaries)
    return {
        "pretty_name": "3D-RAD",
        "license": ["mit", "cc-by-nc-sa-4.0"] if "volume" in layout.features else "mit",
        "language": ["en"],
        "task_categories": ["visual-question-answering"],
        "tags": ["medical", "radiology", "chest-ct", "3d", "nifti", "ct-rate"],
        "size_categories": [_size_category(total)],
        "configs": configs,
        "dataset_info": infos,
    }


def _num(n: int) -> str:
    return f"{n:,}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _feature_type(feature: Any) -> str:
    if isinstance(feature, datasets.List):
        return f"list[{_feature_type(feature.feature)}]"
    if isinstance(feature, datasets.Nifti):
        return "Nifti (lazy nibabel image)"
    if isinstance(feature, datasets.Value):
        return {"string": "str", "int32": "int32"}.get(feature.dtype, feature.dtype)
    return type(feature).__name__


_COLUMN_DOCS = {
    "id": "stable question id: `split/task{paper number}/subtask slug/row index in its source file` (6 digits)",
    "task": "task number as in the paper (1-6)",
    "task_name": "task name as in the paper",
    "subtask": "source file stem (`Lung nodule`, `Diameter`, `b`)",
    "source_task": "the task number of the published CSV folder and `Task` column (tasks 1 and 2 swapped)",
    "question": "question text",
    "answer": "reference answer text",
    "question_type": '`"open"` (tasks 1-3) or `"closed"` (tasks 4-6)',
    "choices": "answer options, `[]` for open questions",
    "answer_choice": 'letter of the correct option (`"A"`..`"D"`), `""` for open questions',
    "volume_name": "CT volume stem, e.g. `test_1005_b_1` (CT-RATE `valid_1005_b_1`)",
    "patient_id": "patient number from the volume name",
    "scan": "scan letter (`a` first scan, `b` second, ...)",
    "reconstruction": "reconstruction number from the volume name",
    "history": "task 6: the earlier labels of the finding quoted in the question, oldest first; `[]` otherwise",
    "prior_volume_names": "earlier scans of the same patient present in the split, oldest first",
    "volume": "the CT volume, decoded lazily (voxels are read on first access to `dataobj`)",
}


def _tasks_section(summaries: list[SourceSummary], splits: list[str]) -> list[str]:
    head = (
        "| paper task | name | source folder (`Task` column) | type | options | subtasks "
        + " ".join(f"| {s} questions | {s} volumes" for s in splits)
        + " |"
    )
    lines = [head, "|" + "---|" * (6 + 2 * len(splits))]
    for task in TASKS.values():
        subs = " / ".join(str(len(task.subtasks_in(s))) for s in splits)
        options = ", ".join(f"{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(task.options)) or "-"
        folder = f"`{task.folder}` ({task.source_task})"
        cells = [f"{task.number}", task.name, folder, task.question_type, options, subs]
        for split in splits:
            q, v = _counts(summaries, task.config_name, split)
            cells += [_num(q), _num(v)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _counts_section(summaries: list[SourceSummary], layout: CardLayout, splits: list[str]) -> list[str]:
    lines = ["| config | selects " + " ".join(f"| {s} questions | {s} volumes" for s in splits) + " |"]
    lines.append("|" + "---|" * (2 + 2 * len(splits)))
    for config, files in layout.data_files.items():
        cells = [f"`{config}`", CONFIGS[config].description]
        for split in splits:
            if split in files:
                q, v = _counts(summaries, config, split)
                cells += [_num(q), _num(v)]
            else:
                cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _quirks(summaries: list[SourceSummary], splits: list[str]) -> list[str]:
    lines = [
        "- Task numbering: the paper's Task 1 is Anomaly Detection and Task 2 Image Observation; the published CSV "
        "folders (`Task1_Image_Observation`, `Task2_Anomaly_Detection`) and their `Task` column number them the other "
        "way round. `task` follows the paper, `source_task` keeps the source number.",
    ]
    for s in summaries:
        if s.duplicate_rows:
            folder = TASKS[s.task].folder
            lines.append(
                f"- {s.split} `{folder}/{s.subtask}.csv` holds {s.duplicate_rows} rows that repeat an earlier row "
                "(same volume, question and answer). They are kept, as published, with distinct ids."
            )
    for split in splits:
        q5, q6 = _counts(summaries, "task5", split)[0], _counts(summaries, "task6", split)[0]
        if q5 and q6:
            lines.append(
                f"- Tasks 5 and 6 ({split}: {_num(q5)} and {_num(q6)} questions) ask about the same findings with the "
                "same answers; Task 6 adds the earlier labels to the question text as `[0, 1]` (0 absent, 1 present, "
                "one entry per earlier scan), parsed into `history`. A rule reading only that list scores well "
                "(see the blind baselines)."
            )
    letters = {split: [s.name for s in TASKS[5].subtasks_in(split)] for split in splits}
    lines.append(
        "- Task 5/6 subtask files are named by the scan letter (`b` = the patient's second scan): "
        + "; ".join(f"{split}: {', '.join(v)}" for split, v in letters.items())
        + ". The CSVs' `Subtask` column is an index into each split's file list, so it differs between splits."
    )
    lines.append(
        "- Volume names: 3D-RAD's `test_*` volumes are CT-RATE's `valid_*` ones (`test_1005_b_1` is "
        "`valid_1005_b_1.nii.gz`); `train_*` names are the same in both."
    )
    lines.append(
        "- Task 4's labels come from CT-RATE's abnormality labels, which a text classifier predicted from the reports; "
        'most answers are "No" (see the always-"No" baseline).'
    )
    return lines


def _baselines_section(summaries: list[SourceSummary], splits: list[str]) -> list[str]:
    results = blind_baselines(summaries)
    lines = [
        "| task | baseline | split | accuracy, mean over subtask files | accuracy, pooled over questions | questions |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.split in splits:
            cells = [str(r.task), r.baseline, r.split, _pct(r.mean_over_subtasks), _pct(r.pooled), _num(r.questions)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _volumes_section(summaries: list[SourceSummary], layout: CardLayout, splits: list[str]) -> list[str]:
    per_split = {s: len(set().union(*(x.volumes for x in summaries if x.split == s))) for s in splits}
    questions = {s: sum(x.questions for x in summaries if x.split == s) for s in splits}
    usage = "; ".join(f"{s}: {_num(questions[s])} questions over {_num(per_split[s])} volumes" for s in splits)
    lines = [
        "The CT volumes come from [CT-RATE](https://huggingface.co/datasets/" + CTRATE_REPO + ") (CC-BY-NC-SA 4.0, "
        "gated: sign in on the Hub and accept its terms first). 3D-RAD's test split uses CT-RATE's validation volumes "
        "(`dataset/valid_fixed/`), its train split CT-RATE's train volumes (`dataset/train_fixed/`), the corrected "
        "release (int16, already in HU: do not apply the metadata's RescaleSlope/Intercept again).",
        "",
        "```bash",
        f"hf download {CTRATE_REPO} --repo-type dataset --include 'dataset/valid_fixed/*' --local-dir CT-RATE",
        "# train split: --include 'dataset/train_fixed/*'",
        "```",
        "",
        "Put them anywhere; volumes are found by file name, in CT-RATE's nested layout or flat. Then either load with "
        "the `rad3d-hf` package, or write a folder that plain `datasets` loads with a lazy `volume` column:",
        "",
        "```python",
        "import rad3d_hf",
        "from datasets import load_dataset",
        'ds = load_dataset("3d-rad", "task6", split="test", volumes_dir="CT-RATE/dataset")',
        "```",
        "",
        "```bash",
        "rad3d-hf export --out 3D-RAD-linked --volumes-dir CT-RATE/dataset                    # links to your copies",
        "rad3d-hf export --out 3D-RAD-embedded --volumes-dir CT-RATE/dataset --embed-volumes  # copies, to upload",
        "```",
        "",
        f"Size cost of embedding: each volume is stored once, however many questions ask about it ({usage}), in "
        "`data/<split>/volumes/<split>_<patient>/`; the questions of every config point at it by relative path. An "
        "embedded folder is therefore the QA shards plus the sum of the sizes of those volume files.",
    ]
    if layout.volume_bytes is not None:
        how = "copied into this folder" if layout.volumes_embedded else "linked from the source folder"
        lines += [
            "",
            f"This folder holds {_num(layout.volume_files or 0)} volume files ({how}), "
            f"{layout.volume_bytes / 1e6:,.1f} MB in all (sum of the file sizes); stored once per question instead, "
            f"the same volumes would take {(layout.volume_bytes_per_question or 0) / 1e6:,.1f} MB.",
        ]
    if layout.skipped_questions:
        skipped = _num(layout.skipped_questions)
        lines += ["", f"{skipped} questions whose volume was absent were left out of this export."]
    return lines


def _export_command(layout: CardLayout) -> str:
    if layout.demo_seed is not None:
        source = f"--demo --demo-seed {layout.demo_seed}" + ("" if "volume" in layout.features else " --qa-only")
    else:
        source = "--data-dir PATH/TO/3D-RAD" + (" --volumes-dir PATH/TO/CT-RATE" if "volume" in layout.features else "")
    embed = " --embed-volumes" if layout.volumes_embedded else ""
    return f"rad3d-hf export --out DIR {source}{embed}"


def render_card(summaries: list[SourceSummary], layout: CardLayout) -> str:
    """The complete ``README.md``: YAML front matter, then the card."""
    splits = _split_order({s for files in layout.data_files.values() for s in files})
    meta = yaml.safe_dump(card_metadata(summaries, layout), sort_keys=False, allow_unicode=True, width=1000)
    has_volumes = "volume" in layout.features
    totals = "; ".join(f"{s}: {_num(sum(x.questions for x in summaries if x.split == s))} questions" for s in splits)
    example_config = "task6" if "task6" in layout.data_files else next(iter(layout.data_files))
    example_splits = layout.data_files[example_config]
    example_split = "test" if "test" in example_splits else next(iter(example_splits))
    body = [
        "# 3D-RAD",
        "",
        "3D-RAD (NeurIPS 2025 Datasets and Benchmarks) is a visual question answering benchmark over 3D chest CT "
        f"volumes from CT-RATE, in six tasks. Source: [{SOURCE_REPO}]({SOURCE_REPO}) (QA tables also on the Hub as "
        f"`{SOURCE_HUB}`). This folder holds its question/answer rows as Parquet ({totals})"
        + (", with the CT volumes." if has_volumes else "; the CT volumes are not included (see *CT volumes*).")
        + " It loads with plain `datasets`, no loading script and no extra package:",
        *(
            [
                "",
                f"**These rows and volumes are the `rad3d-hf` synthetic demo data (seed {layout.demo_seed}): "
                "phantoms and generated questions in 3D-RAD's format, not the published benchmark.**",
            ]
            if layout.demo_seed is not None
            else []
        ),
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("path/to/this/folder", "{example_config}", split="{example_split}")  # or the Hub repo id',
        f'ds = load_dataset("path/to/this/folder", "{example_config}", split="{example_split}", streaming=True)',
        "```",
        "",
        "This folder holds no Python loading script: datasets 4 and later no longer run them. The YAML `configs:` "
        "block above declares each config's data files instead, and `dataset_info:` its split sizes (datasets checks "
        "them); the column types (`datasets.Features`) travel in the Parquet files' schema metadata.",
    ]
    if has_volumes:
        body += [
            "",
            "The `volume` column is a `datasets.Nifti` feature: each row gives a `nibabel` image whose `dataobj` is "
            'an array proxy, so voxels are read only when asked for (`np.asanyarray(row["volume"].dataobj)`).',
        ]
    body += [
        "",
        "## Tasks",
        "",
        "Task numbers follow the paper. The published CSV folders swap tasks 1 and 2; `source_task` keeps their "
        "number. Subtasks: the number of source files per split (" + " / ".join(splits) + ").",
        "",
        *_tasks_section(summaries, splits),
        "",
        "## Configs and counts",
        "",
        "`all` (the default), one config per task, and one per subtask (source file). Counts are computed from the "
        "rows of this folder.",
        "",
        *_counts_section(summaries, layout, splits),
        "",
        "## Row schema",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        *(f"| `{name}` | {_feature_type(f)} | {_COLUMN_DOCS.get(name, '')} |" for name, f in layout.features.items()),
        "",
        "## CT volumes",
        "",
        *_volumes_section(summaries, layout, splits),
        "",
        "## Known quirks of the published data",
        "",
        *_quirks(summaries, splits),
        "",
        "## Blind baselines",
        "",
        "Rules that never look at the image. Scores are accuracies on the closed tasks; the official scripts average "
        "each task over its subtask files.",
        "",
        *_baselines_section(summaries, splits),
        "",
        "## The paper's reported numbers beside the blind baselines",
        "",
        f"Percent, test split; the paper's values: {published.NOTE} ({published.SCORING_RULE}; {published.SOURCE}).",
        "",
        published.published_markdown(),
        "",
        resources.files("rad3d_hf.hub").joinpath(PACKAGE_SECTIONS).read_text(encoding="utf-8").rstrip("\n"),
        "",
        "## Licences",
        "",
        "- 3D-RAD question/answer tables: MIT.",
        f"- CT volumes: CT-RATE, CC-BY-NC-SA 4.0, gated on the Hub (`{CTRATE_REPO}`): non-commercial research use, "
        "attribution, share alike. Its abnormality labels were predicted from reports by a text classifier.",
        "- Nothing here is a medical device.",
        "",
        "## Reproducing this card",
        "",
        "Every count and score above is computed from the tables by the `rad3d-hf` package (`pip install rad3d-hf`):",
        "",
        "```bash",
        _export_command(layout) + "   # shards, this card, .gitattributes",
        "```",
        "",
        "```python",
        "from rad3d_hf.hub.export import card_for_tables",
        'print(card_for_tables("PATH/TO/3D-RAD"))  # this card (QA-only layout), written nowhere',
        "```",
        "",
        "`PATH/TO/3D-RAD` holds the published `train/` and `test/` folders; without `--data-dir` they are read from "
        f"the Hub dataset `{SOURCE_HUB}`.",
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION.rstrip(),
        "```",
        "",
    ]
    return "---\n" + meta + "---\n\n" + "\n".join(body)
