"""Volumes attach by name (flat or CT-RATE layout), decode lazily, and a missing one is an error or an explicit skip."""

from __future__ import annotations

import logging
import pickle

import nibabel as nib
import numpy as np
import pytest

from tests.qa_table_files import closed_row, write_table

Q = "Does the CT show a lung nodule?"
VOLUMES = ("test_7_a_1", "test_7_b_1", "test_8_a_1")


def _tables(root):
    rows = [closed_row(4, "Lung nodule", "test", f"{v}.nii.gz", Q, "B") for v in VOLUMES]
    write_table(root, "test", 4, "Lung nodule", rows)


def _nifti(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(-1000, 1000, size=(6, 5, 4), dtype=np.int16)
    nib.save(nib.Nifti1Image(data, np.diag([0.7, 0.7, 1.5, 1.0])), path)
    return data


def error_chain(error: BaseException) -> str:
    """datasets wraps generation errors; the message that matters is the cause's."""
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__ or error.__context__
    return " <- ".join(parts)


def _load(tmp_path, streaming=False, **kwargs):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    return load_dataset(
        "3d-rad", "task4_lung_nodule", split="test", data_dir=str(tmp_path / "tables"),
        cache_dir=str(tmp_path / "cache"), streaming=streaming, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("layout", ["flat", "ctrate"])
def test_volumes_attach_lazily(tmp_path, layout, streaming):
    _tables(tmp_path / "tables")
    expected = {}
    for seed, stem in enumerate(VOLUMES):
        if layout == "flat":
            path = tmp_path / "vol" / f"{stem}.nii.gz"
        else:  # CT-RATE names test_* volumes valid_* and nests them by patient and scan
            _, pid, scan, rec = stem.split("_")
            path = (
                tmp_path
                / "vol"
                / "valid_fixed"
                / f"valid_{pid}"
                / f"valid_{pid}_{scan}"
                / f"valid_{pid}_{scan}_{rec}.nii.gz"
            )
        expected[stem] = _nifti(path, seed)
    ds = _load(tmp_path, streaming=streaming, volumes_dir=str(tmp_path / "vol"))
    rows = list(ds)
    assert [r["volume_name"] for r in rows] == list(VOLUMES)
    for row in rows:
        image = row["volume"]
        assert isinstance(image, nib.Nifti1Image)
        assert isinstance(image.dataobj, nib.arrayproxy.ArrayProxy), "reading a row must not read voxels"
        assert image.shape == (6, 5, 4)
        assert image.header.get_zooms() == pytest.approx((0.7, 0.7, 1.5))
        clone = pickle.loads(pickle.dumps(image))  # DataLoader workers receive rows this way
        np.testing.assert_array_equal(np.asanyarray(clone.dataobj), expected[row["volume_name"]])
    assert rows[1]["prior_volume_names"] == ["test_7_a_1"]


def test_a_missing_volume_is_named(tmp_path):
    _tables(tmp_path / "tables")
    _nifti(tmp_path / "vol" / "test_7_a_1.nii.gz", 0)
    with pytest.raises(Exception) as info:
        _load(tmp_path, volumes_dir=str(tmp_path / "vol"))
    message = error_chain(info.value)
    # every absent volume of the table is listed, with the first question that needs one
    assert "2 volumes of 2 questions" in message and "test_7_b_1, test_8_a_1" in message
    assert "first question test/task4/lung_nodule/000001" in message
    assert "are not under" in message and "missing_volumes='skip'" in message


def test_skipping_missing_volumes_is_explicit_and_counted(tmp_path, caplog):
    _tables(tmp_path / "tables")
    _nifti(tmp_path / "vol" / "test_7_a_1.nii.gz", 0)
    with caplog.at_level(logging.WARNING, logger="rad3d_hf.data.builder"):
        ds = _load(tmp_path, volumes_dir=str(tmp_path / "vol"), missing_volumes="skip")
    assert ds["volume_name"] == ["test_7_a_1"]
    assert "skipped 2 of 3 questions" in caplog.text


def test_npy_volumes_attach_as_paths(tmp_path):
    _tables(tmp_path / "tables")
    for stem in VOLUMES:
        (tmp_path / "npy").mkdir(exist_ok=True)
        np.save(tmp_path / "npy" / f"{stem}.npy", np.zeros((1, 4, 8, 8), np.float32))
    ds = _load(tmp_path, volumes_dir=str(tmp_path / "npy"), volume_format="npy")
    assert [p.rsplit("/", 1)[-1] for p in ds["volume"]] == [f"{s}.npy" for s in VOLUMES]


def test_qa_only_rows_have_no_volume_column(tmp_path):
    _tables(tmp_path / "tables")
    assert "volume" not in _load(tmp_path).column_names


def test_bad_config_values_are_refused(tmp_path):
    _tables(tmp_path / "tables")
    with pytest.raises(ValueError, match="volume_format='dicom'"):
        _load(tmp_path, volumes_dir=str(tmp_path), volume_format="dicom")
    with pytest.raises(ValueError, match="missing_volumes='ignore'"):
        _load(tmp_path, volumes_dir=str(tmp_path), missing_volumes="ignore")


def test_a_volume_found_twice_is_an_error(tmp_path):
    _tables(tmp_path / "tables")
    _nifti(tmp_path / "vol" / "a" / "test_7_a_1.nii.gz", 0)
    _nifti(tmp_path / "vol" / "b" / "test_7_a_1.nii.gz", 1)
    with pytest.raises(Exception) as info:
        _load(tmp_path, volumes_dir=str(tmp_path / "vol"))
    assert "test_7_a_1 found twice" in error_chain(info.value)


def test_a_split_with_no_tables_is_left_out_but_a_partial_one_is_an_error(tmp_path):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    _tables(tmp_path / "tables")
    assert list(_load(tmp_path, streaming=False).features)[:1] == ["id"]
    ds = load_dataset("3d-rad", "task4_lung_nodule", data_dir=str(tmp_path / "tables"), cache_dir=str(tmp_path / "c"))
    assert list(ds) == ["test"]
    with pytest.raises(FileNotFoundError, match=r"(?s)split 'test': missing QA tables:\n.*Atelectasis\.csv"):
        load_dataset("3d-rad", "task4", data_dir=str(tmp_path / "tables"), cache_dir=str(tmp_path / "c"))


def test_streaming_shards_by_file_across_dataloader_workers(tmp_path):
    import torch.utils.data
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    q = "Does the CT show {}?"
    from rad3d_hf.data.catalogue import FINDINGS

    for finding in FINDINGS:
        rows = [closed_row(4, finding, "test", f"test_{i}_a_1.nii.gz", q.format(finding), "B") for i in range(5)]
        write_table(tmp_path / "tables", "test", 4, finding, rows)
    ds = load_dataset("3d-rad", "task4", split="test", data_dir=str(tmp_path / "tables"), streaming=True)
    assert ds.num_shards == 18
    ds = load_dataset("3d-rad", "task4", split="test", data_dir=str(tmp_path / "tables"), streaming=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    ids = [row["id"] for row in loader]
    assert len(ids) == 90 and len(set(ids)) == 90
