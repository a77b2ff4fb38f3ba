"""A split's rows: every table of a config read into the package's schema, with each row's earlier scans.

:func:`read_rows` reads a config's tables (each checked by :mod:`rad3d_hf.data.tables`) and adds
``prior_volume_names``, the patient's earlier scans in the split, from an index of every volume the split's tables
name (:func:`split_volume_index`, cached per content digest).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv

from rad3d_hf.data.catalogue import CSV_HEADER
from rad3d_hf.data.tables import (
    DEFAULT_DATA_DIR,
    SourceFile,
    declared_empty,
    empty_table_error,
    read_table_columns,
    rows_of,
    source_files,
    table_exists,
    table_volume_name,
    tables_digest,
)
from rad3d_hf.data.volume_names import VolumeName, parse_volume_name

__all__ = ["add_prior_volume_names", "prior_volume_names", "read_rows", "split_volume_index", "table_volume_stems"]


def _volume_stems(source: SourceFile) -> list[str]:
    """The volume stems a table names ([] when the table is absent), for the split's earlier-scan index.

    Arrow reads every column (as strings, which also checks the text is UTF-8 and every row has the header's fields)
    in a fraction of the time of the validating reader. Whenever that read, the header or any name is not as
    published, the table goes through :func:`read_table_columns`, which raises the error naming file, line and
    column: no table silently contributes fewer (or other) names than it holds."""
    if not table_exists(source.path):
        return []  # a table the user does not have holds no earlier scans to point at
    fs, inner = fsspec.core.url_to_fs(source.path)
    options = pa_csv.ConvertOptions(column_types=dict.fromkeys(CSV_HEADER, pa.string()))
    try:
        with fs.open(inner, "rb") as handle:
            table = pa_csv.read_csv(handle, convert_options=options)
    except (OSError, pa.ArrowInvalid, KeyError):
        table = None
    if table is not None and tuple(table.column_names) == CSV_HEADER and table.num_rows:
        names = set(table.column("VolumeName").to_pylist())
        try:
            parsed = [table_volume_name(v) for v in names if isinstance(v, str)]
        except ValueError:
            parsed = []
        if len(parsed) == len(names) and all(p.split == source.split for p in parsed):
            return [p.stem for p in parsed]
    return read_table_columns(source)["volume_name"]


def table_volume_stems(sources: Iterable[SourceFile]) -> set[str]:
    """The distinct volume stems the present tables among ``sources`` name (read fast; errors name the table)."""
    stems: set[str] = set()
    for source in sources:
        stems.update(_volume_stems(source))
    return stems


def split_volume_index(data_dir: str, split: str, digest: str | None = None) -> dict[int, dict[str, tuple[int, ...]]]:
    """Every volume named anywhere in a split's tables: patient -> scan letter -> reconstructions (sorted).

    Tables absent from ``data_dir`` are left out, so a folder holding only some tasks still loads; a table that is
    present but cannot be read is a :class:`QATableError` naming it, whichever config is being read. The index is
    cached per ``digest`` (:func:`tables_digest` of the split, computed when not given), so edited tables are read
    again."""
    return _split_volume_index(data_dir, split, digest or tables_digest(data_dir, (split,)))


@functools.lru_cache(maxsize=8)
def _split_volume_index(data_dir: str, split: str, digest: str) -> dict[int, dict[str, tuple[int, ...]]]:
    stems = table_volume_stems(source_files(data_dir, split, "all"))
    found: dict[int, dict[str, set[int]]] = {}
    for stem in stems:
        name = parse_volume_name(stem)
        found.setdefault(name.patient_id, {}).setdefault(name.scan, set()).add(name.reconstruction)
    return {pid: {scan: tuple(sorted(recs)) for scan, recs in scans.items()} for pid, scans in found.items()}


def prior_volume_names(name: VolumeName, index: dict[int, dict[str, tuple[int, ...]]]) -> list[str]:
    """Earlier scans of the same patient in the split, oldest first: one volume per earlier scan letter, the same
    reconstruction number when that scan has it, else its lowest."""
    out = []
    for scan, recs in sorted(index.get(name.patient_id, {}).items()):
        if scan >= name.scan:
            continue
        rec = name.reconstruction if name.reconstruction in recs else recs[0]
        out.append(VolumeName(name.split, name.patient_id, scan, rec).stem)
    return out


def add_prior_volume_names(
    columns: dict[str, list[Any]], index: dict[int, dict[str, tuple[int, ...]]], cache: dict[str, list[str]]
) -> None:
    """Add the ``prior_volume_names`` column to a table's columns; ``cache`` (stem -> names) is shared by a split's
    tables, since a volume carries up to 18 questions."""
    for stem in set(columns["volume_name"]) - cache.keys():
        cache[stem] = prior_volume_names(parse_volume_name(stem), index)
    columns["prior_volume_names"] = [cache[stem] for stem in columns["volume_name"]]


def read_rows(data_dir: str | None, split: str, config: str = "all") -> Iterator[dict[str, Any]]:
    """Rows of ``config`` in ``split`` in the package's schema (no ``volume``), in catalogue and file order.

    A table with a header and no rows is an error naming it (every published table holds questions, so such a file
    is a failed download), unless the folder declares it empty (:func:`declared_empty`)."""
    data_dir = str(data_dir or DEFAULT_DATA_DIR)
    index = split_volume_index(data_dir, split)
    priors: dict[str, list[str]] = {}
    declared: frozenset[str] | None = None
    for source in source_files(data_dir, split, config):
        columns = read_table_columns(source)
        if not columns["id"]:
            declared = declared_empty(data_dir) if declared is None else declared
            if source.path not in declared:
                raise empty_table_error([source])
        add_prior_volume_names(columns, index, priors)
        yield from rows_of(columns)
