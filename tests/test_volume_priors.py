"""Earlier scans and CT-RATE metadata attached by the builder, on the demo source and on a written table."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf import M3DTransform
from rad3d_hf.data.prior_volumes import prior_volume_paths
from rad3d_hf.data.volume_names import parse_volume_name
from tests.conftest import demo_under
from tests.qa_table_files import closed_row, write_table
from tests.volume_fixtures import ct_like, metadata_csv, metadata_row, write_nifti

SIZE = (4, 16, 16)


def _load(**kwargs):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    return load_dataset("3d-rad", **kwargs)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo_home")
    demo_under(home)
    return home


@pytest.mark.parametrize("streaming", [False, True])
def test_demo_task6_rows_carry_earlier_volumes(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, streaming: bool
) -> None:
    monkeypatch.setenv("HF_HOME", str(demo_home))
    rows = list(
        _load(name="task6", split="test", demo=True, prior_volumes=True, streaming=streaming,
              cache_dir=str(demo_home / "cache"))
    )  # fmt: skip
    assert rows
    for row in rows[:20]:
        assert len(row["prior_volumes"]) == len(row["prior_volume_names"]) >= 1
        for image, name in zip(row["prior_volumes"], row["prior_volume_names"]):
            assert isinstance(image.dataobj, nib.arrayproxy.ArrayProxy)  # lazy, like volume
            assert image.get_filename().endswith(f"{name}.nii.gz")
        scans = [parse_volume_name(n).scan for n in row["prior_volume_names"]]
        assert scans == sorted(scans) and scans[-1] < row["scan"]  # oldest first, all earlier
    out = M3DTransform(size=SIZE)(rows[0])
    assert out["volume"].shape == (1, *SIZE) and len(out["prior_volumes"]) == len(rows[0]["prior_volume_names"])


def test_prior_volumes_need_volumes(tmp_path: Path) -> None:
    write_table(
        tmp_path / "tables",
        "test",
        4,
        "Lung nodule",
        [closed_row(4, "Lung nodule", "test", "test_7_b_1.nii.gz", "Q?", "B")],
    )
    with pytest.raises(ValueError, match="prior_volumes=True needs volumes"):
        _load(name="task4_lung_nodule", split="test", data_dir=str(tmp_path / "tables"), prior_volumes=True,
              cache_dir=str(tmp_path / "cache"))  # fmt: skip


def test_missing_earlier_volume_is_an_error_or_an_explicit_skip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [closed_row(4, "Lung nodule", "test", f"{v}.nii.gz", "Q?", "B") for v in ("test_7_a_1", "test_7_b_1")]
    write_table(tmp_path / "tables", "test", 4, "Lung nodule", rows)
    (tmp_path / "vol").mkdir()
    write_nifti(tmp_path / "vol" / "test_7_b_1.nii.gz", ct_like())  # test_7_a_1 is absent
    kwargs = dict(name="task4_lung_nodule", split="test", data_dir=str(tmp_path / "tables"),
                  volumes_dir=str(tmp_path / "vol"), prior_volumes=True)  # fmt: skip
    with pytest.raises(Exception) as caught:
        _load(**kwargs, cache_dir=str(tmp_path / "c1"))
    chain, error = [], caught.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("test_7_a_1" in part for part in chain)
    with caplog.at_level(logging.WARNING):
        ds = _load(**kwargs, missing_volumes="skip", cache_dir=str(tmp_path / "c2"))
    assert [r["prior_volumes"] for r in ds] == [[]]  # the question whose own volume is absent is skipped too
    assert "test_7_a_1" in caplog.text


def test_prior_volume_paths() -> None:
    located = {"test_1_a_1": "/v/test_1_a_1.nii.gz"}
    assert prior_volume_paths(["test_1_a_1"], located.get, question_id="q") == (["/v/test_1_a_1.nii.gz"], [])
    assert prior_volume_paths(["test_1_a_1", "test_1_b_1"], located.get, question_id="q", missing="skip") == (
        ["/v/test_1_a_1.nii.gz"],
        ["test_1_b_1"],
    )
    with pytest.raises(FileNotFoundError, match="earlier volume test_1_b_1 of question q7 not found"):
        prior_volume_paths(["test_1_b_1"], located.get, question_id="q7")


@pytest.mark.parametrize("as_list", [False, True])
def test_builder_adds_ctrate_metadata(tmp_path: Path, as_list: bool) -> None:
    row = closed_row(4, "Lung nodule", "test", "test_7_b_1.nii.gz", "Q?", "B")
    write_table(tmp_path / "tables", "test", 4, "Lung nodule", [row])
    csv = str(metadata_csv(tmp_path, metadata_row("valid_7_b_1.nii.gz", xy="[0.5, 0.6]")))
    ds = _load(name="task4_lung_nodule", split="test", data_dir=str(tmp_path / "tables"),
               metadata_files=[csv] if as_list else csv, cache_dir=str(tmp_path / "cache"))  # fmt: skip
    row = ds[0]
    assert row["spacing"] == pytest.approx([0.5, 0.6, 1.5])
    assert (row["rescale_slope"], row["rescale_intercept"], row["patient_age"]) == (1.0, -1024.0, "066Y")
    np.testing.assert_equal(ds.features["spacing"].length, 3)


def test_demo_rows_through_collate_in_two_workers(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from torch.utils.data import DataLoader

    monkeypatch.setenv("HF_HOME", str(demo_home))
    ds = _load(name="task6", split="test", demo=True, prior_volumes=True, cache_dir=str(demo_home / "cache"))
    transform = M3DTransform(size=SIZE)
    subset = ds.select(range(4))
    batches = list(DataLoader(subset, batch_size=2, num_workers=2, collate_fn=transform.collate))
    assert [b["id"] for b in batches] == [subset["id"][:2], subset["id"][2:]]
    assert batches[0]["volume"].shape == (2, 1, *SIZE) and batches[0]["volume"].dtype == torch.float32
    for batch in batches:
        for priors, names in zip(batch["prior_volumes"], batch["prior_volume_names"]):
            assert priors.shape == (len(names), 1, *SIZE)
    ready = ds.with_transform(transform)[0]
    assert torch.equal(torch.from_numpy(ready["volume"]), batches[0]["volume"][0])
