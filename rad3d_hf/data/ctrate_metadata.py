"""CT-RATE's per-scan metadata CSV: voxel spacing, rescale slope/intercept, scanner and patient fields.

CT-RATE publishes ``dataset/metadata/{train,validation}_metadata.csv`` (one row per reconstruction, keyed by
``VolumeName``). 3D-RAD's ``test_*`` volumes are CT-RATE's ``valid_*`` ones; lookups accept either name.

When do ``RescaleSlope`` / ``RescaleIntercept`` apply? (:func:`rescale_decision`)
The corrected CT-RATE release stores int16 values that are already Hounsfield units, yet its metadata still lists
the DICOM slope/intercept (typically 1 and -1024): applying them again shifts every voxel by -1024 HU, a known
pitfall. The rule, in order:

1. the NIfTI header carries its own scaling (``scl_slope`` set, not 1/0): nibabel and :func:`~rad3d_hf.read_volume`
   already applied it, the values are HU -> not applied;
2. the metadata's slope is 1 and intercept 0 -> nothing to apply;
3. the stored values go below 0 -> already HU (raw CT pixel values are non-negative: with intercept -1024, air is
   stored near 24, while in HU a chest CT always holds air near -1000) -> not applied;
4. otherwise (raw, non-negative values) -> ``HU = stored * slope + intercept``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rad3d_hf.data.volume_names import parse_volume_name, strip_volume_suffix
from rad3d_hf.volumes.header import VolumeHeader

REQUIRED_COLUMNS: tuple[str, ...] = ("VolumeName", "XYSpacing", "ZSpacing", "RescaleSlope", "RescaleIntercept")


@dataclass(frozen=True)
class ScanMetadata:
    """One reconstruction's metadata. ``spacing`` is ``(x, y, z)`` in mm, from ``XYSpacing`` and ``ZSpacing``."""

    volume_name: str
    spacing: tuple[float, float, float]
    rescale_slope: float
    rescale_intercept: float
    rescale_type: str
    manufacturer: str
    patient_sex: str
    patient_age: str
    study_date: str
    number_of_slices: int | None


class CTRateMetadata(Mapping[str, ScanMetadata]):
    """The rows of one or more CT-RATE metadata CSVs, keyed by CT-RATE volume stem (``valid_1_a_1``)."""

    def __init__(self, records: Mapping[str, ScanMetadata], sources: tuple[str, ...]) -> None:
        self._records = dict(records)
        self.sources = sources

    @classmethod
    def from_csv(cls, *paths: str | os.PathLike[str]) -> CTRateMetadata:
        """Read CT-RATE metadata CSVs (local paths or fsspec URLs); ValueError naming file, line and column.

        A volume listed twice (in one file or across files) is an error naming both lines, and so is a spacing that is
        not a positive, finite number of millimetres."""
        records: dict[str, ScanMetadata] = {}
        first_seen: dict[str, str] = {}
        for path in paths:
            for record, line, written in _read_csv(os.fspath(path)):
                where = f"{os.fspath(path)}, line {line}"
                if record.volume_name in records:  # which row would be right is not ours to guess
                    raise ValueError(
                        f"{where}, column VolumeName: {written!r} is listed again; first at "
                        f"{first_seen[record.volume_name]}"
                    )
                records[record.volume_name] = record
                first_seen[record.volume_name] = where
        return cls(records, tuple(os.fspath(p) for p in paths))

    def __getitem__(self, volume_name: str) -> ScanMetadata:
        return self._records[ctrate_stem(volume_name)]

    def __contains__(self, volume_name: object) -> bool:
        return isinstance(volume_name, str) and ctrate_stem(volume_name) in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def lookup(self, volume_name: str) -> ScanMetadata:
        """The metadata of a 3D-RAD or CT-RATE volume name; KeyError naming the volume and the CSVs if absent."""
        try:
            return self[volume_name]
        except KeyError:
            raise KeyError(
                f"volume {volume_name!r} (CT-RATE {ctrate_stem(volume_name)!r}) is not in the metadata "
                f"{', '.join(self.sources) or '(no file)'}"
            ) from None


def ctrate_stem(volume_name: str) -> str:
    """CT-RATE's name for a 3D-RAD volume (``test_1_a_1.nii.gz`` -> ``valid_1_a_1``); other names unchanged."""
    try:
        return parse_volume_name(volume_name).ctrate_stem
    except ValueError:
        return strip_volume_suffix(volume_name)


def _read_csv(path: str) -> Iterator[tuple[ScanMetadata, int, str]]:
    """Each row's record, the line it starts on and its VolumeName as written."""
    if "://" in path:
        import fsspec

        with fsspec.open(path, "rt", encoding="utf-8", newline="") as f:
            text = f.read()
    else:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"{path}: not a CT-RATE metadata CSV, missing columns {missing}")
    line = 2
    for row in reader:
        yield _record(row, path, line), line, row["VolumeName"]
        line = reader.line_num + 1  # where the next record starts (a quoted field may span lines)


