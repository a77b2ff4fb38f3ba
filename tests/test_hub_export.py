"""``rad3d-hf export`` on small tables and NIfTIs: plain datasets in a fresh process (no rad3d_hf) gives the builder's
rows, streaming too, with a lazy NIfTI column; volumes are stored once; the card's YAML declares every config; an
interrupted export resumes without duplicate or missing shards."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from rad3d_hf.data.catalogue import CONFIGS, TASKS
from rad3d_hf.hub import export as hub_export
from rad3d_hf.hub.export import MANIFEST_NAME, ExportConflictError, export_dataset
from tests.plain_datasets_loader import load_in_fresh_process, voxels_sha256
from tests.qa_table_files import closed_row, open_row, write_table

UNCOMPRESSED = "test_1_c_1"
TEMPORAL_Q = "Past sequences of lung nodule: {}. (Note: 0 indicates absence, and 1 indicates presence.) Current state?"


def _letter_for(task_number: int, index: int) -> str:
    return "ABCD"[index % len(TASKS[task_number].options)]


def write_every_table(root: Path, split: str, patients: tuple[int, int]) -> set[str]:
    """Every table of ``split``, one or two valid rows each, over few volumes; returns the volume stems used.

    Patient ``patients[0]`` has scans a..q (Task 5/6 files are named by scan letter), ``patients[1]`` one scan."""
    first, second = patients
    stems: set[str] = set()
    for task in TASKS.values():
        for sub in task.subtasks_in(split):
            if task.number in (5, 6):
                volume = f"{split}_{first}_{sub.name}_1"
                scan_index = ord(sub.name) - ord("a")
                history = [(i + scan_index) % 2 for i in range(scan_index)]
                question = TEMPORAL_Q.format(history) if task.number == 6 else "Classify the lung nodule now."
                letter = _letter_for(6, scan_index)
                rows = [closed_row(task.number, sub.name, split, f"{volume}.nii.gz", question, letter)]
            elif task.number == 4:
                rows = [
                    closed_row(4, sub.name, split, f"{split}_{first}_a_1.nii.gz", f"Is there {sub.name}?", "B"),
                    closed_row(4, sub.name, split, f"{split}_{second}_a_1.nii.gz", f"Is there {sub.name}?", "A"),
                ]
            else:
                a, b = f"{split}_{second}_a_1.nii.gz", f"{split}_{first}_a_1.nii.gz"
                rows = [
                    open_row(task.number, sub.name, split, a, f"{sub.name}, what?", "A 4 mm nodule, right."),
                    open_row(task.number, sub.name, split, b, f"{sub.name}, why?", 'Ünïcode, quotes "x", commas'),
                ]
            write_table(root, split, task.number, sub.name, rows)
            stems.update(r[2][: -len(".nii.gz")] for r in rows)
    return stems


def write_volumes(root: Path, stems: set[str]) -> dict[str, np.ndarray]:
    """A tiny int16 NIfTI per stem: test volumes in CT-RATE's nested ``valid_*`` layout, train ones flat; one test
    volume uncompressed (``.nii``), since the exported folder must carry both suffixes."""
    data = {}
    for seed, stem in enumerate(sorted(stems)):
        split, pid, scan, rec = stem.split("_")
        suffix = ".nii" if stem == UNCOMPRESSED else ".nii.gz"
        if split == "test":
            path = root / "valid_fixed" / f"valid_{pid}" / f"valid_{pid}_{scan}" / f"valid_{pid}_{scan}_{rec}{suffix}"
        else:
            path = root / f"{stem}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        array = np.random.default_rng(seed).integers(-1000, 1000, size=(5, 4, 3), dtype=np.int16)
        nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.8, 1.5, 1.0])), path)
        data[stem] = array
    return data


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("source")
    stems = write_every_table(root / "tables", "test", (1, 2)) | write_every_table(root / "tables", "train", (3, 4))
    voxels = write_volumes(root / "volumes", stems)
    return {"tables": root / "tables", "volumes": root / "volumes", "voxels": voxels}


def builder_rows(config: str, split: str, data_dir: Path, cache: Path, volumes_dir: Path | None = None) -> list[dict]:
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (the reference: the package's own builder)

    kwargs = {"volumes_dir": str(volumes_dir)} if volumes_dir is not None else {}
    ds = load_dataset("3d-rad", config, split=split, data_dir=str(data_dir), cache_dir=str(cache), **kwargs)
    return list(ds)


def _card_yaml(folder: Path) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


QA_LOADS = [
    ("task6", "test", False),
    ("task6", "test", True),
    ("all", "train", False),
    ("all", "train", True),
    ("task4_lung_nodule", "test", False),
    ("task3_size", "train", True),
]


@pytest.fixture(scope="module")
def qa_export(small_source, tmp_path_factory) -> tuple[Path, hub_export.ExportReport]:
    out = tmp_path_factory.mktemp("qa_export") / "3D-RAD"
    report = export_dataset(out, data_dir=str(small_source["tables"]), progress=False)
    return out, report


def test_qa_only_export_round_trips_without_the_package(qa_export, small_source, tmp_path):
    out, report = qa_export
    loaded = load_in_fresh_process(out, QA_LOADS, cwd=tmp_path, hf_home=tmp_path / "hf")
    assert loaded["rad3d_hf_imported"] is False
    assert loaded["configs"] == sorted(CONFIGS)
    for config, split, streaming in QA_LOADS:
        expected = builder_rows(config, split, small_source["tables"], tmp_path / "cache")
        got = loaded[f"{config}/{split}/{streaming}"]
        assert got["rows"] == expected, f"{config}/{split} streaming={streaming}"
        assert "List(Value('int32'))" in got["features"]["history"]
    assert report.questions == {"train": 78, "test": 68}


def test_qa_only_shards_are_shared_between_configs(qa_export):
    out, _ = qa_export
    shards = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    assert len(shards) == 41 + 51, "one shard per source table, however many configs use it"
    meta = _card_yaml(out)
    listed = {c["config_name"]: c for c in meta["configs"]}
    assert next(iter(listed)) == "all" and listed["all"]["default"] is True
    assert set(listed) == set(CONFIGS)
    used = {p for c in meta["configs"] for entry in c["data_files"] for p in entry["path"]}
    assert used == set(shards)
    task6_test = next(e["path"] for e in listed["task6"]["data_files"] if e["split"] == "test")
    assert task6_test == [f"data/test/task6/{letter}.parquet" for letter in "bcdefgh"]
    assert [e["split"] for e in listed["task6_q"]["data_files"]] == ["train"]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert {s["name"]: s["num_examples"] for s in infos["all"]["splits"]} == {"train": 78, "test": 68}
    assert {s["name"]: s["num_examples"] for s in infos["task6_b"]["splits"]} == {"test": 1}


def test_card_counts_and_baselines_come_from_the_rows(qa_export, small_source):
    out, _ = qa_export
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card == hub_export.card_for_tables(str(small_source["tables"])), "the generator the committed card uses"
    # 18 Task 4 files, two rows each: one "No" (B) and one "Yes"; always "No" scores 50%.
    assert '| 4 | always "No" | test | 50.00% | 50.00% | 36 |' in card
    task4_row = "| `task4` | Task 4: Existence Detection (source folder Task4_Existence_Detection) | 36 | 2 | 36 | 2 |"
    assert task4_row in card
    assert "CC-BY-NC-SA 4.0" in card and "MIT" in card and "@inproceedings" in card
    assert "rad3d-hf export --out DIR --data-dir PATH/TO/3D-RAD" in card
    assert (out / ".gitattributes").read_text().count("filter=lfs") >= 4


def check_volume_rows(got: list[dict], expected: list[dict]) -> None:
    """Rows from the exported folder equal the builder's, volumes compared by name, laziness and voxels."""
    assert len(got) == len(expected)
    for row, ref in zip(got, expected):
        row, ref = dict(row), dict(ref)
        volume, ref_volume = row.pop("volume"), ref.pop("volume")
        assert row == ref
        assert volume["nifti"] and volume["lazy"], "decoding a row must not read voxels"
        suffix = ".nii" if ref_volume.get_filename().endswith(".nii") else ".nii.gz"
        assert volume["file"] == f"{row['volume_name']}{suffix}"
        assert volume["shape"] == list(ref_volume.shape)
        assert volume["voxels_sha256"] == voxels_sha256(ref_volume)


