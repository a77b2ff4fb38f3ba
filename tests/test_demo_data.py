"""The built-in demo source: layout, official CSV format, answers that agree with the phantoms, determinism, safety."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import re
import shutil
from collections import defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rad3d_hf.data import catalogue
from rad3d_hf.data.volume_names import parse_volume_name
from rad3d_hf.demo import DEMO_FORMAT_VERSION, default_demo_root, ensure_demo_data, generator_digest
from rad3d_hf.demo.findings import TEMPORAL_FINDINGS
from rad3d_hf.demo.tables import HISTORY_NOTE, temporal_category

HISTORY = re.compile(r"\[((?:[01](?:, )?)*)\]")


@pytest.fixture(scope="module")
def demo() -> Path:
    """Seed 0 in the default folder under the session's HF_HOME: generated once per test process, read only."""
    return ensure_demo_data(seed=0)


def run_cli(*argv: str) -> int:
    import argparse

    from rad3d_hf.cli import demo as demo_cli

    parser = argparse.ArgumentParser(prog="rad3d-hf")
    demo_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture(scope="module")
def seed1_by_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(HF_HOME, what ``rad3d-hf demo --seed 1`` printed) after that command generated seed 1 under that HF_HOME."""
    home = tmp_path_factory.mktemp("hf")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setenv("HF_HOME", str(home))
        assert run_cli("demo", "--seed", "1") == 0
    return home, printed.getvalue()


@pytest.fixture(scope="module")
def manifest(demo: Path) -> dict:
    return json.loads((demo / "manifest.json").read_text())


def read(demo: Path, split: str, task: int, subtask: str) -> list[dict[str, str]]:
    info = catalogue.get_task(task)
    with open(demo / split / info.folder / f"{subtask}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def stem(row: dict[str, str]) -> str:
    return row["VolumeName"].removesuffix(".nii.gz")


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_another_seed_gives_other_files(demo: Path, seed1_by_cli: tuple[Path, str]) -> None:
    """Seed 1 against seed 0 (that the same seed gives byte-identical files is checked by the concurrent builders)."""
    again = files_of(demo)
    other = Path(seed1_by_cli[1].strip())
    other_files = files_of(other)
    assert other_files.keys() == again.keys()
    changed_tables = [k for k in again if k.endswith(".csv") and again[k] != other_files[k]]
    assert len(changed_tables) > 20
    a = np.asarray(nib.load(demo / "volumes" / "test_1000_a_1.nii.gz").dataobj)
    b = np.asarray(nib.load(other / "volumes" / "test_1000_a_1.nii.gz").dataobj)
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_every_source_file_is_written_in_the_official_format(demo: Path, manifest: dict) -> None:
    expected = set()
    for split in catalogue.SPLITS:
        for task in catalogue.TASKS.values():
            for sub in task.subtasks_in(split):
                expected.add(f"{split}/{task.folder}/{sub.file_name}")
                with open(demo / split / task.folder / sub.file_name, newline="", encoding="utf-8") as f:
                    text = f.read()
                assert "\r" not in text
                rows = list(csv.reader(text.splitlines(keepends=True)))
                assert tuple(rows[0]) == catalogue.CSV_HEADER
                for line, row in enumerate(rows[1:], start=2):
                    where = f"{split}/{task.folder}/{sub.file_name}:{line}"
                    assert len(row) == 11, where
                    record = dict(zip(catalogue.CSV_HEADER, row))
                    assert record["Task"] == str(task.source_task), where
                    assert record["Subtask"] == str(sub.source_index[split]), where
                    name = parse_volume_name(record["VolumeName"])
                    assert name.split == split and record["VolumeName"].endswith(".nii.gz"), where
                    assert name.stem in manifest["volumes"], where
                    assert record["Question"].strip() and record["Answer"].strip(), where
                    choices = [record[f"Choice {letter}"] for letter in catalogue.OPTION_LETTERS]
                    if task.is_open:
                        assert record["QuestionType"] == "Open", where
                        assert [record["AnswerChoice"], *choices] == [catalogue.EMPTY_FIELD] * 5, where
                    else:
                        assert record["QuestionType"] == "Close", where
                        padded = list(task.options) + [catalogue.EMPTY_FIELD] * (4 - len(task.options))
                        assert choices == padded, where
                        letter = record["AnswerChoice"]
                        assert record[f"Choice {letter}"] == record["Answer"], where
    written = {p.relative_to(demo).as_posix() for p in demo.rglob("*.csv")}
    assert written == expected
    assert set(manifest["tables"]) == expected
    # the published train split has no Task 5/6 "b" file, and the paper's task 1 is the source's folder 2
    assert not (demo / "train" / "Task5_Static_Temporal_Diagnosis" / "b.csv").exists()
    assert read(demo, "test", 1, "Abnormality_type")[0]["Task"] == "2"
    assert read(demo, "test", 2, "Anatomical_observation")[0]["Task"] == "1"


def test_every_split_has_rows_for_every_task(demo: Path) -> None:
    for split in catalogue.SPLITS:
        for task in catalogue.TASKS.values():
            counts = [len(read(demo, split, task.number, s.name)) for s in task.subtasks_in(split)]
            assert sum(counts) > 0, (split, task.config_name)
            if task.number <= 4:
                assert all(counts), (split, task.config_name, counts)


def test_volumes_are_ct_rate_like_nifti(demo: Path, manifest: dict) -> None:
    stems = sorted(manifest["volumes"])
    assert {parse_volume_name(s).reconstruction for s in stems} == {1, 2}
    assert sorted(p.name for p in (demo / "volumes").iterdir()) == sorted(f"{s}.nii.gz" for s in stems)
    for name in stems:
        path = demo / "volumes" / f"{name}.nii.gz"
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        img = nib.load(path)
        truth = manifest["volumes"][name]
        assert img.header.get_data_dtype() == np.dtype("int16")
        assert img.shape == tuple(truth["shape"]) and img.shape[2] < img.shape[0]
        assert img.header.get_zooms() == pytest.approx(truth["spacing_mm"])
        assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
        assert np.allclose(img.affine, truth["affine"])
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
        data = np.asarray(img.dataobj)
        assert data.dtype == np.int16
        assert data[0, 0, 0] < -900  # air outside the body
        assert data.max() >= 600  # the spine


def test_nodules_are_visible_where_the_manifest_puts_them(demo: Path, manifest: dict) -> None:
    seen = 0
    for name, truth in manifest["volumes"].items():
        img = nib.load(demo / "volumes" / f"{name}.nii.gz")
        data = np.asarray(img.dataobj)
        assert (data < -700).mean() > 0.05  # aerated lung
        for nodule in truth["nodules"]:
            i, j, k = nodule["centre_voxel"]
            assert np.allclose(img.affine @ [i, j, k, 1], [*nodule["centre_mm"], 1], atol=1e-3)
            lung_slice = data[:, :, k]
            assert data[i, j, k] > -150, (name, nodule)
            # the nodule stands out from the aerated lung of its own slice
            assert np.median(lung_slice[lung_slice < -500]) < -750
            seen += 1
        assert truth["findings"]["Lung nodule"] == int(bool(truth["nodules"]))
    assert seen >= 10


def _aerated_lung(data: np.ndarray) -> np.ndarray:
    """Voxels below -500 HU with body in front of and behind them along j (air outside the body excluded)."""
    body = data > -500
    before = np.maximum.accumulate(body, axis=1)
    after = np.maximum.accumulate(body[:, ::-1], axis=1)[:, ::-1]
    return (data < -500) & before & after


def _behind_lung(data: np.ndarray, lung: np.ndarray, columns: np.ndarray, depth: int) -> np.ndarray:
    """HU of the ``depth`` voxels posterior (j grows to P) of the last aerated voxel of each selected column."""
    values = []
    for i, k in zip(*np.nonzero(columns)):
        last = np.flatnonzero(lung[i, :, k]).max()
        values.extend(data[i, last + 1 : last + 1 + depth, k])
    return np.asarray(values, dtype=np.float64)


def test_pleural_effusion_is_fluid_of_the_stated_thickness(demo: Path, manifest: dict) -> None:
    found = 0
    for name, truth in manifest["volumes"].items():
        effusion = truth["pleural_effusion"]
        assert (effusion is not None) == bool(truth["findings"]["Pleural effusion"])
        if effusion is None:
            continue
        img = nib.load(demo / "volumes" / f"{name}.nii.gz")
        data = np.asarray(img.dataobj).astype(np.int32)
        n = effusion["thickness_voxels"]
        assert effusion["thickness_mm"] == pytest.approx(n * truth["spacing_mm"][1])
        z = img.affine[2, 2] * np.arange(data.shape[2]) + img.affine[2, 3]
        x = img.affine[0, 0] * np.arange(data.shape[0]) + img.affine[0, 3]
        basal = (z < effusion["top_z_mm"] - 5)[None, :]
        lung = _aerated_lung(data)
        lung_columns = lung.sum(axis=1) > 2  # (i, k) columns crossing aerated lung
        same = lung_columns & basal & ((x > 0) == (effusion["side"] == "right"))[:, None]
        other = lung_columns & basal & ((x > 0) != (effusion["side"] == "right"))[:, None]
        fluid, tissue = _behind_lung(data, lung, same, n), _behind_lung(data, lung, other, n)
        # fluid (12 HU) lines the dependent lung on the effusion side; soft tissue (40 HU) on the other
        assert np.median(fluid) < 25 < 30 < np.median(tissue), (name, np.median(fluid), np.median(tissue))
        found += 1
    assert found >= 1


def task4_labels(demo: Path, split: str) -> dict[str, dict[str, bool]]:
    labels: dict[str, dict[str, bool]] = defaultdict(dict)
    for finding in catalogue.FINDINGS:
        for row in read(demo, split, 4, finding):
            labels[stem(row)][finding] = row["Answer"] == "Yes"
    return labels


def test_task4_asks_every_finding_of_every_volume_with_the_manifest_labels(demo: Path, manifest: dict) -> None:
    for split in catalogue.SPLITS:
        labels = task4_labels(demo, split)
        volumes = {n: t for n, t in manifest["volumes"].items() if t["split"] == split and not t["temporal_cohort"]}
        assert set(labels) == set(volumes)
        for name, truth in volumes.items():
            assert labels[name] == {f: bool(v) for f, v in truth["findings"].items()}


def test_temporal_answers_follow_the_task4_labels_over_time(demo: Path, manifest: dict) -> None:
    for split in catalogue.SPLITS:
        categories: set[int] = set()
        nodule_categories: set[int] = set()
        labels = task4_labels(demo, split)
        # the temporal-cohort patients have no Task 4 rows: their labels are the manifest's
        for name, truth in manifest["volumes"].items():
            if truth["split"] == split and truth["temporal_cohort"]:
                labels[name] = {f: bool(v) for f, v in truth["findings"].items()}
        for sub in catalogue.get_task(5).subtasks_in(split):
            static = read(demo, split, 5, sub.name)
            longitudinal = read(demo, split, 6, sub.name)
            assert [(r["VolumeName"], r["Answer"]) for r in static] == [
                (r["VolumeName"], r["Answer"]) for r in longitudinal
            ]
            per_volume: dict[str, list[str]] = defaultdict(list)
            for row5, row6 in zip(static, longitudinal):
                name = parse_volume_name(row5["VolumeName"])
                assert name.reconstruction == 1 and name.scan == sub.name
                earlier = [f"{split}_{name.patient_id}_{chr(ord('a') + i)}_1" for i in range(name.scan_index)]
                finding = next(f for f in TEMPORAL_FINDINGS if f.lower() in row5["Question"])
                assert finding.lower() in row6["Question"]
                per_volume[name.stem].append(finding)
                history = [labels[e][finding] for e in earlier]
                expected = temporal_category(history, labels[name.stem][finding])
                assert row5["Answer"] == catalogue.TEMPORAL_OPTIONS[expected], (row5, history)
                assert HISTORY_NOTE in row6["Question"] and HISTORY_NOTE not in row5["Question"]
                (printed,) = HISTORY.findall(row6["Question"])
                assert [int(v) for v in printed.split(", ")] == [int(h) for h in history]
                categories.add(expected)
                if finding == "Lung nodule":
                    nodule_categories.add(expected)
            for findings in per_volume.values():
                assert sorted(findings) == sorted(TEMPORAL_FINDINGS)
        assert categories == {0, 1, 2, 3}, split
        # in each split a nodule persists, one resolves and one appears at a scan the temporal tasks ask about
        assert {0, 1, 2} <= nodule_categories, split


def test_task3_sizes_are_the_drawn_sizes(demo: Path, manifest: dict) -> None:
    nodule_rows = 0
    for split in catalogue.SPLITS:
        for sub in ("Diameter", "Size", "Thickness"):
            for row in read(demo, split, 3, sub):
                truth = manifest["volumes"][stem(row)]
                question, answer = row["Question"], row["Answer"]
                numbers = [int(v) for v in re.findall(r"\d+", answer)]
                assert answer.endswith(" mm")
                if "nodule" in question:
                    lobe = re.search(r"in the ((?:right|left) lung \w+ lobe)", question).group(1)
                    in_lobe = [n for n in truth["nodules"] if n["lobe"] == lobe]
                    largest = max(in_lobe, key=lambda n: n["size_mm"])
                    if sub == "Diameter":
                        assert largest["size_mm"][0] == largest["size_mm"][1] == numbers[0]
                    else:
                        assert largest["size_mm"] == numbers and numbers[0] > numbers[1]
                    nodule_rows += 1
                elif "pleural effusion" in question:
                    effusion = truth["pleural_effusion"]
                    assert effusion["side"] in question
                    assert numbers == [round(effusion["thickness_mm"])]
                elif "pericardial" in question:
                    assert numbers == [truth["pericardial_effusion_mm"]]
                elif "heart" in question:
                    assert numbers == truth["heart_axial_mm"]
                    width, _depth = numbers
                    assert (width > 110) == bool(truth["findings"]["Cardiomegaly"])
                elif "aorta" in question:
                    assert numbers == [truth["aorta_diameter_mm"]]
                elif "subcutaneous fat" in question:
                    assert numbers == [round(truth["subcutaneous_fat_mm"])]
                else:
                    assert "device" in question and truth["findings"]["Medical material"]
    assert nodule_rows >= 10


def test_open_answers_name_where_the_phantom_put_the_finding(demo: Path, manifest: dict) -> None:
    checked = 0
    for split in catalogue.SPLITS:
        for row in read(demo, split, 1, "Abnormality_position"):
            truth = manifest["volumes"][stem(row)]
            answer = row["Answer"].rstrip(".").lower()
            if "nodule" in row["Question"]:
                largest = max(truth["nodules"], key=lambda n: (n["size_mm"], -n["track"]))
                assert answer == largest["lobe"]
            elif "consolidation" in row["Question"]:
                assert answer == truth["consolidation"]["lobe"]
            elif "pleural effusion" in row["Question"]:
                assert answer == f"{truth['pleural_effusion']['side']} side"
            else:
                continue
            checked += 1
        for row in read(demo, split, 2, "Pathological_observation"):
            truth = manifest["volumes"][stem(row)]
            if "nodule" in row["Question"]:
                sides = {n["side"] for n in truth["nodules"]}
                assert row["Answer"].split()[0].lower() in sides
                checked += 1
    assert checked >= 10


def _build(root: str) -> str:
    return str(ensure_demo_data(root, seed=0))


def test_concurrent_builders_share_one_complete_folder(demo: Path, tmp_path: Path) -> None:
    """Two processes generate seed 0 into one folder at once: one wins, both return it, and it holds files
    byte-identical to ``demo`` (generated earlier, separately): the same seed gives the same files."""
    root = tmp_path / "shared"
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_build, [str(root)] * 2)
    assert results == [str(root)] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["shared"]  # no staging folder left behind
    assert files_of(root) == files_of(demo)
    before = (root / "manifest.json").stat().st_mtime_ns
    assert ensure_demo_data(root, seed=0) == root
    assert (root / "manifest.json").stat().st_mtime_ns == before


def test_foreign_or_mismatched_folders_are_refused(demo: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="mine"):
        ensure_demo_data(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(FileExistsError, match="seed 0"):
        ensure_demo_data(demo, seed=5)
    with pytest.raises(ValueError, match="seed"):
        ensure_demo_data(tmp_path / "x", seed=-1)


def test_data_made_by_other_generator_code_is_never_served(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached demo folder made by an edited generator (same format version and seed) is refused, not reused."""
    import rad3d_hf.demo as demo_package

    copy = tmp_path / "older"
    shutil.copytree(demo, copy)
    manifest_path = copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["generator_digest"] == generator_digest()
    assert ensure_demo_data(copy) == copy
    manifest["generator_digest"] = "0" * 12
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(FileExistsError, match="another version of the generator"):
        ensure_demo_data(copy)
    # the default folder is named by the digest, so other code reads and writes another folder
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    here = default_demo_root(0)
    monkeypatch.setattr(demo_package, "generator_digest", lambda: "f" * 12)
    assert default_demo_root(0) != here and default_demo_root(0).name.endswith("f" * 12)


