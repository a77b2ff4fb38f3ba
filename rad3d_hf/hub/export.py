"""Export 3D-RAD as a Hub-ready dataset folder that plain ``datasets`` loads without this package.

datasets 4+ no longer runs loading scripts, so the folder holds data files and a card (``README.md``) whose YAML
``configs:`` block declares every config (``all``, ``task1``..``task6``, one per subtask) and its splits. Two layouts:

QA only (no ``volumes_dir``): one Parquet shard per source table, ``data/<split>/task<N>/<subtask slug>.parquet``,
read by datasets' ``parquet`` module. A task config and ``all`` list the shards of their subtasks in catalogue order,
so every row is stored once however many configs show it. The datasets ``Features`` sit in each shard's schema
metadata, so ``List`` columns come back typed; the card's ``dataset_info`` holds the split sizes, which datasets checks.

With volumes: datasets' ``niftifolder`` module, which turns a metadata column ``volume_file_name`` (a path relative to
the metadata file) into a lazily decoded ``datasets.Nifti`` column named ``volume``. Each volume is placed once under
``data/<split>/volumes/<split>_<patient>/<stem>.nii.gz`` (a copy with ``embed_volumes=True``, else a symbolic link
to the file under ``volumes_dir``); each config and split has one metadata table ``data/<split>/<config>.parquet``
(the folder builder orders several metadata files of a split by set iteration, which changes between processes, so
one file per config and split is what keeps the row order of the package builder). The ``.nii.gz`` files are listed in
every config's data files: datasets infers the folder's module from the first config's files.

Every shard is written under a temporary name and renamed into place, and a manifest
(``.rad3d_export_manifest.jsonl``, one line per finished shard) lets an interrupted export restart where it stopped:
shards listed there with their recorded size are kept, anything else is written again under its fixed name, so a
restart neither duplicates nor loses a shard.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from rad3d_hf.data.builder import qa_features
from rad3d_hf.data.catalogue import ALL_CONFIG, CONFIGS, SPLITS, Subtask, TaskInfo, get_config, subtask_config_name
from rad3d_hf.data.rows import read_rows
from rad3d_hf.data.split_volumes import splits_with_volumes
from rad3d_hf.data.tables import DEFAULT_DATA_DIR, source_files, table_exists
from rad3d_hf.data.volume_names import parse_volume_name
from rad3d_hf.hub.card import CardLayout, render_card
from rad3d_hf.hub.layout import (
    GITATTRIBUTES,
    VOLUME_COLUMN,
    metadata_table_path,
    qa_data_files,
    qa_shard_path,
    volume_data_files,
    volume_relative_path,
    volume_suffix,
)
from rad3d_hf.hub.source_summary import SourceSummary, summarize_source
from rad3d_hf.hub.writing import (
    MANIFEST_NAME,
    ExportConflictError,
    ExportReport,
    Manifest,
    ShardWriter,
    check_no_strays,
    place_volume,
    remove_partials,
    write_parquet,
    write_text_atomic,
)
from rad3d_hf.volumes.locator import VolumeLocator

__all__ = [
    "GITATTRIBUTES",
    "MANIFEST_NAME",
    "ExportConflictError",
    "ExportReport",
    "card_for_tables",
    "export_dataset",
    "export_fingerprint",
]

logger = logging.getLogger(__name__)


def _absolute(path: str) -> str:
    """Local paths made absolute, so a restart from another folder is recognised as the same export."""
    return path if "://" in path else os.path.abspath(path)


def _ordered_configs(configs: Iterable[str] | None) -> tuple[str, ...]:
    """Config names in catalogue order with ``all`` first (the card's first config decides the module)."""
    wanted = set(CONFIGS) if configs is None else set(configs)
    for name in wanted:
        get_config(name)  # KeyError naming the unknown config and the known ones
    if not wanted:
        raise ValueError("no configs to export")
    ordered = [ALL_CONFIG] if ALL_CONFIG in wanted else []
    return tuple(ordered + [c for c in CONFIGS if c in wanted and c != ALL_CONFIG])


def _configs_with_rows(configs: tuple[str, ...], splits: tuple[str, ...], explicit: bool) -> tuple[str, ...]:
    """Drop configs with none of the exported splits (train-only subtasks in a test-only export); a config named
    explicitly that has nothing to export is an error."""
    empty = [c for c in configs if not set(get_config(c).splits) & set(splits)]
    if empty and explicit:
        raise ValueError(f"configs {', '.join(empty)} have no rows in the exported splits ({', '.join(splits)})")
    return tuple(c for c in configs if c not in empty)


def _present_splits(data_dir: str, configs: tuple[str, ...], splits: Iterable[str] | None) -> tuple[str, ...]:
    """Splits whose tables are present (like the builder: an evaluation-only copy holds ``test/`` alone)."""
    requested = tuple(SPLITS if splits is None else splits)
    for split in requested:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    present = []
    for split in requested:
        sources = _sources(data_dir, configs, split)
        if not sources:
            if splits is not None:
                raise ValueError(f"configs {', '.join(configs)} have no rows in the {split} split")
            continue
        exists = [table_exists(path) for _, _, path in sources]
        if not any(exists):
            if splits is not None:
                raise FileNotFoundError(f"no {split} tables under {data_dir} (e.g. {sources[0][2]})")
            logger.info("no %s tables under %s: the %s split is left out", split, data_dir, split)
            continue
        if not all(exists):
            missing = "\n  ".join(path for (_, _, path), ok in zip(sources, exists) if not ok)
            raise FileNotFoundError(f"split {split!r}: missing QA tables under {data_dir}:\n  {missing}")
        present.append(split)
    if not present:
        raise FileNotFoundError(f"no 3D-RAD tables under {data_dir} for configs {', '.join(configs)}")
    return tuple(present)


def _sources(data_dir: str, configs: tuple[str, ...], split: str) -> list[tuple[TaskInfo, Subtask, str]]:
    """The source tables the configs read in ``split``, each once, in catalogue order."""
    needed = {pair for c in configs for pair in ((t.number, s.name) for t, s in get_config(c).files(split))}
    return [
        (s.task, s.subtask, s.path)
        for s in source_files(data_dir, split, ALL_CONFIG)
        if (s.task.number, s.subtask.name) in needed
    ]


def _rows_table(rows: list[dict[str, Any]], features: datasets.Features) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=features.arrow_schema)


