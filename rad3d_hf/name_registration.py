"""Make the bare names ``3d-rad`` (datasets) and ``3d-rad-metric`` (evaluate) resolve to this package, offline.

Neither library has a plugin mechanism, so each hook wraps the one factory function that turns a name into a module:

- datasets: ``dataset_module_factory``, which ``datasets.load`` and ``datasets.inspect`` each import under their own
  name (``get_dataset_config_names`` goes through ``inspect``). For our name it returns a ``DatasetModule`` pointing at
  :mod:`rad3d_hf.builder`: no Hub call, no scan of the current folder; every other name goes to the original.
- evaluate: ``evaluation_module_factory`` in ``evaluate.loading``; for our name it returns an ``ImportableModule`` for
  :mod:`rad3d_hf.evaluate_metric`.

``tests/test_name_registration.py`` fails loudly if either library moves these hook points.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATASET_NAME = "3d-rad"
METRIC_NAME = "3d-rad-metric"
BUILDER_MODULE = "rad3d_hf.builder"
METRIC_MODULE = "rad3d_hf.evaluate_metric"
_HOOKED = "__rad3d_hf_hook__"


def module_hash(module_name: str) -> str:
    """Hash of a module's source, so the datasets cache follows code changes."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find module {module_name}")
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]


def _wrap(original: Callable[..., Any], name: str, make: Callable[[], Any]) -> Callable[..., Any]:
    if getattr(original, _HOOKED, False):
        return original

    @functools.wraps(original)
    def factory(path: str, *args: Any, **kwargs: Any) -> Any:
        if path == name:
            return make()
        return original(path, *args, **kwargs)

    setattr(factory, _HOOKED, True)
    return factory


def _dataset_module() -> Any:
    from datasets.load import DatasetModule

    return DatasetModule(BUILDER_MODULE, module_hash(BUILDER_MODULE), {"dataset_name": DATASET_NAME})


def _metric_module() -> Any:
    from evaluate.loading import ImportableModule

    return ImportableModule(METRIC_MODULE, module_hash(METRIC_MODULE))


def register_dataset_name() -> None:
    """Hook ``3d-rad`` into ``datasets.load`` and ``datasets.inspect``."""
    import datasets.inspect
    import datasets.load

    for module in (datasets.load, datasets.inspect):
        module.dataset_module_factory = _wrap(module.dataset_module_factory, DATASET_NAME, _dataset_module)


def register_metric_name() -> None:
    """Hook ``3d-rad-metric`` into ``evaluate.loading`` (and ``evaluate``'s re-export, if any)."""
    import evaluate.loading

    evaluate.loading.evaluation_module_factory = _wrap(
        evaluate.loading.evaluation_module_factory, METRIC_NAME, _metric_module
    )


def register() -> None:
    """Register both names; idempotent."""
    register_dataset_name()
    register_metric_name()
