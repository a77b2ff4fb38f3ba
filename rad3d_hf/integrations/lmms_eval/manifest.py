"""The ``lmms_eval.models`` entry point: lmms-eval calls :func:`model_manifests` to learn about ``m3d_rad``."""

from __future__ import annotations

from typing import Any


def model_manifests() -> list[Any]:
    """``m3d_rad``: an M3D-RAD / M3D-LaMed folder answering from the CT volume itself (no 2D rendering)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(
            model_id="m3d_rad",
            simple_class_path="rad3d_hf.integrations.lmms_eval.m3d_rad_model.M3DRadLmms",
        )
    ]
