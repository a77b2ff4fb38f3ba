"""CT-RATE metadata under bad input: duplicates and impossible spacing are errors naming file, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rad3d_hf.data.ctrate_metadata import CTRateMetadata
from tests.volume_fixtures import metadata_csv, metadata_row


def test_a_volume_listed_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = metadata_csv(
        tmp_path,
        metadata_row("valid_1_a_1.nii.gz"),
        metadata_row("valid_2_a_1.nii.gz"),
        metadata_row("valid_1_a_1.nii.gz", intercept="0"),
    )
    with pytest.raises(
        ValueError, match=r"validation_metadata.csv, line 4, column VolumeName: 'valid_1_a_1.nii.gz' .*line 2"
    ):
        CTRateMetadata.from_csv(path)


def test_a_volume_listed_in_two_files_is_an_error(tmp_path: Path) -> None:
    first = metadata_csv(tmp_path, metadata_row("valid_1_a_1.nii.gz"))
    (tmp_path / "b").mkdir()
    second = metadata_csv(tmp_path / "b", metadata_row("valid_1_a_1.nii.gz"))
    with pytest.raises(ValueError, match=rf"{second}, line 2, column VolumeName: .*{first}, line 2"):
        CTRateMetadata.from_csv(first, second)


@pytest.mark.parametrize(
    ("xy", "z", "column"),
    [
        ("[0.5, NaN]", "1.5", "XYSpacing"),
        ("[0.5, 0]", "1.5", "XYSpacing"),
        ("[-0.5, 0.5]", "1.5", "XYSpacing"),
        ("[0.5, Infinity]", "1.5", "XYSpacing"),
        ("[0.5, 0.5, 0.5]", "1.5", "XYSpacing"),
        ("[0.5, 0.5]", "nan", "ZSpacing"),
        ("[0.5, 0.5]", "0", "ZSpacing"),
        ("[0.5, 0.5]", "-1.5", "ZSpacing"),
    ],
)
def test_spacing_must_be_finite_and_positive(tmp_path: Path, xy: str, z: str, column: str) -> None:
    row = metadata_row("valid_1_a_1.nii.gz", xy=xy).replace(",1.5,", f",{z},")
    path = metadata_csv(tmp_path, row)
    with pytest.raises(ValueError, match=rf"validation_metadata.csv, line 2, column {column}"):
        CTRateMetadata.from_csv(path)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("NumberofSlices", "forty"),
        ("NumberofSlices", "251.5"),
        ("NumberofSlices", "-3"),
        ("NumberofSlices", "inf"),
        ("RescaleSlope", "one"),
        ("RescaleIntercept", "-1024 HU"),
    ],
)
def test_every_malformed_number_names_file_line_and_column(tmp_path: Path, column: str, value: str) -> None:
    good = metadata_row("valid_1_a_1.nii.gz")
    bad = metadata_row("valid_2_a_1.nii.gz")
    fields = bad.split(",")
    # XYSpacing's quoted "[x, y]" holds a comma: find the column's place in the header and shift past it
    from tests.volume_fixtures import METADATA_HEADER

    index = METADATA_HEADER.split(",").index(column)
    index += 1 if index > METADATA_HEADER.split(",").index("XYSpacing") else 0
    fields[index] = value
    path = metadata_csv(tmp_path, good, ",".join(fields))
    with pytest.raises(ValueError, match=rf"validation_metadata.csv, line 3, column {column}: .*{re.escape(value)}"):
        CTRateMetadata.from_csv(path)
