"""Earlier scans: attach a patient's earlier CT volumes to a question, so a model can compare time points.

3D-RAD's temporal tasks (5 and 6) ask how a finding changed since the patient's earlier scans, but the published
benchmark gives the model only the current volume (Task 6 adds the earlier labels as text). With the builder's
``prior_volumes=True`` each row also carries ``prior_volumes``: the files of ``prior_volume_names`` (earlier scans
of the same patient in the split, oldest first), lazily decoded like ``volume``. ``M3DTransform`` preprocesses them
with the current one and its ``collate`` stacks them per question.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

logger = logging.getLogger(__name__)

Missing = Literal["error", "skip"]


def prior_volumes_feature(volume_format: Literal["nifti", "npy"] = "nifti") -> Any:
    """The ``datasets`` feature of the ``prior_volumes`` column: a list of lazy NIfTI images (or ``.npy`` paths)."""
    import datasets

    item = datasets.Nifti() if volume_format == "nifti" else datasets.Value("string")
    return datasets.List(item)


def prior_volume_paths(
    names: Sequence[str], locate: Callable[[str], str | None], *, question_id: str, missing: Missing = "error"
) -> tuple[list[str], list[str]]:
    """Paths of the earlier volumes ``names`` (oldest first) and the names not found (only with ``missing="skip"``).

    ``locate`` maps a volume stem to its path or None. A missing earlier volume is a FileNotFoundError naming the
    question and the volume, unless ``missing="skip"``.
    """
    paths, skipped = [], []
    for name in names:
        path = locate(name)
        if path is None:
            if missing == "error":
                raise FileNotFoundError(
                    f"earlier volume {name} of question {question_id} not found. Pass missing_volumes='skip' to "
                    "leave absent earlier scans out of prior_volumes."
                )
            skipped.append(name)
            continue
        paths.append(path)
    return paths, skipped


def prior_volumes_column(
    columns: dict[str, list[Any]],
    locate: Callable[[str], str | None],
    *,
    volume_format: Literal["nifti", "npy"] = "nifti",
    missing: Missing = "error",
    source: str = "",
) -> list[list[Any]]:
    """The ``prior_volumes`` column for a table of rows given as columns (``id``, ``prior_volume_names``)."""
    out: list[list[Any]] = []
    skipped_total, first_skipped = 0, None
    for question_id, names in zip(columns["id"], columns["prior_volume_names"]):
        paths, skipped = prior_volume_paths(names, locate, question_id=question_id, missing=missing)
        if skipped:
            skipped_total += len(skipped)
            first_skipped = first_skipped or f"{skipped[0]} (question {question_id})"
        out.append([{"bytes": None, "path": p} for p in paths] if volume_format == "nifti" else paths)
    if skipped_total:
        logger.warning(
            "left %d absent earlier volumes out of prior_volumes in %s (missing_volumes='skip'), first: %s",
            skipped_total,
            source or "the table",
            first_skipped,
        )
    return out
