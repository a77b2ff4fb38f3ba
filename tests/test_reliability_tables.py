"""QA tables under bad input: every fault is a QATableError naming file, line and column; nothing is normalised."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rad3d_hf.data.rows import read_rows
from rad3d_hf.data.tables import QATableError
from rad3d_hf.data.volume_names import parse_volume_name
from tests.qa_table_files import closed_row, write_table

Q4 = "Does the CT show a lung nodule?"


def _read(root: Path, config: str = "task4_lung_nodule", split: str = "test") -> list[dict]:
    return list(read_rows(str(root), split, config))


def _task4(root: Path, volumes: list[str]) -> Path:
    rows = [closed_row(4, "Lung nodule", "test", v, Q4, "A") for v in volumes]
    return write_table(root, "test", 4, "Lung nodule", rows)


@pytest.mark.parametrize(
    "name",
    [
        "test_07_a_1",
        "test_7_a_01",
        "test_\u0667_a_1",
        "test_7_a_1\n",
        "test_7_a_1 ",
        " test_7_a_1",
        "test_7_a_1.nii.gz\n",
    ],
    ids=["leading-zero", "leading-zero-rec", "arabic-digit", "newline", "trailing-space", "leading-space", "suffix-nl"],
)
def test_non_canonical_volume_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="volume name"):
        parse_volume_name(name)


def test_canonical_volume_names_still_parse() -> None:
    assert parse_volume_name("test_7_a_1").stem == "test_7_a_1"
    assert parse_volume_name("train_1005_b_2.nii.gz").patient_id == 1005
    assert parse_volume_name("valid_10_c_3.npy").reconstruction == 3


@pytest.mark.parametrize(
    "bad",
    ["test_07_a_1.nii.gz", "test_\u0667_a_1.nii.gz", "test_7_a_1.nii.gz ", "test_7_a_1", "test_7_a_1.nii"],
    ids=["leading-zero", "arabic-digit", "trailing-space", "missing-suffix", "other-suffix"],
)
def test_a_non_canonical_name_in_a_table_names_file_line_and_column(tmp_path: Path, bad: str) -> None:
    path = _task4(tmp_path, ["test_7_a_1.nii.gz", "test_8_a_1.nii.gz", bad])
    with pytest.raises(QATableError, match=r"line 4, column 'VolumeName'") as info:
        _read(tmp_path)
    assert str(path) in str(info.value)


def test_a_malformed_table_of_another_task_is_an_error_not_missing_earlier_scans(tmp_path: Path) -> None:
    # The Task 4 table alone is valid; the Task 5 table of the same split (whose names feed the earlier-scan index)
    # has a row with one field too many. Reading Task 4 must name the broken table instead of dropping its names.
    _task4(tmp_path, ["test_7_c_1.nii.gz"])
    good5 = closed_row(5, "b", "test", "test_7_b_1.nii.gz", "Classify the nodule.", "A")
    broken = write_table(tmp_path, "test", 5, "b", [good5, [*good5, "extra"]])
    with pytest.raises(QATableError, match=r"line 3: row has 12 fields") as info:
        _read(tmp_path)
    assert str(broken) in str(info.value)


def test_a_bad_name_in_another_task_is_an_error_for_every_config(tmp_path: Path) -> None:
    _task4(tmp_path, ["test_7_c_1.nii.gz"])
    broken = write_table(
        tmp_path, "test", 5, "b", [closed_row(5, "b", "test", "test_07_b_1.nii.gz", "Classify the nodule.", "A")]
    )
    with pytest.raises(QATableError, match=r"line 2, column 'VolumeName'") as info:
        _read(tmp_path)
    assert str(broken) in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_table_that_is_not_utf8_names_file_and_line(tmp_path: Path, encoding: str) -> None:
    path = _task4(tmp_path, ["test_7_a_1.nii.gz", "test_8_a_1.nii.gz"])
    text = path.read_text(encoding="utf-8").replace("Does the CT", "Does the CT \u00e9")
    path.write_bytes(text.encode(encoding))
    with pytest.raises(QATableError, match="not UTF-8" + (".*UTF-16" if encoding == "utf-16" else "")) as info:
        _read(tmp_path)
    assert str(path) in str(info.value)
    if encoding == "latin-1":
        assert "line 2" in str(info.value)


def test_a_field_over_the_csv_limit_names_file_and_line(tmp_path: Path) -> None:
    path = _task4(tmp_path, ["test_7_a_1.nii.gz"])
    row = closed_row(4, "Lung nodule", "test", "test_8_a_1.nii.gz", "x" * 200_000, "A")
    write_table(
        tmp_path, "test", 4, "Lung nodule", [closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "A"), row]
    )
    with pytest.raises(QATableError, match="line 3.*field") as info:
        _read(tmp_path)
    assert str(path) in str(info.value)


def test_a_table_path_that_is_a_folder_is_named(tmp_path: Path) -> None:
    path = _task4(tmp_path, ["test_7_a_1.nii.gz"])
    path.unlink()
    path.mkdir()
    with pytest.raises(QATableError, match="is a folder") as info:
        _read(tmp_path)
    assert str(path) in str(info.value)


def test_a_table_path_that_is_a_symlink_loop_is_named(tmp_path: Path) -> None:
    path = _task4(tmp_path, ["test_7_a_1.nii.gz"])
    path.unlink()
    os.symlink(path, path)
    with pytest.raises(QATableError, match="cannot be opened") as info:
        _read(tmp_path)
    assert str(path) in str(info.value)
