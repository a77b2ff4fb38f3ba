"""Where the lmms-eval tasks read 3D-RAD from: environment variables, turned into ``load_dataset`` arguments.

lmms-eval has no task arguments, so the source comes from the environment:

- ``RAD3D_DEMO=1``: the built-in demo source (generated locally; no other variable needed);
- ``RAD3D_DATA_DIR``: the QA tables (folder or fsspec URL; default: the Hub dataset ``Tang-xiaoxiao/3D-RAD``);
- ``RAD3D_VOLUMES_DIR``: the CT-RATE volumes, found by name (required unless ``RAD3D_DEMO=1``);
- ``RAD3D_VOLUME_FORMAT``: ``auto`` (default: the format ``RAD3D_VOLUMES_DIR`` holds), ``nifti`` or ``npy``.

Only the test split is prepared, so the published ``Images/test.zip`` alone serves as ``RAD3D_VOLUMES_DIR``.

The task YAMLs name the dataset :data:`ENV_DATASET`; :func:`register` makes ``load_dataset(ENV_DATASET, "task4")``
mean ``load_dataset("3d-rad", "task4", splits=("test",), **source_kwargs())``, read at each load (so the values are
part of the datasets cache key).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rad3d_hf.volumes.locator import FORMAT_CHOICES

ENV_DATASET = "3d-rad-from-environment"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class SourceError(ValueError):
    """The environment does not describe a usable 3D-RAD source; the message says what to set."""


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SourceError(f"{name}={environ[name]!r}: expected 1/0 (or true/false)")


def source_kwargs(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``load_dataset("3d-rad", ...)`` arguments the environment asks for (test split only)."""
    environ = os.environ if environ is None else environ
    data_dir = environ.get("RAD3D_DATA_DIR") or None
    volumes_dir = environ.get("RAD3D_VOLUMES_DIR") or None
    volume_format = environ.get("RAD3D_VOLUME_FORMAT") or "auto"
    if volume_format not in FORMAT_CHOICES:
        raise SourceError(f"RAD3D_VOLUME_FORMAT={volume_format!r}: expected one of {', '.join(FORMAT_CHOICES)}")
    kwargs: dict[str, Any] = {"splits": ("test",), "volume_format": volume_format}
    if _flag(environ, "RAD3D_DEMO"):
        if data_dir is not None:
            raise SourceError("RAD3D_DEMO=1 and RAD3D_DATA_DIR both set: the demo source has its own tables")
        kwargs["demo"] = True
    else:
        if volumes_dir is None:
            raise SourceError(
                "the 3drad tasks need CT volumes: set RAD3D_VOLUMES_DIR (your CT-RATE copy; RAD3D_DATA_DIR for the "
                "QA tables, default the Hub dataset) or RAD3D_DEMO=1 for the built-in demo source"
            )
        kwargs["data_dir"] = data_dir
    if volumes_dir is not None:
        kwargs["volumes_dir"] = volumes_dir
    return kwargs


def register() -> None:
    """Make ``load_dataset(ENV_DATASET, config)`` resolve (idempotent)."""
    from rad3d_hf.name_registration import register_dataset_module

    register_dataset_module(ENV_DATASET, source_kwargs)
