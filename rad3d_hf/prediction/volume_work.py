"""Work ordered by CT volume: each volume decoded and preprocessed once, all its questions answered from that.

A split holds about 12.6 questions per volume (up to 41 on the test split), so preparing the image once per volume
instead of once per question removes most of the CPU work of answering a split. A model family plugs in through
:class:`VolumeAnswerer`: ``prepare_volume(row)`` turns a row's volume into the model's image input (it runs in the
DataLoader workers, so it must pickle and must not hold the model), ``answer_volume(prepared, rows)`` answers that
volume's questions (in the main process, with the model; it may run its vision encoder once and reuse the result).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class VolumeGroup:
    """One CT volume and the positions (in the split's order) of the questions asked about it."""

    volume_name: str
    indices: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.indices)


class VolumeAnswerer(Protocol):
    """What a model family provides to answer questions one volume at a time."""

    @property
    def prepare_volume(self) -> Callable[[Mapping[str, Any]], Any]:
        """Row (with its lazy ``volume``) -> the model's image input; picklable, run in DataLoader workers."""
        ...

    def answer_volume(self, prepared: Any, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """One answer per row, in order; every row asks about the volume ``prepared`` was made from."""
        ...


def group_by_volume(volume_names: Sequence[str]) -> list[VolumeGroup]:
    """Questions grouped by ``volume_name``, groups in order of first appearance, indices ascending within each."""
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(volume_names):
        if not isinstance(name, str) or not name:
            raise ValueError(f"question {index} has no volume_name ({name!r}): it cannot be grouped by volume")
        positions.setdefault(name, []).append(index)
    return [VolumeGroup(name, tuple(indices)) for name, indices in positions.items()]


def shard_groups(groups: Sequence[VolumeGroup], rank: int, world_size: int) -> list[VolumeGroup]:
    """The groups process ``rank`` of ``world_size`` answers: whole volumes, balanced by question count.

    Largest groups first, each to the process with the fewest questions so far (ties: the lowest rank), so every
    process gets a share within one volume's questions of the others'. The assignment depends only on ``groups``, so
    every process computes the same split without talking to the others. Returned in their original order.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size} processes")
    if world_size == 1:
        return list(groups)
    loads = [(0, r) for r in range(world_size)]
    mine: list[int] = []
    by_size = sorted(range(len(groups)), key=lambda i: (-len(groups[i]), i))
    for position in by_size:
        load, owner = heapq.heappop(loads)
        if owner == rank:
            mine.append(position)
        heapq.heappush(loads, (load + len(groups[position]), owner))
    return [groups[i] for i in sorted(mine)]


class _PreparedVolumes:
    """A map-style dataset: item ``i`` is ``(i, prepare_volume(rows[first question of group i]))``."""

    def __init__(
        self, rows: Any, groups: Sequence[VolumeGroup], prepare_volume: Callable[[Mapping[str, Any]], Any]
    ) -> None:
        self.rows, self.groups, self.prepare_volume = rows, list(groups), prepare_volume

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, position: int) -> tuple[int, Any]:
        return position, self.prepare_volume(self.rows[self.groups[position].indices[0]])


def _as_is(item: Any) -> Any:
    return item


def prepared_volumes(
    rows: Any,
    groups: Sequence[VolumeGroup],
    prepare_volume: Callable[[Mapping[str, Any]], Any],
    *,
    num_workers: int = 0,
) -> Iterator[tuple[VolumeGroup, Any]]:
    """``(group, prepared volume)`` in the order of ``groups``, each volume prepared once, in ``num_workers`` workers.

    ``rows`` is anything indexable by position that gives a row with its volume (a ``datasets.Dataset``, a list of
    dicts); only the group's first row is read, in the worker.
    """
    from torch.utils.data import DataLoader

    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    groups = list(groups)
    dataset: Any = _PreparedVolumes(rows, groups, prepare_volume)  # map-style: __len__ and __getitem__
    loader: Any = DataLoader(dataset, batch_size=None, collate_fn=_as_is, num_workers=num_workers)
    for position, prepared in loader:
        yield groups[position], prepared


def answer_by_volume(
    answerer: VolumeAnswerer,
    volume_rows: Any,
    question_rows: Any,
    groups: Sequence[VolumeGroup],
    *,
    num_workers: int = 0,
) -> Iterator[tuple[VolumeGroup, list[str]]]:
    """``(group, answers)`` per volume, in the order of ``groups``.

    ``volume_rows[i]`` is row ``i`` with its volume (read in the workers, once per group); ``question_rows[i]`` the
    same row without it (what ``answer_volume`` sees, read in the main process, so no volume is opened there).
    """
    for group, prepared in prepared_volumes(volume_rows, groups, answerer.prepare_volume, num_workers=num_workers):
        rows = [question_rows[i] for i in group.indices]
        answers = answerer.answer_volume(prepared, rows)
        if len(answers) != len(rows):
            raise RuntimeError(f"volume {group.volume_name}: {len(rows)} questions but {len(answers)} answers")
        yield group, answers


__all__ = [
    "VolumeAnswerer",
    "VolumeGroup",
    "answer_by_volume",
    "group_by_volume",
    "prepared_volumes",
    "shard_groups",
]
