"""``MemoizedTransform``: preprocess each volume file once per process, however many questions use it.

A scan is the current volume of its own questions and an earlier volume of the patient's later questions, and each
volume has many questions; wrapped in this, a transform such as ``M3DTransform`` runs once per file and the result is
reused (a bounded least-recently-used memory, keyed by the file's path). Values that are not file-backed pass
through unmemoized. Each DataLoader worker keeps its own memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rad3d_hf.transforms.m3d import M3DTransform


class MemoizedTransform:
    """Wrap ``transform`` (volume -> array) so each file is transformed once; at most ``max_items`` are kept.

    ``hits`` and ``misses`` count reuses and computations in this process.
    """

    def __init__(self, transform: Callable[[Any], Any], *, max_items: int = 128) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self.transform = transform
        self.max_items = int(max_items)
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[str, Any] = OrderedDict()

    def __repr__(self) -> str:
        return f"MemoizedTransform({self.transform!r}, max_items={self.max_items})"

    def __getstate__(self) -> dict[str, Any]:
        # A worker starts with an empty memory and its own counters.
        return {"transform": self.transform, "max_items": self.max_items}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["transform"], max_items=state["max_items"])  # type: ignore[misc]

    def __call__(self, value: Any) -> Any:
        path = M3DTransform._source_path(value)
        if path is None:
            return self.transform(value)
        if path in self._memory:
            self._memory.move_to_end(path)
            self.hits += 1
            return self._memory[path]
        self.misses += 1
        out = self.transform(value)
        self._memory[path] = out
        if len(self._memory) > self.max_items:
            self._memory.popitem(last=False)
        return out


__all__ = ["MemoizedTransform"]
