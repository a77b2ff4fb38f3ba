"""The ``3d-rad`` datasets builder: QA rows of the six 3D-RAD tasks, with lazily decoded CT volumes when configured.

Configs: ``task1``..``task6`` (paper numbering), ``all``, and one per subtask (``task4_lung_nodule``, ``task6_b``, ...);
splits ``train`` and ``test`` (a subtask config offers the splits its file exists in). Examples are generated per
source file (one Arrow table per file, which keeps a first build of all 170,105 rows to seconds), so
``streaming=True`` shards by file and DataLoader workers split the files between them.

>>> import rad3d_hf
>>> from datasets import load_dataset
>>> ds = load_dataset("3d-rad", "task6", split="test", data_dir="path/to/3D-RAD", volumes_dir="path/to/CT-RATE")

Every config field changes the output and is therefore part of the datasets cache key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import datasets
import pyarrow as pa

from rad3d_hf import __version__
from rad3d_hf.catalogue import CITATION, CONFIGS, get_config
from rad3d_hf.ctrate_metadata import CTRateMetadata, metadata_features, metadata_fields
from rad3d_hf.prior_volumes import prior_volumes_column, prior_volumes_feature
from rad3d_hf.qa_tables import (
    DEFAULT_DATA_DIR,
    SourceFile,
    add_prior_volume_names,
    file_digest,
    has_rows,
    header_only_error,
    read_table_columns,
    source_files,
    split_volume_index,
    table_exists,
    tables_digest,
)
from rad3d_hf.volumes.locator import VolumeLocator

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
3D-RAD: visual question answering over chest CT volumes (CT-RATE) in six tasks: anomaly detection, image observation,
medical computation, existence detection, static and longitudinal temporal diagnosis. Task numbering follows the paper;
`source_task` keeps the numbering of the published CSV folders, which swap tasks 1 and 2.
"""

MissingVolumes = Literal["error", "skip"]


def qa_features() -> datasets.Features:
    """Features of a QA row without the volume column."""
    string, int32 = datasets.Value("string"), datasets.Value("int32")
    return datasets.Features(
        {
            "id": string,
            "task": int32,
            "task_name": string,
            "subtask": string,
            "source_task": int32,
            "question": string,
            "answer": string,
            "question_type": string,
            "choices": datasets.List(string),
            "answer_choice": string,
            "volume_name": string,
            "patient_id": int32,
            "scan": string,
            "reconstruction": int32,
            "history": datasets.List(int32),
            "prior_volume_names": datasets.List(string),
        }
    )


