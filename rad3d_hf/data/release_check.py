"""What the published 3D-RAD release holds, and checks of a downloaded copy against it (``rad3d-hf verify``).

:data:`PUBLISHED` gathers the facts in one place: the table files per split, the questions per paper task and split
and the distinct volumes the tables name (measured from the published CSVs, the same on GitHub and the Hub), and
what each array of ``Images/test.zip`` is: ``(1, 32, 256, 256)`` float32 on a fixed ``[0, 1]`` scale, 32 axial slices
along axis 1. The orientation of rows and columns within a slice is not published. Each check takes the facts as an
argument, so a copy can be held against other ones. Results collect in a :class:`Verification`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from rad3d_hf.data.rows import table_volume_stems
from rad3d_hf.data.tables import has_rows, source_files, table_exists
from rad3d_hf.volumes.decode import read_volume, read_volume_header
from rad3d_hf.volumes.errors import VolumeError
from rad3d_hf.volumes.locator import FolderContents, VolumeLocator
from rad3d_hf.volumes.orientation import orient_dhw

NPY_ORIENTATION = "axis 1 = axial slices (index 0 first as stored); rows/columns as stored, orientation not published"
NIFTI_ORIENTATION = "radiological view (patient's right on the image's left), anterior up"
SHOWN = 10  # names listed per mismatch line; the JSON keeps them all


@dataclass(frozen=True)
class ReleaseFacts:
    """What a copy of the release must hold; paper task numbers (Task 1 = the folder ``Task2_Anomaly_Detection``)."""

    table_files: Mapping[str, int]
    questions: Mapping[tuple[int, str], int]
    volumes: Mapping[str, int]
    archive_splits: tuple[str, ...] = ("test",)  # the splits the published image archive holds
    array_shape: tuple[int, ...] = (1, 32, 256, 256)
    array_dtype: str = "float32"
    array_range: tuple[float, float] = (0.0, 1.0)


_QUESTIONS = {"test": (2666, 1024, 1002, 23472, 2873, 2873), "train": (6055, 2081, 1573, 100170, 13158, 13158)}
PUBLISHED = ReleaseFacts(
    table_files={"test": 41, "train": 51},
    questions={(task, split): n for split, counts in _QUESTIONS.items() for task, n in enumerate(counts, 1)},
    volumes={"test": 2696, "train": 13526},
)


@dataclass
class Check:
    """One row of the report: ``status`` is ``ok``, ``MISMATCH`` or a note such as ``not in this archive``."""

    name: str
    expected: int | str | None
    found: int | str
    status: str


@dataclass
class VolumeStats:
    """What one volume holds; ``problems`` name what differs from the facts (empty when it matches)."""

    name: str
    path: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    non_finite: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class SheetVolume:
    """Slices kept for the contact sheet: ``(index along the slice axis, 2-D image)``."""

    name: str
    format: str
    slices: list[tuple[int, np.ndarray]]
    depth: int


@dataclass
class Verification:
    """Everything ``verify`` found: rows, mismatch lines, counts, the volumes read and the sheet's slices."""

    checks: list[Check] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    volume_format: str | None = None
    sample: dict[str, Any] = field(default_factory=dict)
    volumes: list[VolumeStats] = field(default_factory=list)
    sheet: list[SheetVolume] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def add(self, name: str, expected: int | str | None, found: int | str, *, problems: Iterable[str] = ()) -> None:
        """A row that matches when ``found == expected`` and ``problems`` is empty; else a mismatch."""
        problems = list(problems)
        if expected is not None and found != expected and not problems:
            problems = [f"{name}: expected {_number(expected)}, found {_number(found)}"]
        self.checks.append(Check(name, expected, found, "MISMATCH" if problems else "ok"))
        self.mismatches.extend(problems)

    def note(self, name: str, found: int | str, status: str) -> None:
        """A row that reports without judging (e.g. volumes no table names)."""
        self.checks.append(Check(name, None, found, status))

    def as_dict(self) -> dict[str, Any]:
        """The whole result as JSON-ready data (the sheet's pixels left out)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("checks", "volumes", "sheet")}
        return {
            "ok": self.ok,
            **data,
            "checks": [asdict(c) for c in self.checks],
            "volumes": [asdict(v) for v in self.volumes],
        }


def _number(value: int | str | None) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else "-")


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def check_table_files(data_dir: str, result: Verification, facts: ReleaseFacts = PUBLISHED) -> None:
    """Per split: the catalogue's tables are all present (absent ones listed), none with a header but no rows."""
    for split in facts.table_files:
        sources = source_files(data_dir, split, "all")
        short = {s.path: s.path[len(str(data_dir).rstrip("/")) + 1 :] for s in sources}
        present = [s for s in sources if table_exists(s.path)]
        absent = [short[s.path] for s in sources if s not in present]
        empty = [short[s.path] for s in present if not has_rows(s)]
        problems = [f"{len(absent)} {split} table(s) absent: {_listed(absent)}"] if absent else []
        problems += [f"{len(empty)} {split} table(s) with a header but no rows: {_listed(empty)}"] if empty else []
        result.add(f"table files {split}", facts.table_files[split], len(present), problems=problems)
        result.counts.setdefault("table_files", {})[split] = {"present": len(present), "absent": absent, "empty": empty}


