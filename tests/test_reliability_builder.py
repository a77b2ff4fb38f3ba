"""The datasets cache never serves rows of tables that have changed since it was built."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.qa_table_files import closed_row, open_row, write_table

Q4 = "Does the CT show a lung nodule?"


def _load(root: Path, cache: Path, config: str = "task4_lung_nodule") -> list[dict]:
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    return list(load_dataset("3d-rad", config, split="test", data_dir=str(root), cache_dir=str(cache)))


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace text with text of the same length and restore the modification time: size and mtime are unchanged."""
    assert len(old) == len(new)
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode()))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


def test_a_table_edited_in_place_is_read_again(tmp_path: Path) -> None:
    table = write_table(
        tmp_path / "tables",
        "test",
        4,
        "Lung nodule",
        [closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "A")],
    )
    cache = tmp_path / "cache"
    assert [r["question"] for r in _load(tmp_path / "tables", cache)] == [Q4]
    _edit_in_place(table, "lung nodule?", "lung cancer?")
    assert [r["question"] for r in _load(tmp_path / "tables", cache)] == ["Does the CT show a lung cancer?"]


def test_another_tasks_table_edited_in_place_updates_earlier_scans(tmp_path: Path) -> None:
    # Task 4's rows carry prior_volume_names drawn from every table of the split, so Task 5's table is in the key too.
    root = tmp_path / "tables"
    write_table(root, "test", 4, "Lung nodule", [closed_row(4, "Lung nodule", "test", "test_7_c_1.nii.gz", Q4, "A")])
    other = write_table(
        root, "test", 1, "Diagnosis", [open_row(1, "Diagnosis", "test", "test_7_a_1.nii.gz", "D?", "E.")]
    )
    cache = tmp_path / "cache"
    assert [r["prior_volume_names"] for r in _load(root, cache)] == [["test_7_a_1"]]
    _edit_in_place(other, "test_7_a_1", "test_7_b_1")
    assert [r["prior_volume_names"] for r in _load(root, cache)] == [["test_7_b_1"]]


def test_a_config_whose_table_has_a_header_but_no_rows_says_so(tmp_path: Path) -> None:
    import pytest

    from rad3d_hf.data.tables import QATableError

    table = write_table(tmp_path / "tables", "test", 4, "Lung nodule", [])
    with pytest.raises(QATableError, match="header but no rows") as info:
        _load(tmp_path / "tables", tmp_path / "cache")
    assert str(table) in str(info.value)


def test_a_split_whose_tables_have_no_rows_is_left_out_and_named(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    root = tmp_path / "tables"
    write_table(root, "test", 4, "Lung nodule", [closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "A")])
    empty = write_table(root, "train", 4, "Lung nodule", [])
    with caplog.at_level(logging.WARNING):
        rows = _load(root, tmp_path / "cache")
    assert [r["question"] for r in rows] == [Q4]
    assert f"{empty}, line 1: the table has a header but no rows" in caplog.text


def test_an_emptied_table_beside_full_ones_is_an_error_naming_it(tmp_path: Path) -> None:
    """A failed download can leave a table with its header alone: the split would load 1,304 questions short."""
    import pytest
    from datasets import load_dataset

    from rad3d_hf.data.catalogue import get_task
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.data.tables import QATableError

    root = tmp_path / "tables"
    for subtask in get_task(4).subtasks_in("test"):
        row = closed_row(4, subtask.name, "test", "test_7_a_1.nii.gz", Q4, "A")
        write_table(root, "test", 4, subtask.name, [] if subtask.name == "Emphysema" else [row])
    emptied = root / "test" / get_task(4).folder / get_task(4).subtask("Emphysema").file_name

    with pytest.raises(QATableError, match="header but no rows.*download it again") as info:
        load_dataset("3d-rad", "task4", split="test", data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    assert str(emptied) in str(info.value)
    with pytest.raises(QATableError, match="header but no rows"):
        list(read_rows(str(root), "test", "task4"))  # what scoring reads
    (root / "manifest.json").write_text(json.dumps({"tables": {"test/Task4_Existence_Detection/Emphysema.csv": 0}}))
    assert len(list(read_rows(str(root), "test", "task4"))) == 17  # a folder may declare a table empty
