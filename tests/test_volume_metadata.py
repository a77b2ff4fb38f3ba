"""CT-RATE metadata: reading the CSV, the rule for applying slope/intercept, and the row fields it adds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rad3d_hf.data.ctrate_metadata import (
    CTRateMetadata,
    metadata_features,
    metadata_fields,
    rescale_decision,
    to_hounsfield,
)
from rad3d_hf.volumes.decode import read_volume, read_volume_header
from tests.volume_fixtures import ct_like, metadata_csv, metadata_row


def test_reads_ctrate_csv_and_maps_test_names(tmp_path: Path) -> None:
    path = metadata_csv(tmp_path, metadata_row("valid_1_a_1.nii.gz"), metadata_row("valid_2_b_1.nii.gz"))
    metadata = CTRateMetadata.from_csv(path)
    assert len(metadata) == 2
    record = metadata.lookup("test_1_a_1")
    assert record.spacing == (0.341796875, 0.341796875, 1.5)
    assert (record.rescale_slope, record.rescale_intercept, record.rescale_type) == (1.0, -1024.0, "HU")
    assert (record.manufacturer, record.patient_sex, record.patient_age, record.number_of_slices) == (
        "SIEMENS",
        "M",
        "066Y",
        251,
    )
    assert "valid_2_b_1" in metadata and "test_2_b_1.nii.gz" in metadata and "test_3_a_1" not in metadata
    with pytest.raises(
        KeyError, match=r"'test_3_a_1' \(CT-RATE 'valid_3_a_1'\) is not in the metadata .*validation_metadata.csv"
    ):
        metadata.lookup("test_3_a_1")


def test_bad_csv_values_name_file_line_and_column(tmp_path: Path) -> None:
    path = metadata_csv(tmp_path, metadata_row("valid_1_a_1"), metadata_row("valid_2_a_1", xy="0.5 0.5"))
    with pytest.raises(ValueError, match=r"validation_metadata.csv, line 3, column XYSpacing: '0.5 0.5'"):
        CTRateMetadata.from_csv(path)
    path = metadata_csv(tmp_path, metadata_row("valid_1_a_1", slope="n/a"))
    with pytest.raises(ValueError, match=r"line 2, column RescaleSlope: 'n/a' is not a number"):
        CTRateMetadata.from_csv(path)
    (tmp_path / "other.csv").write_text("VolumeName,Answer\nx,y\n")
    with pytest.raises(ValueError, match=r"other.csv: not a CT-RATE metadata CSV, missing columns"):
        CTRateMetadata.from_csv(tmp_path / "other.csv")


def test_rescale_rule(tmp_path: Path) -> None:
    record = CTRateMetadata.from_csv(metadata_csv(tmp_path, metadata_row("valid_1_a_1")))["valid_1_a_1"]
    hu = ct_like()  # the corrected release: int16 HU with air at -1024
    out, applied = to_hounsfield(hu, record)
    assert not applied and out is hu  # applying -1024 again is the double-rescale bug
    raw = (hu.astype(np.int32) + 1024).astype(np.uint16)  # the same scan as raw scanner values
    out, applied = to_hounsfield(raw, record)
    assert applied and out.dtype == np.float32 and np.array_equal(out, hu.astype(np.float32))
    identity = CTRateMetadata.from_csv(metadata_csv(tmp_path, metadata_row("valid_1_a_1", intercept="0")))[
        "valid_1_a_1"
    ]
    assert rescale_decision(10.0, identity) == (False, "the metadata's slope/intercept are the identity")


def test_rescale_rule_respects_nifti_header_scaling(tmp_path: Path) -> None:
    import gzip

    import nibabel as nib

    record = CTRateMetadata.from_csv(metadata_csv(tmp_path, metadata_row("valid_1_a_1")))["valid_1_a_1"]
    raw = (ct_like().astype(np.int32) + 1024).astype(np.uint16)
    blob = bytearray(nib.Nifti1Image(raw, np.eye(4)).to_bytes())
    blob[112:120] = np.array([1.0, -1024.0], dtype="<f4").tobytes()  # the header scales raw values to HU
    path = tmp_path / "scaled.nii.gz"
    path.write_bytes(gzip.compress(bytes(blob)))
    voxels, header = read_volume(path), read_volume_header(path)
    assert voxels.min() == -1024
    out, applied = to_hounsfield(voxels, record, header=header)
    assert not applied and out is voxels
    decision = rescale_decision(float(voxels.min()), record, header)
    assert decision == (False, "the NIfTI header's own scaling was applied when reading: values are HU")


def test_metadata_fields_and_features(tmp_path: Path) -> None:
    from datasets import Dataset, Features, Value

    metadata = CTRateMetadata.from_csv(metadata_csv(tmp_path, metadata_row("valid_1_a_1")))
    rows = [{"volume_name": "test_1_a_1"}, {"volume_name": "test_9_a_1"}]
    fields = [metadata_fields(rows[0], metadata), metadata_fields(rows[1], metadata, missing="null")]
    assert fields[0]["spacing"] == [0.341796875, 0.341796875, 1.5] and fields[0]["rescale_intercept"] == -1024.0
    assert set(fields[1].values()) == {None}
    with pytest.raises(KeyError, match="test_9_a_1"):
        metadata_fields(rows[1], metadata)
    features = Features({"volume_name": Value("string"), **metadata_features()})
    dataset = Dataset.from_list([{**r, **f} for r, f in zip(rows, fields)], features=features)
    assert dataset[0]["spacing"] == pytest.approx([0.3418, 0.3418, 1.5], abs=1e-4)
    assert dataset[1]["spacing"] is None