def check_questions(
    counts: Mapping[tuple[int, str], int], result: Verification, facts: ReleaseFacts = PUBLISHED
) -> None:
    """Questions per paper task and split, and per split in all, against the facts."""
    for split in facts.table_files:
        tasks = sorted(task for task, s in facts.questions if s == split)
        for task in tasks:
            result.add(f"questions {split} task {task}", facts.questions[task, split], counts.get((task, split), 0))
        total = sum(facts.questions[t, split] for t in tasks)
        result.add(f"questions {split} all", total, sum(n for (_, s), n in counts.items() if s == split))
    result.counts["questions"] = {f"{split}/task{task}": n for (task, split), n in sorted(counts.items())}


def table_volumes(data_dir: str, facts: ReleaseFacts = PUBLISHED) -> dict[str, set[str]]:
    """The distinct volume stems each split's present tables name."""
    return {split: table_volume_stems(source_files(data_dir, split, "all")) for split in facts.table_files}


def check_table_volumes(stems: Mapping[str, set[str]], result: Verification, facts: ReleaseFacts = PUBLISHED) -> None:
    """Distinct volumes named per split against the facts."""
    result.counts["volumes_named"] = {split: len(stems.get(split, ())) for split in facts.volumes}
    for split, n in result.counts["volumes_named"].items():
        result.add(f"volumes named {split}", facts.volumes[split], n)


def check_located(
    stems: Mapping[str, set[str]], contents: FolderContents, fmt: str, result: Verification,
    facts: ReleaseFacts = PUBLISHED,
) -> list[str]:  # fmt: skip
    """Which named volumes the folder holds, per split; returns the names found (sorted).

    A split none of whose volumes is there and which the published archive does not hold (train) is noted, not a
    mismatch. Volumes no table names are counted and shown by example."""
    paths = contents.volumes[fmt]
    found: list[str] = []
    for split in facts.volumes:
        named = stems.get(split, set())
        here = sorted(named & paths.keys())
        missing = sorted(named - paths.keys())
        found += here
        result.counts.setdefault("volumes_found", {})[split] = {"found": len(here), "missing": len(missing)}
        if named and not here and split not in facts.archive_splits:
            result.note(f"volumes found {split}", 0, "not in this archive")
            continue
        problems = (
            [f"{len(missing)} {split} volume(s) the tables name are missing: {_listed(missing)}"] if missing else []
        )
        result.add(f"volumes found {split}", len(named), len(here), problems=problems)
    named_all = set().union(*stems.values()) if stems else set()
    extra = sorted(paths.keys() - named_all)
    result.counts["volumes_not_named"] = len(extra)
    result.note("volumes no table names", len(extra), f"info (e.g. {extra[0]})" if extra else "ok")
    return found


def choose_sample(names: list[str], size: int | None, seed: int) -> list[str]:
    """All ``names``, or ``size`` of them drawn with ``numpy.random.default_rng(seed)``; in name order."""
    if size is None or size >= len(names):
        return sorted(names)
    picked = np.random.default_rng(seed).choice(len(names), size=size, replace=False)
    return sorted(names[i] for i in picked)


def shown_path(path: str) -> str:
    """A volume's path as the report names it: an archive member as ``member (in archive)``."""
    if "::" in path:
        member, archive = path.split("::", 1)
        return f"{member.split('://', 1)[-1]} (in {archive})"
    return path


def value_range(voxels: np.ndarray) -> tuple[float | None, float | None, int]:
    """(lowest, highest finite value, number of non-finite values); the extremes are None when there is none."""
    if not voxels.size:
        return None, None, 0
    low, high = voxels.min(), voxels.max()  # NaN and infinities propagate: two reductions tell whether to look closer
    if voxels.dtype.kind not in "fc" or (np.isfinite(low) and np.isfinite(high)):
        return float(low), float(high), 0
    finite = np.isfinite(voxels)
    bad = int(voxels.size - np.count_nonzero(finite))
    if bad == voxels.size:
        return None, None, bad
    return float(voxels[finite].min()), float(voxels[finite].max()), bad


