"""lmms-eval loads this file for the ``!function utils.*`` entries of the 3drad YAMLs; the code is in rad3d_hf."""

from rad3d_hf.integrations.lmms_eval import source
from rad3d_hf.integrations.lmms_eval.task_functions import (
    aggregate_accuracy,
    aggregate_accuracy_official,
    aggregate_balanced_accuracy,
    aggregate_bleu1,
    aggregate_judge_score,
    aggregate_macro_f1,
    aggregate_measurement_exact,
    aggregate_rouge1,
    aggregate_unparseable_rate,
    doc_to_target,
    doc_to_text,
    doc_to_visual,
    process_docs,
    process_results,
)

source.register()  # the YAMLs' dataset_path, read from RAD3D_DATA_DIR / RAD3D_VOLUMES_DIR / RAD3D_DEMO
source.source_kwargs()  # an unusable environment fails here, saying what to set, not inside lmms-eval's retries

__all__ = [
    "aggregate_accuracy",
    "aggregate_accuracy_official",
    "aggregate_balanced_accuracy",
    "aggregate_bleu1",
    "aggregate_judge_score",
    "aggregate_macro_f1",
    "aggregate_measurement_exact",
    "aggregate_rouge1",
    "aggregate_unparseable_rate",
    "doc_to_target",
    "doc_to_text",
    "doc_to_visual",
    "process_docs",
    "process_results",
]
