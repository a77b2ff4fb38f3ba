"""3D-RAD metric: the six-task scoring of the 3D-RAD benchmark (NeurIPS 2025).

A thin evaluate module over the ``rad3d-hf`` package (``pip install rad3d-hf``), where the scoring lives as plain
functions: ``rad3d_hf.scoring.score``. See README.md in this folder for the metric card.
"""

from rad3d_hf.evaluate_metric import ThreeDRadMetric  # noqa: F401  (the class evaluate.load picks up)