VOLUME_LOADS = [
    ("task6", "test", False),
    ("task6", "test", True),
    ("all", "test", False),
    ("task1_diagnosis", "test", True),
]


@pytest.mark.parametrize(
    ("embed", "loads"),
    [
        (True, VOLUME_LOADS),
        (False, [("task6", "test", True)]),
    ],
    ids=["embedded", "linked"],
)
def test_volume_export_gives_a_lazy_nifti_column(small_source, tmp_path, embed, loads):
    out = tmp_path / "with volumes"
    report = export_dataset(
        out, data_dir=str(small_source["tables"]), volumes_dir=str(small_source["volumes"]), splits=["test"],
        embed_volumes=embed, progress=False,
    )  # fmt: skip
    loaded = load_in_fresh_process(out, loads, cwd=tmp_path, hf_home=tmp_path / "hf")
    assert loaded["rad3d_hf_imported"] is False
    for config, split, streaming in loads:
        expected = builder_rows(config, split, small_source["tables"], tmp_path / "cache", small_source["volumes"])
        got = loaded[f"{config}/{split}/{streaming}"]
        assert "Nifti" in got["features"]["volume"]
        check_volume_rows(got["rows"], expected)
    files = sorted((out / "data" / "test" / "volumes").rglob("*.nii*"))
    test_stems = {s for s in small_source["voxels"] if s.startswith("test_")}
    names = sorted(f"{s}.nii" if s == UNCOMPRESSED else f"{s}.nii.gz" for s in test_stems)
    assert sorted(f.name for f in files) == names, "each volume stored once"
    assert all(f.is_symlink() != embed for f in files)
    assert report.volume_bytes == sum(f.stat().st_size for f in files)
    sizes = {f.name.split(".")[0]: f.stat().st_size for f in files}
    all_rows = builder_rows("all", "test", small_source["tables"], tmp_path / "cache")
    per_question = sum(sizes[r["volume_name"]] for r in all_rows)
    assert report.volume_bytes_per_question == per_question > report.volume_bytes
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"This folder holds {len(test_stems)} volume files" in card
    meta = _card_yaml(out)
    assert meta["license"] == ["mit", "cc-by-nc-sa-4.0"]
    task6 = next(c for c in meta["configs"] if c["config_name"] == "task6")
    assert task6["metadata_filenames"] == ["task6.parquet"]
    assert task6["data_files"] == [
        {
            "split": "test",
            "path": ["data/test/task6.parquet", "data/test/volumes/*/*.nii.gz", "data/test/volumes/*/*.nii"],
        }
    ]


