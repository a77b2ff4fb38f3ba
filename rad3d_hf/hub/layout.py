"""Where the exported Hub folder keeps each file: QA shards, metadata tables, volumes, and each config's data files."""

from __future__ import annotations

from collections.abc import Iterable

from rad3d_hf.data.catalogue import Subtask, TaskInfo, get_config
from rad3d_hf.data.volume_names import VolumeName

VOLUME_COLUMN = "volume_file_name"
GITATTRIBUTES = """\
# Large files go to Git LFS (the Hub stores them as LFS objects)
*.parquet filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.nii filter=lfs diff=lfs merge=lfs -text
*.nii.gz filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""


def qa_shard_path(split: str, task: TaskInfo, subtask: Subtask) -> str:
    """Where the QA-only layout stores one source table, relative to the export folder."""
    return f"data/{split}/task{task.number}/{subtask.slug}.parquet"


def metadata_table_path(split: str, config: str) -> str:
    """Where the volumes layout stores the metadata table of one config and split."""
    return f"data/{split}/{config}.parquet"


def volume_relative_path(name: VolumeName, suffix: str) -> str:
    """A volume's path relative to its split's metadata tables (patient folders keep folders under 10k files)."""
    return f"volumes/{name.split}_{name.patient_id}/{name.stem}{suffix}"


def volume_suffix(path: str) -> str:
    return ".nii.gz" if path.endswith(".nii.gz") else ".nii"


def qa_data_files(configs: Iterable[str], splits: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Data files of each config and split in the QA-only layout (shared shards, catalogue order)."""
    splits = tuple(splits)
    out: dict[str, dict[str, list[str]]] = {}
    for config in configs:
        spec = get_config(config)
        out[config] = {s: [qa_shard_path(s, t, sub) for t, sub in spec.files(s)] for s in splits if s in spec.splits}
    return out


def volume_data_files(
    configs: Iterable[str], splits: Iterable[str], suffixes: dict[str, set[str]]
) -> dict[str, dict[str, list[str]]]:
    """Data files of each config and split in the volumes layout: its metadata table and the split's volumes."""
    splits = tuple(splits)
    out: dict[str, dict[str, list[str]]] = {}
    for config in configs:
        spec = get_config(config)
        out[config] = {
            s: [metadata_table_path(s, config)]
            + [f"data/{s}/volumes/*/*{suffix}" for suffix in sorted(suffixes.get(s, ()), reverse=True)]
            for s in splits
            if s in spec.splits
        }
    return out