def _record(row: Mapping[str, str], path: str, line: int) -> ScanMetadata:
    def number(column: str) -> float:
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            raise ValueError(f"{path}, line {line}, column {column}: {row.get(column)!r} is not a number") from None
        if not np.isfinite(value):
            raise ValueError(f"{path}, line {line}, column {column}: {value} is not finite")
        return value

    def spacing(column: str, value: float) -> float:
        if not value > 0 or not np.isfinite(value):
            raise ValueError(f"{path}, line {line}, column {column}: spacing {value} mm is not a positive number")
        return value

    try:
        xy = json.loads(row["XYSpacing"])
        x, y = (float(v) for v in xy)
    except (TypeError, ValueError, json.JSONDecodeError):
        raise ValueError(f"{path}, line {line}, column XYSpacing: {row.get('XYSpacing')!r} is not '[x, y]'") from None
    x, y = spacing("XYSpacing", x), spacing("XYSpacing", y)
    slices = (row.get("NumberofSlices") or "").strip()
    slice_count = None
    if slices:
        count = number("NumberofSlices")
        if count < 0 or count != int(count):
            raise ValueError(f"{path}, line {line}, column NumberofSlices: {slices!r} is not a whole number of slices")
        slice_count = int(count)
    return ScanMetadata(
        volume_name=strip_volume_suffix(row["VolumeName"].strip()),
        spacing=(x, y, spacing("ZSpacing", number("ZSpacing"))),
        rescale_slope=number("RescaleSlope"),
        rescale_intercept=number("RescaleIntercept"),
        rescale_type=(row.get("RescaleType") or "").strip(),
        manufacturer=(row.get("Manufacturer") or "").strip(),
        patient_sex=(row.get("PatientSex") or "").strip(),
        patient_age=(row.get("PatientAge") or "").strip(),
        study_date=(row.get("StudyDate") or "").strip(),
        number_of_slices=slice_count,
    )


# --- the rescale rule -------------------------------------------------------------------------------------------


def rescale_decision(stored_min: float, metadata: ScanMetadata, header: VolumeHeader | None = None) -> tuple[bool, str]:
    """Whether the metadata's slope/intercept must be applied to stored values, and why (the module's rule)."""
    if header is not None and header.slope is not None and (header.slope, header.intercept or 0.0) != (1.0, 0.0):
        return False, "the NIfTI header's own scaling was applied when reading: values are HU"
    if (metadata.rescale_slope, metadata.rescale_intercept) == (1.0, 0.0):
        return False, "the metadata's slope/intercept are the identity"
    if stored_min < 0:
        return False, f"stored values reach {stored_min:g} < 0: already HU (raw CT values are non-negative)"
    return True, f"stored values are non-negative (min {stored_min:g}): raw, HU = value * slope + intercept"


def to_hounsfield(
    volume: np.ndarray, metadata: ScanMetadata, *, header: VolumeHeader | None = None
) -> tuple[np.ndarray, bool]:
    """The volume in HU by :func:`rescale_decision`: ``(volume, False)`` unchanged, or ``(float32 HU, True)``."""
    apply, _reason = rescale_decision(float(volume.min()), metadata, header)
    if not apply:
        return volume, False
    hu = volume.astype(np.float32)
    hu *= np.float32(metadata.rescale_slope)
    hu += np.float32(metadata.rescale_intercept)
    return hu, True


# --- row fields -------------------------------------------------------------------------------------------------


def metadata_features() -> dict[str, Any]:
    """The ``datasets`` features :func:`metadata_fields` adds to a row."""
    from datasets import List, Value

    return {
        "spacing": List(Value("float32"), length=3),
        "rescale_slope": Value("float32"),
        "rescale_intercept": Value("float32"),
        "manufacturer": Value("string"),
        "patient_sex": Value("string"),
        "patient_age": Value("string"),
        "study_date": Value("string"),
    }


def metadata_fields(row: Mapping[str, Any], metadata: CTRateMetadata, *, missing: str = "error") -> dict[str, Any]:
    """The metadata columns for ``row["volume_name"]``; ``missing="null"`` gives None values instead of a KeyError."""
    if missing not in ("error", "null"):
        raise ValueError(f"missing must be 'error' or 'null', got {missing!r}")
    name = row["volume_name"]
    if name not in metadata:
        if missing == "null":
            return dict.fromkeys(metadata_features())
        metadata.lookup(name)  # raises the KeyError naming the volume and the CSVs
    record = metadata[name]
    return {
        "spacing": list(record.spacing),
        "rescale_slope": record.rescale_slope,
        "rescale_intercept": record.rescale_intercept,
        "manufacturer": record.manufacturer,
        "patient_sex": record.patient_sex,
        "patient_age": record.patient_age,
        "study_date": record.study_date,
    }