def test_the_qa_reader_accepts_the_demo_tables(demo: Path, manifest: dict) -> None:
    from rad3d_hf.data.rows import read_rows

    for split in catalogue.SPLITS:
        rows = list(read_rows(str(demo), split))
        assert len(rows) == sum(n for p, n in manifest["tables"].items() if p.startswith(f"{split}/"))
        assert len({r["id"] for r in rows}) == len(rows)
        for row in rows:
            if row["task"] == 6:
                assert len(row["history"]) == ord(row["scan"]) - ord("a")
            if row["question_type"] == "closed":
                assert row["answer"] in row["choices"]


def test_default_folder_follows_hf_home_and_the_cli_prints_it(
    seed1_by_cli: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home, printed = seed1_by_cli
    monkeypatch.setenv("HF_HOME", str(home))
    expected = home / "rad3d_hf" / "demo" / f"v{DEMO_FORMAT_VERSION}-seed1-{generator_digest()}"
    assert default_demo_root(1) == expected
    assert printed.strip() == str(expected)
    assert json.loads((expected / "manifest.json").read_text())["seed"] == 1
    out = tmp_path / "elsewhere"
    assert run_cli("demo", "--out", str(out)) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "test" / "Task4_Existence_Detection" / "Lung nodule.csv").is_file()