def _data_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / "data").rglob("*") if p.is_file())


@pytest.mark.parametrize("volumes", [False, True], ids=["qa", "volumes"])
def test_interrupted_export_resumes_without_duplicate_or_missing_shards(small_source, tmp_path, monkeypatch, volumes):
    kwargs = {"data_dir": str(small_source["tables"]), "splits": ["test"], "progress": False}
    if volumes:
        kwargs.update(volumes_dir=str(small_source["volumes"]), embed_volumes=True)
    clean = tmp_path / "clean"
    export_dataset(clean, **kwargs)

    # QA: the Parquet writer fails on its 5th shard; volumes: the volume copier fails on its 3rd volume.
    writer_name, fail_at = ("place_volume", 3) if volumes else ("write_parquet", 5)
    real_write = getattr(hub_export, writer_name)
    calls = {"n": 0}

    def failing_write(source, path, *args):
        calls["n"] += 1
        if calls["n"] == fail_at:
            Path(path).write_bytes(b"half a shard")  # what a crash mid-write leaves under the temporary name
            raise KeyboardInterrupt("simulated interruption")
        real_write(source, path, *args)

    monkeypatch.setattr(hub_export, writer_name, failing_write)
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        export_dataset(resumed, **kwargs)
    assert not (resumed / "README.md").exists(), "no card for an unfinished export"
    assert list((resumed / "data").rglob("*.partial")), "the interrupted shard stayed under its temporary name"
    finished_before = len([f for f in _data_files(resumed) if not f.endswith(".partial")])

    monkeypatch.setattr(hub_export, writer_name, real_write)
    report = export_dataset(resumed, **kwargs)
    assert report.shards_kept == finished_before and report.shards_kept > 0
    assert _data_files(resumed) == _data_files(clean)
    assert not list(resumed.rglob("*.partial"))
    assert hub_export.export_fingerprint(resumed) == hub_export.export_fingerprint(clean)
    entries = [json.loads(line) for line in (resumed / MANIFEST_NAME).read_text().splitlines()]
    recorded = [e["shard"] for e in entries if "shard" in e]
    assert len(recorded) == len(set(recorded)) == len(_data_files(clean))
    assert (resumed / "README.md").read_text() == (clean / "README.md").read_text()


