"""Parse and map 3D-RAD / CT-RATE volume names.

``test_1005_b_1.nii.gz`` is split ``test``, patient ``1005``, scan ``b`` (the patient's second scan), reconstruction 1.
3D-RAD's ``test_*`` volumes are CT-RATE's ``valid_*`` ones; ``train_*`` names are the same in both.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".npy")
# Canonical names only: ASCII digits without leading zeros and nothing around the name, so that no two spellings map
# to one volume ("test_07_a_1", "test_7_a_1\n" or Arabic-Indic digits would otherwise become test_7_a_1).
_NAME = re.compile(
    r"(?P<split>train|test|valid)_(?P<pid>0|[1-9][0-9]*)_(?P<scan>[a-z])_(?P<rec>0|[1-9][0-9]*)", re.ASCII
)
CTRATE_SPLIT = {"test": "valid", "train": "train", "valid": "valid"}


@dataclass(frozen=True, order=True)
class VolumeName:
    """The parts of a volume name."""

    split: str
    patient_id: int
    scan: str
    reconstruction: int

    @property
    def stem(self) -> str:
        return f"{self.split}_{self.patient_id}_{self.scan}_{self.reconstruction}"

    @property
    def scan_index(self) -> int:
        """0 for the patient's first scan (``a``), 1 for the second (``b``), ..."""
        return ord(self.scan) - ord("a")

    @property
    def ctrate_stem(self) -> str:
        """The CT-RATE name of this volume (``test_*`` becomes ``valid_*``)."""
        return f"{CTRATE_SPLIT[self.split]}_{self.patient_id}_{self.scan}_{self.reconstruction}"

    def ctrate_relative_dir(self) -> str:
        """CT-RATE's nested folder: ``valid/valid_1005/valid_1005_b``."""
        split = CTRATE_SPLIT[self.split]
        return f"{split}/{split}_{self.patient_id}/{split}_{self.patient_id}_{self.scan}"


def strip_volume_suffix(name: str) -> str:
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@functools.lru_cache(maxsize=65536)
def parse_volume_name(name: str) -> VolumeName:
    """Parse ``test_1005_b_1.nii.gz`` (suffix optional); ValueError naming the input if it is not canonical.

    Canonical: ``<split>_<patient>_<scan letter>_<reconstruction>`` with ASCII digits and no leading zeros, then
    nothing or one of ``.nii.gz``, ``.nii``, ``.npy``; no whitespace anywhere."""
    match = _NAME.fullmatch(strip_volume_suffix(name))
    if match is None:
        raise ValueError(
            f"volume name {name!r} is not a canonical '<split>_<patient>_<scan letter>_<reconstruction>[.nii.gz]' "
            "(ASCII digits without leading zeros, no spaces)"
        )
    return VolumeName(match["split"], int(match["pid"]), match["scan"], int(match["rec"]))