def test_temporal_cohort_patients_make_earlier_scans_decisive(demo: Path, manifest: dict) -> None:
    """On the current scan a resolved finding looks like none and a new one like a persistent one; the earlier scans
    tell them apart, and every drawn finding takes each course in the temporal-cohort patients."""
    from rad3d_hf.demo.cohort import DRAWN_TEMPORAL_FINDINGS

    for split in catalogue.SPLITS:
        only = {n: t for n, t in manifest["volumes"].items() if t["split"] == split and t["temporal_cohort"]}
        assert only and not any(stem(r) in only for f in catalogue.FINDINGS for r in read(demo, split, 4, f))
        anatomy = [stem(r) for r in read(demo, split, 2, "Anatomical_observation") if stem(r) in only]
        assert sorted(anatomy) == sorted(only)  # one question per scan: the builder finds earlier scans by name
        courses: dict[str, set[int]] = defaultdict(set)
        for sub in catalogue.get_task(5).subtasks_in(split):
            for row in read(demo, split, 5, sub.name):
                if stem(row) not in only:
                    continue
                finding = next((f for f in DRAWN_TEMPORAL_FINDINGS if f.lower() in row["Question"]), None)
                if finding is None:
                    continue
                category = catalogue.TEMPORAL_OPTIONS.index(row["Answer"])
                present_now = only[stem(row)]["findings"][finding] == 1
                # refractory and new are present now, resolved and never are absent: the current scan cannot split them
                assert present_now == (category in (0, 2)), row
                courses[finding].add(category)
        if split == "train":
            assert all(courses[f] == {0, 1, 2, 3} for f in DRAWN_TEMPORAL_FINDINGS), dict(courses)
