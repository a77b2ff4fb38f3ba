"""Models: ``m3d_rad`` (the 3D-RAD baseline) and zero-shot adapters for image-text-to-text models.

``AVAILABLE_MODELS`` is what lmms-eval reads from ``<plugin>.models`` under ``LMMS_EVAL_PLUGINS=rad3d_hf``: empty,
because the lmms-eval ``m3d_rad`` model comes in through the ``lmms_eval.models`` entry point instead
(:mod:`rad3d_hf.integrations.lmms_eval`), and importing this package stays free of torch.
"""

AVAILABLE_MODELS: dict[str, str] = {}