def export_dataset(
    out_dir: str | os.PathLike[str],
    *,
    data_dir: str | None = None,
    volumes_dir: str | None = None,
    embed_volumes: bool = False,
    configs: Iterable[str] | None = None,
    splits: Iterable[str] | None = None,
    missing_volumes: str = "error",
    demo: bool = False,
    demo_seed: int = 0,
    qa_only: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> ExportReport:
    """Write a Hub-ready 3D-RAD folder: Parquet shards, volumes (with ``volumes_dir``), card, ``.gitattributes``.

    Args:
        out_dir: the folder to write (created; an interrupted export into it resumes).
        data_dir: folder or fsspec URL with the ``train/`` and ``test/`` QA tables (default: the Hub dataset).
        volumes_dir: folder searched for the CT volumes by name; None exports QA rows only.
        embed_volumes: copy each volume into the folder once (what a Hub upload needs); else link to it.
        configs: config names to export (default: all of them); ``all`` and the task configs reuse subtask shards.
        splits: splits to export (default: those whose tables are present).
        missing_volumes: ``"error"`` stops at the first question whose volume is absent, naming it; ``"skip"``
            leaves such questions out and counts them in the report.
        demo: export the built-in synthetic demo source (its tables and phantom volumes).
        demo_seed: seed of the demo source.
        qa_only: leave the volumes out even where ``demo`` brings its own.
        overwrite: delete a previous export's data, card and manifest in ``out_dir`` first.
        progress: show tqdm progress bars.
    """
    started = time.perf_counter()
    if missing_volumes not in ("error", "skip"):
        raise ValueError(f"missing_volumes={missing_volumes!r}; expected 'error' or 'skip'")
    if demo:
        from rad3d_hf.demo import ensure_demo_data

        root = Path(ensure_demo_data(seed=demo_seed))
        data_dir = data_dir or str(root)
        volumes_dir = volumes_dir or str(root / "volumes")
    if qa_only:
        if embed_volumes:
            raise ValueError("qa_only and embed_volumes exclude each other")
        volumes_dir = None
    if embed_volumes and volumes_dir is None:
        raise ValueError("embed_volumes needs volumes_dir (the folder holding the CT volumes)")
    data_dir = _absolute(str(data_dir or DEFAULT_DATA_DIR))
    volumes_dir = None if volumes_dir is None else _absolute(str(volumes_dir))
    config_names = _ordered_configs(configs)
    split_names = _present_splits(data_dir, config_names, splits)
    if volumes_dir is not None and splits is None:  # the builder's rule: a split none of whose volumes is there
        by_split = {split: source_files(data_dir, split, ALL_CONFIG) for split in split_names}
        split_names = splits_with_volumes(VolumeLocator(volumes_dir, "nifti"), by_split, "the export")
    config_names = _configs_with_rows(config_names, split_names, explicit=configs is not None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for path in (out / "data", out / MANIFEST_NAME):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    parameters = {
        "data_dir": data_dir,
        "volumes_dir": None if volumes_dir is None else str(volumes_dir),
        "embed_volumes": bool(embed_volumes),
        "configs": list(config_names),
        "splits": list(split_names),
        "missing_volumes": missing_volumes,
        "demo": bool(demo),
        "demo_seed": int(demo_seed),
    }
    manifest = Manifest(out, parameters)
    remove_partials(out)
    report = ExportReport(out, config_names, split_names, {}, {}, layout="qa" if volumes_dir is None else "volumes")
    writer = ShardWriter(out, manifest, report)
    if volumes_dir is None:
        summaries = [_export_qa_split(data_dir, split, config_names, writer, progress) for split in split_names]
        data_files = qa_data_files(config_names, split_names)
        final_features = qa_features()
    else:
        locator = VolumeLocator(str(volumes_dir), "nifti")
        suffixes: dict[str, set[str]] = {}
        summaries = []
        for split in split_names:
            split_summaries, suffixes[split] = _export_volume_split(
                data_dir, split, config_names, locator, writer, embed_volumes, missing_volumes, progress
            )
            summaries.append(split_summaries)
        data_files = volume_data_files(config_names, split_names, suffixes)
        final_features = datasets.Features({**qa_features(), "volume": datasets.Nifti()})
    report.summaries = [s for split_summaries in summaries for s in split_summaries]
    check_no_strays(out, writer.planned)
    with_volumes = volumes_dir is not None
    layout = CardLayout(
        data_files=data_files,
        features=final_features,
        metadata_filenames={c: [f"{c}.parquet"] for c in config_names} if with_volumes else None,
        volumes_embedded=bool(embed_volumes) if with_volumes else None,
        volume_bytes=report.volume_bytes if with_volumes else None,
        volume_files=sum(len(v) for v in _volumes_per_split(report.summaries).values()) if with_volumes else None,
        volume_bytes_per_question=report.volume_bytes_per_question if with_volumes else None,
        skipped_questions=report.skipped_questions,
        demo_seed=demo_seed if demo else None,
    )
    write_text_atomic(out / "README.md", render_card(report.summaries, layout))
    write_text_atomic(out / ".gitattributes", GITATTRIBUTES)
    manifest.mark_complete()
    for summary in report.summaries:
        report.questions[summary.split] = report.questions.get(summary.split, 0) + summary.questions
    report.volumes = {s: len(v) for s, v in _volumes_per_split(report.summaries).items()}
    report.seconds = time.perf_counter() - started
    return report


def _export_qa_split(
    data_dir: str, split: str, configs: tuple[str, ...], writer: ShardWriter, progress: bool
) -> list[SourceSummary]:
    """QA-only layout: one shard per source table of the split."""
    from tqdm.auto import tqdm

    features, summaries = qa_features(), []
    for task, subtask, _ in tqdm(_sources(data_dir, configs, split), desc=f"{split} tables", disable=not progress):
        rows = list(read_rows(data_dir, split, subtask_config_name(task, subtask)))
        summaries.append(summarize_source(split, task.number, subtask.name, rows))
        table = _rows_table(rows, features)
        writer.write(qa_shard_path(split, task, subtask), partial(_write_table, table))
    return summaries


def _export_volume_split(
    data_dir: str,
    split: str,
    configs: tuple[str, ...],
    locator: VolumeLocator,
    writer: ShardWriter,
    embed: bool,
    missing_volumes: str,
    progress: bool,
) -> tuple[list[SourceSummary], set[str]]:
    """Volumes layout: each volume of the split once, then one metadata table per config; returns the summaries and
    the volume file suffixes present."""
    from tqdm.auto import tqdm

    features = datasets.Features({**qa_features(), VOLUME_COLUMN: datasets.Value("string")})
    report, summaries = writer.report, []
    tables: dict[tuple[int, str], pa.Table] = {}
    volume_paths: dict[str, str] = {}
    for task, subtask, path in tqdm(_sources(data_dir, configs, split), desc=f"{split} tables", disable=not progress):
        rows = list(read_rows(data_dir, split, subtask_config_name(task, subtask)))
        rows = _attach_volumes(rows, locator, path, missing_volumes, volume_paths, report)
        summaries.append(summarize_source(split, task.number, subtask.name, rows))
        tables[(task.number, subtask.name)] = _rows_table(rows, features)
    if len(volume_paths) < 2:
        # datasets picks a folder's module by the most common extension of the first config's files, Parquet
        # winning a draw: with one volume the folder would load as plain Parquet, without the NIfTI column.
        raise ValueError(
            f"the {split} split has {len(volume_paths)} volume(s): datasets needs at least two to read the folder as "
            "NIfTI rather than plain Parquet; export more questions, or QA rows only"
        )
    uses = Counter(name for table in tables.values() for name in table.column("volume_name").to_pylist())
    for stem in tqdm(sorted(volume_paths), desc=f"{split} volumes", unit="volume", disable=not progress):
        source = volume_paths[stem]
        relpath = f"data/{split}/" + volume_relative_path(parse_volume_name(stem), volume_suffix(source))
        writer.write(relpath, partial(_place_volume, source, embed), volume=True)
        report.volume_bytes_per_question += uses[stem] * (writer.out_dir / relpath).stat().st_size
    for config in configs:
        spec = get_config(config)
        if split in spec.splits:
            table = pa.concat_tables([tables[(t.number, s.name)] for t, s in spec.files(split)])
            writer.write(metadata_table_path(split, config), partial(_write_table, table))
    return summaries, {volume_suffix(p) for p in volume_paths.values()}


def _write_table(table: pa.Table, path: Path) -> None:
    write_parquet(table, path)  # looked up when called, so a test can stand in for the writer


def _place_volume(source: str, embed: bool, path: Path) -> None:
    place_volume(source, path, embed)


def _volumes_per_split(summaries: Iterable[SourceSummary]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for summary in summaries:
        out.setdefault(summary.split, set()).update(summary.volumes)
    return out


def _attach_volumes(
    rows: list[dict[str, Any]],
    locator: VolumeLocator,
    table_path: str,
    missing_volumes: str,
    volume_paths: dict[str, str],
    report: ExportReport,
) -> list[dict[str, Any]]:
    kept = []
    for row in rows:
        stem = row["volume_name"]
        path = volume_paths.get(stem) or locator.locate(stem)
        if path is None:
            if missing_volumes == "skip":
                report.skipped_questions += 1
                continue
            raise FileNotFoundError(
                f"volume {stem} of question {row['id']} ({table_path}) not found; looked for "
                f"{locator.describe_search(stem)}. Pass missing_volumes='skip' (--missing-volumes skip) to leave "
                "such questions out."
            )
        volume_paths[stem] = path
        row[VOLUME_COLUMN] = volume_relative_path(parse_volume_name(stem), volume_suffix(path))
        kept.append(row)
    if len(kept) < len(rows):
        left_out = len(rows) - len(kept)
        logger.warning("left out %d of %d questions of %s: volume not found", left_out, len(rows), table_path)
    return kept


def export_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 over the data files of an export folder (relative path and bytes), to compare two exports."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in (root / "data").rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def card_for_tables(data_dir: str, configs: Iterable[str] | None = None) -> str:
    """The card a QA-only export of ``data_dir`` writes, computed without writing any shard."""
    config_names = _ordered_configs(configs)
    split_names = _present_splits(str(data_dir), config_names, None)
    config_names = _configs_with_rows(config_names, split_names, explicit=configs is not None)
    summaries = []
    for split in split_names:
        for task, subtask, _ in _sources(str(data_dir), config_names, split):
            rows = read_rows(str(data_dir), split, subtask_config_name(task, subtask))
            summaries.append(summarize_source(split, task.number, subtask.name, rows))
    layout = CardLayout(data_files=qa_data_files(config_names, split_names), features=qa_features())
    return render_card(summaries, layout)
