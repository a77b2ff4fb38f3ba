"""How the export writes: every shard under a temporary name then renamed, recorded in a resumable manifest."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from rad3d_hf.hub.source_summary import SourceSummary

MANIFEST_NAME = ".rad3d_export_manifest.jsonl"
PARTIAL_SUFFIX = ".partial"
MANIFEST_FORMAT = 1


class ExportConflictError(RuntimeError):
    """The output folder holds an export made with other parameters."""


@dataclass
class ExportReport:
    """What an export did: where, which configs and splits, how many shards it wrote or kept, and sizes."""

    out_dir: Path
    configs: tuple[str, ...]
    splits: tuple[str, ...]
    questions: dict[str, int]
    volumes: dict[str, int]
    shards_written: int = 0
    shards_kept: int = 0
    qa_bytes: int = 0
    volume_bytes: int = 0
    volume_bytes_per_question: int = 0
    skipped_questions: int = 0
    seconds: float = 0.0
    layout: str = "qa"
    summaries: list[SourceSummary] = field(default_factory=list, repr=False)


class Manifest:
    """Append-only record of finished shards; the first line holds the export's parameters."""

    def __init__(self, out_dir: Path, parameters: dict[str, Any]) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.parameters = parameters
        self.finished: dict[str, int] = {}
        if self.path.exists():
            self._load()
        else:
            self._append({"manifest": MANIFEST_FORMAT, "parameters": parameters})

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else {}
        if header.get("parameters") != self.parameters:
            theirs = header.get("parameters", {})
            differ = sorted(k for k in set(theirs) | set(self.parameters) if theirs.get(k) != self.parameters.get(k))
            raise ExportConflictError(
                f"{self.path.parent} holds an export made with other parameters ({', '.join(differ) or 'format'}); "
                "export into an empty folder or pass overwrite=True (--overwrite) to start again"
            )
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the interruption: that shard is written again
            if "shard" in entry:
                self.finished[entry["shard"]] = int(entry["bytes"])

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def is_done(self, out_dir: Path, relpath: str) -> bool:
        path = out_dir / relpath
        return relpath in self.finished and path.exists() and path.stat().st_size == self.finished[relpath]

    def mark_complete(self) -> None:
        self._append({"complete": True})

    def record(self, relpath: str, size: int) -> None:
        self.finished[relpath] = size
        self._append({"shard": relpath, "bytes": size})


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one Parquet shard (the datasets Features travel in the schema metadata)."""
    pq.write_table(table, path, compression="zstd")


def place_volume(source: str, target: Path, embed: bool) -> None:
    """Copy (embed) or symbolically link one volume file to ``target``."""
    if embed:
        with fsspec.open(source, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=16 << 20)
        return
    if "://" in source:
        raise ValueError(f"volume {source} is not a local file: a link cannot point at it; pass embed_volumes=True")
    os.symlink(os.path.abspath(source), target)


class ShardWriter:
    """Writes shards atomically (temporary name, then rename) and records them in the manifest."""

    def __init__(self, out_dir: Path, manifest: Manifest, report: ExportReport) -> None:
        self.out_dir, self.manifest, self.report = out_dir, manifest, report
        self.planned: set[str] = set()

    def write(self, relpath: str, produce: Callable[[Path], None], *, volume: bool = False) -> None:
        self.planned.add(relpath)
        final = self.out_dir / relpath
        if self.manifest.is_done(self.out_dir, relpath):
            self.report.shards_kept += 1
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(final.name + PARTIAL_SUFFIX)
            if partial.exists() or partial.is_symlink():
                partial.unlink()
            produce(partial)
            os.replace(partial, final)
            self.manifest.record(relpath, final.stat().st_size)
            self.report.shards_written += 1
        size = final.stat().st_size
        if volume:
            self.report.volume_bytes += size
        else:
            self.report.qa_bytes += size


def remove_partials(out_dir: Path) -> None:
    data = out_dir / "data"
    if data.is_dir():
        for path in data.rglob(f"*{PARTIAL_SUFFIX}"):
            path.unlink()


def check_no_strays(out_dir: Path, planned: set[str]) -> None:
    data = out_dir / "data"
    found = {p.relative_to(out_dir).as_posix() for p in data.rglob("*") if p.is_file() or p.is_symlink()}
    stray = sorted(found - planned)
    if stray:
        raise ExportConflictError(f"{out_dir} holds files this export did not write: {', '.join(stray[:5])}")


def write_text_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
