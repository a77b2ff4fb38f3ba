"""``rad3d-hf verify``: the published tables pass; a replica of the release's image archive is found and valid; a
corrupted one is named file by file; usage mistakes are one line and exit status 2."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rad3d_hf.cli import main
from rad3d_hf.data.release_check import PUBLISHED, check_volumes, choose_sample, table_volumes
from rad3d_hf.data.tables import source_files
from rad3d_hf.volumes.locator import VolumeLocator
from tests.release_replica import member_name


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = main(["verify", *argv])
    except SystemExit as stop:  # argparse's own errors
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write_zip(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """A release-like archive of ``arrays``, stored uncompressed under nested member folders as the replica does."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for stem, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(member_name(stem), buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def corrupted(release_replica, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The replica with one array of the wrong shape, one holding a NaN, one above 1 and one member left out."""
    _, _, arrays = release_replica
    shape, nan, above, missing = sorted(arrays)[3:7]
    broken = {stem: array for stem, array in arrays.items() if stem != missing}
    broken[shape] = arrays[shape][:, :16]
    broken[nan] = arrays[nan].copy()
    broken[nan][0, 5, 100, 100] = np.nan
    broken[above] = arrays[above] + np.float32(0.5)
    archive = _write_zip(tmp_path_factory.mktemp("corrupted") / "test.zip", broken)
    return archive, {"shape": shape, "nan": nan, "above": above, "missing": missing}


def test_published_tables_match(real_tables, capsys):
    code, out, _ = _run(["--data-dir", str(real_tables)], capsys)
    assert code == 0, out
    rows = {" ".join(line.split()[:-3]): line.split()[-3:] for line in out.splitlines()[2:-1]}
    assert rows["table files test"] == ["41", "41", "ok"]
    assert rows["table files train"] == ["51", "51", "ok"]
    assert rows["questions test task 1"] == ["2,666", "2,666", "ok"]  # the folder Task2_Anomaly_Detection
    assert rows["questions test all"] == ["33,910", "33,910", "ok"]
    assert rows["questions train all"] == ["136,195", "136,195", "ok"]
    assert rows["volumes named test"] == ["2,696", "2,696", "ok"]
    assert rows["volumes named train"] == ["13,526", "13,526", "ok"]
    assert out.splitlines()[-1] == "all 18 checks match the published release"


def test_published_facts_add_up():
    for split, total in (("test", 33910), ("train", 136195)):
        assert sum(n for (_, s), n in PUBLISHED.questions.items() if s == split) == total
        assert len(source_files("tables", split, "all")) == PUBLISHED.table_files[split]  # the catalogue agrees
    assert PUBLISHED.array_shape == (1, 32, 256, 256)


def test_replica_volumes_are_found_and_valid(release_replica):
    root, archive, arrays = release_replica
    stems = table_volumes(str(root))
    result = check_volumes(VolumeLocator(str(archive)), stems)
    assert result.ok, result.mismatches
    assert result.volume_format == "npy"
    assert result.counts["volumes_found"]["test"] == {"found": len(arrays), "missing": 0}
    assert {c.name: c.status for c in result.checks}["volumes found train"] == "not in this archive"
    stats = {v.name: v for v in result.volumes}
    assert set(stats) == set(arrays)
    for stem, array in arrays.items():
        assert (stats[stem].shape, stats[stem].dtype) == ((1, 32, 256, 256), "float32")
        assert (stats[stem].minimum, stats[stem].maximum) == (float(array.min()), float(array.max()))


def test_replica_against_other_facts(release_replica):
    root, archive, _ = release_replica
    other = dataclasses.replace(PUBLISHED, array_shape=(1, 64, 256, 256), array_range=(0.0, 0.5))
    result = check_volumes(VolumeLocator(str(archive)), table_volumes(str(root)), facts=other, sample=2, seed=1)
    assert len(result.volumes) == 2
    assert sum("shape (1, 32, 256, 256), expected (1, 64, 256, 256)" in m for m in result.mismatches) == 2


def test_cli_on_the_replica(release_replica, capsys, tmp_path):
    root, archive, arrays = release_replica
    report = tmp_path / "verify.json"
    code, out, _ = _run(
        ["--data-dir", str(root), "--volumes-dir", str(archive), "--quiet", "--json", str(report)], capsys
    )
    assert code == 1
    assert "questions test all: expected 33,910, found" in out  # the demo tables are not the published ones
    assert "volumes named test: expected 2,696, found 46" in out
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["volume_format"] == "npy"
    assert not [m for m in data["mismatches"] if ".npy" in m or "missing" in m]
    assert data["counts"]["volumes_found"]["test"] == {"found": len(arrays), "missing": 0}
    assert data["sample"] == {"size": None, "seed": 0, "of": len(arrays), "checked": len(arrays)}
    assert all(not v["problems"] for v in data["volumes"])
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert statuses["volumes found test"] == statuses["npy volumes checked"] == "ok"
    assert statuses["volumes found train"] == "not in this archive"


