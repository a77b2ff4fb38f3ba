"""Which splits have their volumes under a folder: the rule every loader follows for ``volumes_dir``.

The published image archive holds the test volumes alone, so a split none of whose volumes is there is left out
(with a logged reason), a split with some of them stays (its missing volumes are errors, or skipped on request), and
no split with any volume is an error that says what the folder holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from rad3d_hf.data.rows import table_volume_stems
from rad3d_hf.data.tables import SourceFile
from rad3d_hf.volumes.locator import VolumeLocator

logger = logging.getLogger(__name__)


def no_volumes_reason(locator: VolumeLocator, sources: Iterable[SourceFile], split: str, what: str) -> str | None:
    """Why ``split`` has no volumes under the folder (``what`` names whose questions), or None when one is there."""
    names = table_volume_stems(sources)
    if not names or locator.found(names):
        return None
    return (
        f"none of the {len(names)} volumes that the {split} questions of {what} name is under {locator.volumes_dir} "
        f"({len(locator)} {locator.volume_format} volumes there)"
    )


def no_split_error(locator: VolumeLocator, reasons: list[str]) -> FileNotFoundError:
    """The error when no split has a volume: each split's reason and what the folder holds instead."""
    other = "npy" if locator.volume_format == "nifti" else "nifti"
    hint = f"; pass volume_format='auto' or '{other}'" if locator.contents().volumes[other] else ""
    return FileNotFoundError(f"{'; '.join(reasons)}. {locator.volumes_dir} holds {locator.contents().describe()}{hint}")


def splits_with_volumes(
    locator: VolumeLocator, sources_by_split: Mapping[str, Iterable[SourceFile]], what: str
) -> tuple[str, ...]:
    """The splits with at least one volume under the folder; the others are left out with a logged reason."""
    kept, reasons = [], []
    for split, sources in sources_by_split.items():
        reason = no_volumes_reason(locator, sources, split, what)
        if reason is None:
            kept.append(split)
        else:
            reasons.append(reason)
            logger.warning("%s: the %s split is left out", reason, split)
    if not kept:
        raise no_split_error(locator, reasons)
    return tuple(kept)


__all__ = ["no_split_error", "no_volumes_reason", "splits_with_volumes"]