def test_a_restart_with_other_parameters_is_refused(small_source, tmp_path):
    out = tmp_path / "out"
    export_dataset(out, data_dir=str(small_source["tables"]), configs=["task6"], progress=False)
    with pytest.raises(ExportConflictError, match="configs"):
        export_dataset(out, data_dir=str(small_source["tables"]), configs=["task5"], progress=False)
    tables = str(small_source["tables"])
    report = export_dataset(out, data_dir=tables, configs=["task5"], overwrite=True, progress=False)
    assert _data_files(out) == sorted(
        f"data/{s}/task5/{sub.slug}.parquet" for s in ("test", "train") for sub in TASKS[5].subtasks_in(s)
    )
    assert report.configs[0] == "task5"


def test_a_missing_volume_is_named_or_skipped_and_counted(small_source, tmp_path):
    volumes = tmp_path / "some volumes"
    for path in small_source["volumes"].rglob("*.nii*"):
        if "valid_2_a_1" not in path.name:
            target = volumes / path.relative_to(small_source["volumes"])
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target)
    kwargs = {
        "data_dir": str(small_source["tables"]), "volumes_dir": str(volumes), "splits": ["test"], "progress": False
    }  # fmt: skip
    with pytest.raises(FileNotFoundError, match="volume test_2_a_1 of question test/task1/abnormality_feature/000000"):
        export_dataset(tmp_path / "a", **kwargs)
    report = export_dataset(tmp_path / "b", missing_volumes="skip", **kwargs)
    # test_2_a_1 carries one question of each Task 1-3 file (9) and of each Task 4 file (18).
    assert report.skipped_questions == 27
    assert report.questions == {"test": 68 - 27}
    assert "27 questions whose volume was absent were left out" in (tmp_path / "b" / "README.md").read_text()


def test_bad_arguments_are_refused(small_source, tmp_path):
    with pytest.raises(KeyError, match="task9"):
        export_dataset(tmp_path / "x", data_dir=str(small_source["tables"]), configs=["task9"], progress=False)
    with pytest.raises(ValueError, match="embed_volumes needs volumes_dir"):
        export_dataset(tmp_path / "x", data_dir=str(small_source["tables"]), embed_volumes=True, progress=False)
    with pytest.raises(ValueError, match="task6_q have no rows in the test split"):
        export_dataset(tmp_path / "x", data_dir=str(small_source["tables"]), configs=["task6_q"], splits=["test"])
    with pytest.raises(FileNotFoundError, match="no 3D-RAD tables under"):
        export_dataset(tmp_path / "x", data_dir=str(small_source["volumes"]), progress=False)


def test_cli_export(small_source, tmp_path, capsys):
    from rad3d_hf.cli import main

    out = tmp_path / "cli"
    argv = ["export", "--out", str(out), "--data-dir", str(small_source["tables"]), "--configs", "task6", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "1 configs, train 12 questions, test 7 questions" in printed
    assert "19 written, 0 kept" in printed
    assert main(argv) == 0
    assert "0 written, 19 kept" in capsys.readouterr().out
    assert [c["config_name"] for c in _card_yaml(out)["configs"]] == ["task6"]