def test_cli_names_each_corrupted_file(release_replica, corrupted, capsys):
    root = release_replica[0]
    archive, bad = corrupted
    code, out, _ = _run(["--data-dir", str(root), "--volumes-dir", str(archive), "--quiet"], capsys)
    assert code == 1
    mismatches = [line for line in out.splitlines() if line.startswith("  - ")]

    def about(stem: str) -> str:
        (line,) = [m for m in mismatches if stem in m]
        return line

    assert "shape (1, 16, 256, 256), expected (1, 32, 256, 256)" in about(bad["shape"])
    assert f"{bad['shape']}.npy (in {archive})" in about(bad["shape"])
    assert "1 non-finite value(s)" in about(bad["nan"])
    assert "outside [0, 1]" in about(bad["above"])
    assert "1 test volume(s) the tables name are missing" in about(bad["missing"])
    row = next(line for line in out.splitlines() if line.startswith("npy volumes checked"))
    assert row.split()[-3:] == ["45", "42", "MISMATCH"]


def test_sample_is_drawn_with_the_seed(release_replica, capsys, tmp_path):
    root, archive, arrays = release_replica
    report = tmp_path / "verify.json"
    argv = ["--data-dir", str(root), "--volumes-dir", str(archive), "--sample", "3", "--seed", "0", "--quiet"]
    code, out, _ = _run([*argv, "--json", str(report)], capsys)
    assert code == 1
    assert f"npy volumes checked (sample of {len(arrays)}, seed 0)" in out
    data = json.loads(report.read_text())
    assert data["sample"] == {"size": 3, "seed": 0, "of": len(arrays), "checked": 3}
    drawn = [v["name"] for v in data["volumes"]]
    assert drawn == choose_sample(sorted(arrays), 3, 0) and len(set(drawn)) == 3
    assert drawn != choose_sample(sorted(arrays), 3, 1)  # the seed decides


def test_contact_sheet_of_the_release_arrays(release_replica, capsys, tmp_path):
    import matplotlib.image

    root, archive, _ = release_replica
    sheet = tmp_path / "sheet.png"
    argv = ["--data-dir", str(root), "--volumes-dir", str(archive), "--sample", "2", "--contact-sheet", str(sheet)]
    code, out, _ = _run([*argv, "--quiet"], capsys)
    assert code == 1
    assert f"contact sheet: {sheet}" in out
    pixels = matplotlib.image.imread(sheet)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600
    grey = pixels[..., :3].mean(axis=-1)
    assert grey.std() > 0.1 and len(np.unique(np.round(grey, 2))) > 20


def test_nifti_volumes_are_read_in_hu(capsys, tmp_path):
    from rad3d_hf.demo import VOLUMES_DIR, ensure_demo_data

    volumes = ensure_demo_data() / VOLUMES_DIR
    report, sheet = tmp_path / "v.json", tmp_path / "sheet.png"
    argv = ["--demo", "--volumes-dir", str(volumes), "--sample", "2", "--quiet", "--json", str(report)]
    code, out, _ = _run([*argv, "--contact-sheet", str(sheet)], capsys)
    assert code == 1  # the demo's counts are not the release's
    data = json.loads(report.read_text())
    assert data["volume_format"] == "nifti"
    assert all(not v["problems"] and len(v["shape"]) == 3 for v in data["volumes"])
    low, high = data["counts"]["value_range"]
    assert low < -900 and high > 100
    assert " HU  info" in out and sheet.stat().st_size > 10_000


def test_absent_and_damaged_tables_are_named(release_replica, capsys, tmp_path):
    import shutil

    root = release_replica[0]
    for split in ("test", "train"):
        shutil.copytree(root / split, tmp_path / split)
    (tmp_path / "test" / "Task4_Existence_Detection" / "Lung nodule.csv").unlink()
    damaged = tmp_path / "train" / "Task1_Image_Observation" / "Anatomical_observation.csv"
    damaged.write_text("Task,Subtask\n1,x\n")
    code, out, _ = _run(["--data-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 1
    assert "1 test table(s) absent: test/Task4_Existence_Detection/Lung nodule.csv" in out
    assert f"{damaged}, line 1" in out  # the unreadable table, named with its line
    assert "table(s) with a header but no rows: test/Task5_Static_Temporal_Diagnosis/d.csv" in out


def test_a_volume_found_twice_is_a_mismatch(tmp_path):
    array = np.zeros((1, 32, 256, 256), np.float32)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "test_1000_a_1.npy", array)
    result = check_volumes(VolumeLocator(str(tmp_path)), {"test": {"test_1000_a_1"}, "train": set()})
    assert not result.ok
    assert "test_1000_a_1 found twice" in result.mismatches[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "pass --data-dir DIR"),
        (["--demo", "--volumes-dir", "{tmp}/no_such.zip"], "no_such.zip: no such folder"),
        (["--demo", "--sample", "0"], "--sample: must be a positive integer"),
        (["--demo", "--contact-sheet", "{tmp}/s.png"], "pass --volumes-dir too"),
    ],
    ids=["no tables", "missing volumes dir", "sample 0", "sheet without volumes"],
)
def test_usage_mistakes(argv, expected, capsys, tmp_path):
    code, out, err = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not out
