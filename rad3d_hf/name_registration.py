"""Make the bare names ``3d-rad`` (datasets) and ``3d-rad-metric`` (evaluate) resolve to this package, offline.

Neither library has a plugin mechanism, so each hook wraps the one factory function that turns a name into a module:

- datasets: ``dataset_module_factory``, which ``datasets.load`` and ``datasets.inspect`` each import under their own
  name (``get_dataset_config_names`` goes through ``inspect``). For our name it returns a ``DatasetModule`` pointing at
  :mod:`rad3d_hf.data.builder`: no Hub call, no scan of the current folder; every other name goes to the original.
- evaluate: ``evaluation_module_factory`` in ``evaluate.loading``; for our name it returns an ``ImportableModule`` for
  :mod:`rad3d_hf.evaluate_metric`. ``import evaluate`` takes seconds (it pulls in transformers), so when evaluate is not
  imported yet the patch is applied by an import hook the moment ``evaluate.loading`` finishes loading. The datasets
  hook works the same way, so ``import rad3d_hf`` imports neither library.

``tests/test_name_registration.py`` fails loudly if either library moves these hook points.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DATASET_NAME = "3d-rad"
METRIC_NAME = "3d-rad-metric"
BUILDER_MODULE = "rad3d_hf.data.builder"
METRIC_MODULE = "rad3d_hf.evaluate_metric"
_HOOKED = "__rad3d_hf_hook__"


def module_hash(module_name: str) -> str:
    """Hash of a module's source, so the datasets cache follows code changes."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find module {module_name}")
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]


def _wrap(original: Callable[..., Any], makers: Mapping[str, Callable[[], Any]]) -> Callable[..., Any]:
    """``original`` answering the names in ``makers`` itself (read at each call, so names added later work too)."""
    if getattr(original, _HOOKED, False):
        return original

    @functools.wraps(original)
    def factory(path: str, *args: Any, **kwargs: Any) -> Any:
        make = makers.get(path) if isinstance(path, str) else None
        if make is not None:
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


# Dataset names answered by this package -> a function returning their DatasetModule (``register_dataset_module``).
_DATASET_MODULES: dict[str, Callable[[], Any]] = {DATASET_NAME: _dataset_module}


def _patch_dataset_factory(module: Any) -> None:
    module.dataset_module_factory = _wrap(module.dataset_module_factory, _DATASET_MODULES)


def _patch_when_imported(fullname: str, patch: Callable[[Any], None]) -> None:
    module = sys.modules.get(fullname)
    if module is not None and not _is_initializing(module):
        patch(module)
        return
    if not any(isinstance(f, _PatchAfterImport) and f.fullname == fullname for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(fullname, patch))


def _is_initializing(module: Any) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def register_dataset_name() -> None:
    """Hook ``3d-rad`` into ``datasets.load`` and ``datasets.inspect``, now or as soon as they are imported."""
    for fullname in ("datasets.load", "datasets.inspect"):
        _patch_when_imported(fullname, _patch_dataset_factory)


def _patch_evaluate_loading(module: Any) -> None:
    module.evaluation_module_factory = _wrap(module.evaluation_module_factory, {METRIC_NAME: _metric_module})


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``patch(module)`` right after ``fullname`` is executed, wherever the import comes from."""

    def __init__(self, fullname: str, patch: Callable[[Any], None]) -> None:
        self.fullname = fullname
        self.patch = patch

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.fullname:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        loader, patch = spec.loader, self.patch

        def exec_module(module: Any) -> None:
            loader.exec_module(module)
            patch(module)

        spec.loader = _PatchingLoader(loader, exec_module)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, exec_module: Callable[[Any], None]) -> None:
        self._inner = inner
        self._exec = exec_module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._exec(module)


def register_metric_name() -> None:
    """Hook ``3d-rad-metric`` into ``evaluate.loading``, now if it is imported, else as soon as it is."""
    _patch_when_imported("evaluate.loading", _patch_evaluate_loading)


def register_dataset_module(name: str, builder_kwargs: Callable[[], Mapping[str, Any]]) -> None:
    """Make ``load_dataset(name, config)`` build ``3d-rad`` with the keyword arguments ``builder_kwargs()`` returns.

    ``builder_kwargs`` is called at each load (the arguments go into the datasets cache key like any other); the
    lmms-eval tasks use it to take their data source from the environment.
    """
    if name == DATASET_NAME:
        raise ValueError(f"{DATASET_NAME!r} is the package's own name")

    def module() -> Any:
        from datasets.load import DatasetModule

        kwargs = {**builder_kwargs(), "dataset_name": DATASET_NAME}
        return DatasetModule(BUILDER_MODULE, module_hash(BUILDER_MODULE), kwargs)

    _DATASET_MODULES[name] = module
    register_dataset_name()


def register() -> None:
    """Register both names; idempotent."""
    register_dataset_name()
    register_metric_name()
