"""rad3d-hf: the 3D-RAD benchmark for the Hugging Face ecosystem.

Importing the package makes ``load_dataset("3d-rad", ...)`` and ``evaluate.load("3d-rad-metric")`` resolve to the
packaged builder and metric, offline (see :mod:`rad3d_hf.name_registration`). Heavier parts (volume decoding,
transforms, models) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it; imported on first access so `import rad3d_hf` stays light (no torch).
_LAZY: dict[str, str] = {
    "read_volume": "rad3d_hf.volumes.decode",
    "read_volume_header": "rad3d_hf.volumes.decode",
    "M3DTransform": "rad3d_hf.transforms",
    "SliceRenderer": "rad3d_hf.transforms",
    "ThreeDRad": "rad3d_hf.data.builder",
    "ThreeDRadConfig": "rad3d_hf.data.builder",
    "ensure_demo_data": "rad3d_hf.demo",
    "export_dataset": "rad3d_hf.hub.export",
    "PreprocessedCache": "rad3d_hf.volumes.cache",
    "VolumeError": "rad3d_hf.volumes.errors",
    "score": "rad3d_hf.scoring",
    "score_details": "rad3d_hf.scoring",
}

# Modules that once sat at the package's root: `rad3d_hf.catalogue` (attribute access, `from rad3d_hf import
# catalogue`) still gives the module where it lives now.
_MOVED: dict[str, str] = {
    "catalogue": "rad3d_hf.data.catalogue",
    "builder": "rad3d_hf.data.builder",
    "volume_names": "rad3d_hf.data.volume_names",
    "prior_volumes": "rad3d_hf.data.prior_volumes",
    "ctrate_metadata": "rad3d_hf.data.ctrate_metadata",
    "scan_pairs": "rad3d_hf.models.m3d_rad.scan_pairs",
    "temporal_composition": "rad3d_hf.scoring.temporal_composition",
}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604 - the lazy names are strings


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return importlib.import_module(_MOVED[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rad3d_hf' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


from rad3d_hf import name_registration  # noqa: E402  (registers the two names; must follow __version__)

name_registration.register()
