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
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import datasets
import pyarrow as pa

from rad3d_hf import __version__
from rad3d_hf.data.catalogue import CITATION, CONFIGS, get_config
from rad3d_hf.data.ctrate_metadata import CTRateMetadata, metadata_features, metadata_fields
from rad3d_hf.data.prior_volumes import prior_volumes_column, prior_volumes_feature
from rad3d_hf.data.rows import add_prior_volume_names, split_volume_index
from rad3d_hf.data.split_volumes import no_split_error, no_volumes_reason
from rad3d_hf.data.tables import (
    DEFAULT_DATA_DIR,
    SourceFile,
    declared_empty,
    empty_table_error,
    file_digest,
    has_rows,
    header_only_error,
    read_table_columns,
    source_files,
    table_exists,
    tables_digest,
)
from rad3d_hf.volumes.locator import VolumeFormat, VolumeLocator, check_format_choice

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
        volume_format: ``"auto"`` (default: the format ``volumes_dir`` holds, resolved when the builder is made),
            ``"nifti"`` (``.nii.gz``/``.nii``, a lazy ``datasets.Nifti`` column) or ``"npy"`` (a path column; the
            release's ``Images/test.zip`` and ``rad3d-hf preprocess`` folders hold ``.npy``).
        missing_volumes: ``"error"`` (default) raises on a table whose questions' volumes are partly absent, listing
            them; ``"skip"`` drops such questions and logs how many were skipped. Either way a split none of whose
            volumes is under ``volumes_dir`` is left out with a logged line (the published archive holds the test
            volumes alone), and no volume of any split is an error saying what the folder holds.
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
    volume_format: str = "auto"
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
        check_format_choice(self.volume_format)
        _check_missing_volumes(self.missing_volumes)
        if self.splits is not None:
            if isinstance(self.splits, str):
                self.splits = (self.splits,)
            unknown = [s for s in self.splits if s not in ("train", "test")]
            if unknown or not self.splits:
                raise ValueError(f"splits={self.splits!r}; expected a non-empty selection of 'train' and 'test'")
            self.splits = tuple(self.splits)


def _check_missing_volumes(value: Any) -> None:
    if value not in ("error", "skip"):
        raise ValueError(f"missing_volumes={value!r}; expected 'error' or 'skip'")


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
        # "auto" becomes the format the folder holds here, so the cache key (and the volume column's type) follows
        # what is on disk: a folder turned from NIfTI into .npy is never served from the NIfTI cache.
        check_format_choice(config_kwargs.get("volume_format", "auto"))
        _check_missing_volumes(config_kwargs.get("missing_volumes", "error"))
        if config_kwargs.get("volume_format", "auto") == "auto":
            volumes_dir = config_kwargs.get("volumes_dir")
            if volumes_dir is None and config_kwargs.get("demo"):
                volumes_dir = os.path.join(str(config_kwargs["data_dir"]), "volumes")
            if volumes_dir is not None:
                config_kwargs["volume_format"] = self._locator(str(volumes_dir)).volume_format
        return super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)

    def _resolved_dirs(self) -> tuple[str, str | None]:
        if self.config.demo:
            from rad3d_hf.demo import ensure_demo_data

            root = ensure_demo_data(self.config.data_dir, seed=self.config.demo_seed)
            return str(root), self.config.volumes_dir or str(root / "volumes")
        return str(self.config.data_dir or DEFAULT_DATA_DIR), self.config.volumes_dir

    def _locator(self, volumes_dir: str) -> VolumeLocator:
        """The folder's locator, listed once per builder: resolving "auto", choosing the splits and attaching the
        volumes all read the same listing (a remote folder is not listed three times)."""
        locators: dict[str, VolumeLocator] = self.__dict__.setdefault("_locators", {})
        if volumes_dir not in locators:
            locators[volumes_dir] = VolumeLocator(volumes_dir)
        return locators[volumes_dir]

    def _volume_format(self, volumes_dir: str) -> VolumeFormat:
        """The config's format; "auto" (a config made without the builder) is resolved from the folder."""
        if self.config.volume_format == "auto":
            self.config.volume_format = self._locator(volumes_dir).volume_format
        return self.config.volume_format  # type: ignore[return-value]

    def _config_locator(self, volumes_dir: str) -> VolumeLocator:
        """The locator in the config's format (resolved, or given), over the one listing."""
        return self._locator(volumes_dir).with_format(self._volume_format(volumes_dir))

    def _info(self) -> datasets.DatasetInfo:
        self.config.validate()
        features = qa_features()
        _, volumes_dir = self._resolved_dirs() if self.config.demo else (None, self.config.volumes_dir)
        if volumes_dir is not None:
            volume_format = self._volume_format(volumes_dir)
            features["volume"] = datasets.Nifti() if volume_format == "nifti" else datasets.Value("string")
            if self.config.prior_volumes:
                features["prior_volumes"] = prior_volumes_feature(volume_format)
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
        locator = self._config_locator(volumes_dir) if volumes_dir is not None else None
        generators = []
        header_only: list[list[SourceFile]] = []
        no_volumes: list[str] = []
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
            empty = [s for s in sources if not has_rows(s)]
            if len(empty) == len(sources):
                # datasets would fail on such a split with "Instruction ... corresponds to no data": name the tables.
                header_only.append(sources)
                logger.warning("%s: the %s split is left out", header_only_error(sources), split)
                continue
            if empty:  # the demo declares the subtasks it leaves empty in its manifest
                declared = declared_empty(data_dir)
                if failed := [s for s in empty if s.path not in declared]:
                    raise empty_table_error(failed)
            if locator is not None:
                # The published archive holds the test volumes alone: a split none of whose volumes is there is left
                # out (as a split whose tables are absent), so split="test" loads; a split with some is kept, and its
                # missing volumes are errors (or skipped) where its tables are read.
                reason = self._no_volumes_reason(locator, sources, split)
                if reason is not None:
                    no_volumes.append(reason)
                    logger.warning("%s: the %s split is left out", reason, split)
                    continue
            generators.append(
                datasets.SplitGenerator(
                    name=split, gen_kwargs={"sources": sources, "data_dir": data_dir, "volumes_dir": volumes_dir}
                )
            )
        if not generators and no_volumes and locator is not None:
            raise no_split_error(locator, no_volumes)
        if not generators and header_only:
            raise header_only_error(header_only[0])
        if not generators:
            raise FileNotFoundError(
                f"no 3D-RAD tables for config {self.config.name!r} under {data_dir}; expected e.g. "
                f"{self._first_table(data_dir)} (the published CSVs: {DEFAULT_DATA_DIR})"
            )
        return generators

    def _no_volumes_reason(self, locator: VolumeLocator, sources: list[SourceFile], split: str) -> str | None:
        return no_volumes_reason(locator, sources, split, f"config {self.config.name!r}")

    def _left_out_reason(self, split: str) -> str | None:
        """Why a split this config offers has no prepared data (its volumes are absent), for datasets' error."""
        data_dir, volumes_dir = self._resolved_dirs()
        if volumes_dir is None or split not in get_config(self.config.name).splits:
            return None
        sources = [s for s in source_files(data_dir, split, self.config.name) if table_exists(s.path)]
        if not sources:
            return None
        return self._no_volumes_reason(self._config_locator(volumes_dir), sources, split)

    def _explained(self, error: ValueError, split: Any) -> ValueError:
        reason = self._left_out_reason(str(split)) if isinstance(split, (str, datasets.Split)) else None
        if reason is None:
            return error
        return ValueError(f"{error} The {split} split was left out: {reason}.")

    def as_dataset(self, split: Any = None, in_memory: bool = False) -> Any:
        try:
            return super().as_dataset(split=split, in_memory=in_memory)
        except ValueError as error:
            raise self._explained(error, split) from error

    def as_streaming_dataset(self, split: Any = None, base_path: str | None = None) -> Any:
        try:
            return super().as_streaming_dataset(split=split, base_path=base_path)
        except ValueError as error:
            raise self._explained(error, split) from error

    def _generate_tables(
        self, sources: list[SourceFile], data_dir: str, volumes_dir: str | None
    ) -> Iterator[tuple[str, pa.Table]]:
        locator = self._config_locator(volumes_dir) if volumes_dir is not None else None
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
            absent = list(dict.fromkeys(stem for stem, path in zip(columns["volume_name"], paths) if path is None))
            first = next(i for i, path in enumerate(paths) if path is None)
            if self.config.missing_volumes == "error":
                shown = ", ".join(absent[:10]) + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
                raise FileNotFoundError(
                    f"{len(absent)} volumes of {len(paths) - len(keep)} questions of {source.path} are not under "
                    f"{locator.volumes_dir}: {shown} (first question {columns['id'][first]}); looked for "
                    f"{locator.describe_search(absent[0])}. Pass missing_volumes='skip' to drop such questions."
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
        if locator.volume_format == "nifti":
            columns["volume"] = [{"bytes": None, "path": path} for path in paths]
        else:
            columns["volume"] = paths
        if self.config.prior_volumes:
            columns["prior_volumes"] = prior_volumes_column(
                columns, locator.locate, volume_format=locator.volume_format,
                missing=self.config.missing_volumes, source=source.path,
            )  # fmt: skip
        return columns