@dataclass
class ThreeDRadConfig(datasets.BuilderConfig):
    """Where the tables and volumes are and how volumes attach.

    Args:
        data_dir: folder or fsspec URL holding ``train/`` and ``test/`` QA tables (default: the Hub dataset).
        volumes_dir: folder or fsspec URL searched for the CT volumes by name; None gives QA-only rows.
        volume_format: ``"nifti"`` (``.nii.gz``/``.nii``, a lazy ``datasets.Nifti`` column) or ``"npy"`` (path column).
        missing_volumes: ``"error"`` (default) raises on the first question whose volume is absent; ``"skip"`` drops
            such questions and logs how many were skipped.
        demo: use the built-in synthetic demo source (tables and phantoms generated locally, no download) in
            ``data_dir``, by default ``$HF_HOME/rad3d_hf/demo/v<format>-seed<seed>``; volumes from its ``volumes/``.
        demo_seed: seed of the demo source.
        prior_volumes: also attach the patient's earlier volumes (``prior_volumes``, oldest first; needs volumes).
        metadata_files: CT-RATE metadata CSV(s) whose spacing, rescale and scanner fields are added to each row.
        splits: prepare only these splits (e.g. ``("test",)`` with CT-RATE's validation volumes alone, which the
            train questions do not refer to); default: every split whose tables exist.
        content_digest: set by the builder, not by users: a digest of every QA table (and metadata file) under the
            config, so the datasets cache key covers their content and an edited table is never served stale.
    """

    volumes_dir: str | None = None
    volume_format: Literal["nifti", "npy"] = "nifti"
    missing_volumes: MissingVolumes = "error"
    demo: bool = False
    demo_seed: int = 0
    prior_volumes: bool = False
    metadata_files: tuple[str, ...] | str | None = None
    splits: tuple[str, ...] | None = None
    content_digest: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Refuse values the builder cannot honour (datasets sets keyword arguments after ``__init__``)."""
        if self.volume_format not in ("nifti", "npy"):
            raise ValueError(f"volume_format={self.volume_format!r}; expected 'nifti' or 'npy'")
        if self.missing_volumes not in ("error", "skip"):
            raise ValueError(f"missing_volumes={self.missing_volumes!r}; expected 'error' or 'skip'")
        if self.splits is not None:
            if isinstance(self.splits, str):
                self.splits = (self.splits,)
            unknown = [s for s in self.splits if s not in ("train", "test")]
            if unknown or not self.splits:
                raise ValueError(f"splits={self.splits!r}; expected a non-empty selection of 'train' and 'test'")
            self.splits = tuple(self.splits)


def _content_digest(config_kwargs: dict[str, Any]) -> str:
    """The digest of what the rows are read from: every table of both splits (the earlier-scan index reads them all)
    and the metadata files."""
    data_dir = config_kwargs.get("data_dir")
    if config_kwargs.get("demo"):
        from rad3d_hf.demo import ensure_demo_data

        data_dir = str(ensure_demo_data(data_dir, seed=config_kwargs.get("demo_seed", 0)))
    digest = tables_digest(str(data_dir or DEFAULT_DATA_DIR))
    files = config_kwargs.get("metadata_files") or ()
    for path in [files] if isinstance(files, str) else files:
        digest += "," + file_digest(str(path))
    return digest


class ThreeDRad(datasets.ArrowBasedBuilder):
    """3D-RAD QA rows, optionally with CT volumes."""

    BUILDER_CONFIG_CLASS = ThreeDRadConfig
    BUILDER_CONFIGS = [
        ThreeDRadConfig(name=spec.name, description=spec.description, version=datasets.Version(__version__))
        for spec in CONFIGS.values()
    ]
    DEFAULT_CONFIG_NAME = "all"
    config: ThreeDRadConfig

    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        # The demo folder depends on HF_HOME, read when the builder is made: put the resolved folder into the config
        # (and so into the cache key), so a cache built for one demo folder never points at another's files.
        if config_kwargs.get("demo") and not config_kwargs.get("data_dir"):
            from rad3d_hf.demo import default_demo_root

            config_kwargs["data_dir"] = str(default_demo_root(config_kwargs.get("demo_seed", 0)))
        # The cache key is made from the config's fields: a digest of the tables' (and metadata files') content makes
        # a table edited in place a new cache entry, in this process or a fresh one (0.2-0.4 s for all published tables).
        config_kwargs["content_digest"] = _content_digest(config_kwargs)
        return super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)

    def _resolved_dirs(self) -> tuple[str, str | None]:
        if self.config.demo:
            from rad3d_hf.demo import ensure_demo_data

            root = ensure_demo_data(self.config.data_dir, seed=self.config.demo_seed)
            return str(root), self.config.volumes_dir or str(root / "volumes")
        return str(self.config.data_dir or DEFAULT_DATA_DIR), self.config.volumes_dir

    def _info(self) -> datasets.DatasetInfo:
        self.config.validate()
        features = qa_features()
        _, volumes_dir = self._resolved_dirs() if self.config.demo else (None, self.config.volumes_dir)
        if volumes_dir is not None:
            features["volume"] = datasets.Nifti() if self.config.volume_format == "nifti" else datasets.Value("string")
            if self.config.prior_volumes:
                features["prior_volumes"] = prior_volumes_feature(self.config.volume_format)
        if self.config.metadata_files:
            features.update(metadata_features())
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=features,
            homepage="https://github.com/Tang-xiaoxiao/3D-RAD",
            license="MIT (QA tables); CT-RATE volumes: CC-BY-NC-SA 4.0",
            citation=CITATION,
        )

    def _first_table(self, data_dir: str) -> str:
        """A table of this config that a complete copy of 3D-RAD holds (test first), for messages."""
        splits = get_config(self.config.name).splits
        return source_files(data_dir, "test" if "test" in splits else splits[0], self.config.name)[0].path

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        data_dir, volumes_dir = self._resolved_dirs()
        if self.config.prior_volumes and volumes_dir is None:
            raise ValueError("prior_volumes=True needs volumes: pass volumes_dir (or demo=True)")
        generators = []
        header_only: list[list[SourceFile]] = []
        for split in get_config(self.config.name).splits:
            if self.config.splits is not None and split not in self.config.splits:
                continue
            sources = source_files(data_dir, split, self.config.name)
            present = [s for s in sources if table_exists(s.path)]
            if not present:
                # An evaluation-only copy of 3D-RAD holds test/ alone: offer the splits that are there.
                logger.info("no %s tables under %s: the %s split is left out", split, data_dir, split)
                continue
            if len(present) < len(sources):
                missing = "\n  ".join(s.path for s in sources if s not in present)
                raise FileNotFoundError(
                    f"config {self.config.name!r}, split {split!r}: missing QA tables:\n  {missing}"
                )
            if not any(has_rows(s) for s in sources):
                # datasets would fail on such a split with "Instruction ... corresponds to no data": name the tables.
                header_only.append(sources)
                logger.warning("%s: the %s split is left out", header_only_error(sources), split)
                continue
            generators.append(
                datasets.SplitGenerator(
                    name=split, gen_kwargs={"sources": sources, "data_dir": data_dir, "volumes_dir": volumes_dir}
                )
            )
        if not generators and header_only:
            raise header_only_error(header_only[0])
        if not generators:
            raise FileNotFoundError(
                f"no 3D-RAD tables for config {self.config.name!r} under {data_dir}; expected e.g. "
                f"{self._first_table(data_dir)} (the published CSVs: {DEFAULT_DATA_DIR})"
            )
        return generators

    def _generate_tables(
        self, sources: list[SourceFile], data_dir: str, volumes_dir: str | None
    ) -> Iterator[tuple[str, pa.Table]]:
        locator = VolumeLocator(volumes_dir, self.config.volume_format) if volumes_dir is not None else None
        files = self.config.metadata_files
        metadata = CTRateMetadata.from_csv(*([files] if isinstance(files, str) else files)) if files else None
        schema = self.info.features.arrow_schema
        priors: dict[str, list[str]] = {}
        for source in sources:
            index = split_volume_index(data_dir, source.split, self.config.content_digest)
            columns = read_table_columns(source)
            add_prior_volume_names(columns, index, priors)
            if locator is not None:
                columns = self._attach_volumes(columns, locator, source)
            if metadata is not None:
                fields = [metadata_fields({"volume_name": stem}, metadata) for stem in columns["volume_name"]]
                columns.update({key: [f[key] for f in fields] for key in metadata_features()})
            yield source.path, pa.Table.from_pydict(columns, schema=schema)

    def _attach_volumes(self, columns: dict[str, list], locator: VolumeLocator, source: SourceFile) -> dict[str, list]:
        paths = [locator.locate(stem) for stem in columns["volume_name"]]
        keep = [i for i, path in enumerate(paths) if path is not None]
        if len(keep) < len(paths):
            first = next(i for i, path in enumerate(paths) if path is None)
            stem = columns["volume_name"][first]
            if self.config.missing_volumes == "error":
                raise FileNotFoundError(
                    f"volume {stem} of question {columns['id'][first]} ({source.path}) not found; looked for "
                    f"{locator.describe_search(stem)}. Pass missing_volumes='skip' to drop such questions."
                )
            logger.warning(
                "skipped %d of %d questions of %s whose volume is not under %s (missing_volumes='skip'), first: %s",
                len(paths) - len(keep),
                len(paths),
                source.path,
                locator.volumes_dir,
                columns["id"][first],
            )
            columns = {name: [values[i] for i in keep] for name, values in columns.items()}
            paths = [paths[i] for i in keep]
        if self.config.volume_format == "nifti":
            columns["volume"] = [{"bytes": None, "path": path} for path in paths]
        else:
            columns["volume"] = paths
        if self.config.prior_volumes:
            columns["prior_volumes"] = prior_volumes_column(
                columns, locator.locate, volume_format=self.config.volume_format,
                missing=self.config.missing_volumes, source=source.path,
            )  # fmt: skip
        return columns
