"""``rad3d-hf preprocess``: each volume once, resumable with checks, atomic, a manifest; the folder then serves as npy."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from rad3d_hf.cli import main as cli
from rad3d_hf.demo import ensure_demo_data
from rad3d_hf.transforms import M3DTransform
from rad3d_hf.volumes.preprocess import FLOAT16_MAX_ERROR, MANIFEST

SIZE = ("8", "32", "32")


def _demo_copy(tmp_path):
    root = ensure_demo_data()
    volumes = tmp_path / "volumes"
    shutil.copytree(root / "volumes", volumes)
    return root, volumes


def _run(*argv: str) -> int:
    return cli(["preprocess", "--quiet", "--size", *SIZE, *argv])


def test_every_volume_once_bit_equal_to_the_transform_and_usable_as_npy(tmp_path, capsys):
    from datasets import load_dataset

    root, volumes = _demo_copy(tmp_path)
    out = tmp_path / "pre"
    assert _run("--data-dir", str(root), "--volumes-dir", str(volumes), "--out", str(out), "--workers", "2") == 0
    manifest = json.loads((out / MANIFEST).read_text())
    transform = M3DTransform(size=tuple(int(n) for n in SIZE))
    assert manifest["params"] == transform.params() and manifest["dtype"] == "float32" and manifest["failed"] == {}
    rows = load_dataset("3d-rad", "all", split="test", demo=True)
    assert set(manifest["volumes"]) == set(rows["volume_name"])
    assert len(list(out.glob("*.npy"))) == len(manifest["volumes"]) and not list(out.glob(".*"))
    for name, entry in list(manifest["volumes"].items())[:3]:
        stored = np.load(out / f"{name}.npy")
        assert np.array_equal(stored, transform(volumes / f"{name}.nii.gz"))  # bit for bit
        assert entry["source"] == str(volumes / f"{name}.nii.gz") and entry["shape"] == [1, 8, 32, 32]
        passed = transform(str(out / f"{name}.npy"))
        assert passed.dtype == np.float32 and np.array_equal(passed, stored)
    assert f"{len(set(rows['volume_name']))} volumes written" in capsys.readouterr().out

    # Only the test split was preprocessed, so only it is prepared.
    as_npy = load_dataset(
        "3d-rad", "task4", split="test", data_dir=str(root), volumes_dir=str(out), volume_format="npy",
        splits=("test",),
    )  # fmt: skip
    row = as_npy[0]
    assert row["volume"] == str(out / f"{row['volume_name']}.npy")
    assert np.array_equal(transform(row["volume"]), transform(volumes / f"{row['volume_name']}.nii.gz"))


def test_rerun_keeps_checked_volumes_and_redoes_changed_or_damaged_ones(tmp_path, capsys):
    root, volumes = _demo_copy(tmp_path)
    out = tmp_path / "pre"
    args = ("--data-dir", str(root), "--volumes-dir", str(volumes), "--out", str(out), "--workers", "1")
    assert _run(*args) == 0
    capsys.readouterr()
    before = json.loads((out / MANIFEST).read_text())["volumes"]
    first, second = sorted(before)[:2]
    damaged = out / f"{first}.npy"
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)
    source = volumes / f"{second}.nii.gz"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert _run(*args) == 0
    assert "2 volumes written" in capsys.readouterr().out
    after = json.loads((out / MANIFEST).read_text())["volumes"]
    assert after[first]["sha256"] == before[first]["sha256"]  # rewritten to the same content
    assert after[second]["mtime_ns"] == source.stat().st_mtime_ns
    assert _run(*args) == 0 and "0 volumes written" in capsys.readouterr().out


def test_other_settings_in_the_same_folder_are_an_error(tmp_path, capsys):
    out = tmp_path / "pre"
    assert _run("--demo", "--out", str(out), "--config", "task4_lung_nodule") == 0
    capsys.readouterr()
    assert _run("--demo", "--out", str(out), "--config", "task4_lung_nodule", "--window", "-1000", "1000") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "was made with other settings (window: None there, [-1000.0, 1000.0] asked)" in err


def test_float16_halves_the_disk_within_the_documented_error(tmp_path):
    root = ensure_demo_data()
    exact, half = tmp_path / "f32", tmp_path / "f16"
    for out, dtype in ((exact, "float32"), (half, "float16")):
        assert _run("--demo", "--out", str(out), "--config", "task3", "--dtype", dtype) == 0
    worst = 0.0
    for path in exact.glob("*.npy"):
        a, b = np.load(path), np.load(half / path.name)
        assert b.dtype == np.float16
        worst = max(worst, float(np.abs(a - b.astype(np.float32)).max()))
        passed = M3DTransform(size=tuple(int(n) for n in SIZE))(str(half / path.name))
        assert passed.dtype == np.float32 and np.array_equal(passed, b.astype(np.float32))
    assert 0 < worst <= FLOAT16_MAX_ERROR
    assert root.is_dir()


def test_a_bad_volume_stops_the_run_or_is_skipped_and_counted(tmp_path, capsys):
    root, volumes = _demo_copy(tmp_path)
    victim = sorted(volumes.glob("test_*.nii.gz"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated gzip
    args = ("--data-dir", str(root), "--volumes-dir", str(volumes), "--workers", "2")
    assert _run(*args, "--out", str(tmp_path / "a")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and victim.name in err
    assert _run(*args, "--out", str(tmp_path / "b"), "--on-error", "skip") == 0
    printed = capsys.readouterr().out
    assert "1 failed" in printed and "skipped 1 volumes" in printed
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    name = victim.name.removesuffix(".nii.gz")
    assert list(manifest["failed"]) == [name] and name not in manifest["volumes"]
    assert not (tmp_path / "b" / f"{name}.npy").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--demo", "--out", "X", "--workers", "0"], "argument --workers: must be a positive integer"),
        (["--demo", "--out", "X", "--config", "task9"], "--config 'task9' is not a 3D-RAD config"),
    ],
)
def test_usage_mistakes_exit_2_with_one_line(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / "o") if a == "X" else a for a in argv]
    try:
        code = cli(["preprocess", *argv])
    except SystemExit as stopped:  # argparse's own errors
        code = stopped.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and err.count("\n") == 0