def check_volume(name: str, path: str, fmt: str, facts: ReleaseFacts = PUBLISHED) -> tuple[VolumeStats, np.ndarray]:
    """Read one volume once: its stats and problems (each naming the file), and its ``(D, H, W)`` slice stack (empty
    when it has none): for ``.npy`` axis 1 as stored, for NIfTI reoriented to the radiological view."""
    stats = VolumeStats(name, shown_path(path))
    no_stack = np.empty((0, 0, 0), np.float32)
    try:
        header = read_volume_header(path)
        voxels = read_volume(path, check_finite=False)
    except (VolumeError, OSError, EOFError, zipfile.BadZipFile) as error:  # a damaged member is a finding too
        reason = error.reason if isinstance(error, VolumeError) and error.reason else error
        stats.problems.append(f"{stats.path}: cannot be read: {reason}")
        return stats, no_stack
    stats.shape, stats.dtype = tuple(voxels.shape), str(voxels.dtype)
    stats.minimum, stats.maximum, stats.non_finite = value_range(voxels)
    problems = stats.problems
    if fmt == "npy":
        low, high = facts.array_range
        if stats.shape != facts.array_shape:
            problems.append(f"shape {stats.shape}, expected {facts.array_shape}")
        if stats.dtype != facts.array_dtype:
            problems.append(f"dtype {stats.dtype}, expected {facts.array_dtype}")
        if (stats.minimum is not None and stats.minimum < low) or (stats.maximum is not None and stats.maximum > high):
            problems.append(f"values {stats.minimum:.6g}..{stats.maximum:.6g}, outside [{low:g}, {high:g}]")
        stack = voxels[0] if voxels.ndim == 4 and voxels.shape[0] == 1 else voxels
    else:
        if voxels.ndim != 3:
            problems.append(f"{voxels.ndim}-D, expected a 3-D CT volume")
        if voxels.dtype != np.int16 and voxels.dtype.kind != "f":
            problems.append(f"dtype {stats.dtype}, expected int16 or floating point (HU)")
        stack = orient_dhw(voxels, header.affine) if voxels.ndim == 3 else voxels
    if stats.non_finite:
        problems.append(f"{stats.non_finite:,} non-finite value(s) (NaN or infinite)")
    stats.problems = [f"{stats.path}: {problem}" for problem in problems]
    return stats, stack if stack.ndim == 3 else no_stack


def sheet_slices(name: str, fmt: str, stack: np.ndarray) -> SheetVolume | None:
    """The first, middle and last slice of a ``(D, H, W)`` stack, copied (the volume itself is then let go)."""
    depth = stack.shape[0]
    if not depth:
        return None
    indices = sorted({0, depth // 2, depth - 1})
    return SheetVolume(name, fmt, [(i, np.array(stack[i], dtype=np.float32)) for i in indices], depth)


def check_volumes(
    locator: VolumeLocator, stems: Mapping[str, set[str]], result: Verification | None = None, *,
    facts: ReleaseFacts = PUBLISHED, sample: int | None = None, seed: int = 0, sheet: int = 0,
    progress: Callable[[list[str]], Iterable[str]] | None = None,
) -> Verification:  # fmt: skip
    """Locate the volumes the tables name (one listing of the folder), then read each of them (or a sample) once.

    A name found twice is a mismatch; a folder holding no volumes, or both formats with ``auto``, raises the
    locator's FileNotFoundError or ValueError. ``sheet`` keeps the slices of the first volumes of the sample for a
    contact sheet; ``progress`` wraps the iteration over the sample (e.g. ``tqdm``)."""
    result = result if result is not None else Verification()
    try:
        contents = locator.contents()
    except ValueError as error:  # a volume found twice: a fault of the copy, not of the command line
        result.add("volumes listed once", None, "no", problems=[str(error)])
        return result
    fmt = locator.volume_format
    result.counts["volumes_dir"] = {"path": locator.volumes_dir, "holds": contents.describe()}
    result.volume_format = fmt
    found = check_located(stems, contents, fmt, result, facts)
    chosen = choose_sample(found, sample, seed)
    result.sample = {"size": sample, "seed": seed, "of": len(found), "checked": len(chosen)}
    paths = contents.volumes[fmt]
    for name in progress(chosen) if progress is not None else chosen:
        stats, stack = check_volume(name, paths[name], fmt, facts)
        result.volumes.append(stats)
        result.mismatches.extend(stats.problems)
        if len(result.sheet) < sheet:
            kept = sheet_slices(name, fmt, stack)
            if kept is not None:
                result.sheet.append(kept)
        del stack  # one volume in memory at a time
    bad = sum(bool(v.problems) for v in result.volumes)
    what = f"{fmt} volumes checked" + (f" (sample of {len(found):,}, seed {seed})" if sample is not None else "")
    result.checks.append(Check(what, len(chosen), len(chosen) - bad, "MISMATCH" if bad else "ok"))
    ranges = [(v.minimum, v.maximum) for v in result.volumes if v.minimum is not None and v.maximum is not None]
    if ranges:
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        unit = " HU" if fmt == "nifti" else ""
        result.note("value range", f"{low:.6g}..{high:.6g}{unit}", "info")
        result.counts["value_range"] = [low, high]
    return result
