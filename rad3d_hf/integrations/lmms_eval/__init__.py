"""The lmms-eval plugin: tasks ``3drad`` and ``3drad_task1`` .. ``3drad_task6``, and the native-3D model ``m3d_rad``.

Tasks are found with ``LMMS_EVAL_PLUGINS=rad3d_hf`` (lmms-eval adds the folder of :mod:`rad3d_hf.tasks`) or with
``--include_path $(rad3d-hf lmms-eval-path)``; their data source is set in the environment (:mod:`.source`), their
functions are in :mod:`.task_functions`. ``m3d_rad`` is registered through the ``lmms_eval.models`` entry point
(:func:`.manifest.model_manifests`). ``--log_samples`` files turn into predictions files with :mod:`.samples`
(``rad3d-hf lmms-eval-predictions``).
"""

from __future__ import annotations

from pathlib import Path


def tasks_path() -> Path:
    """The folder holding the 3drad task YAMLs, for ``lmms-eval --include_path``."""
    import rad3d_hf.tasks

    return Path(rad3d_hf.tasks.__file__).resolve().parent / "3drad"
