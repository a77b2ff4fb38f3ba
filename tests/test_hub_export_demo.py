"""The built-in demo data exported with its volumes embedded loads with plain datasets in a fresh process and gives
the builder's ``demo=True`` rows, with lazy NIfTI volumes stored once."""

from __future__ import annotations

from rad3d_hf.hub.export import export_dataset
from tests.plain_datasets_loader import load_in_fresh_process
from tests.test_hub_export import builder_rows, check_volume_rows

LOADS = [("task6", "test", False), ("task6", "test", True), ("task2", "train", True), ("task3", "test", False)]


def test_demo_export_with_embedded_volumes_round_trips(tmp_path):
    from rad3d_hf.demo import ensure_demo_data

    root = ensure_demo_data(seed=0)  # the folder demo=True exports (under the test's HF_HOME)
    out = tmp_path / "demo export"
    report = export_dataset(out, demo=True, embed_volumes=True, progress=False)
    assert report.layout == "volumes" and report.skipped_questions == 0
    loaded = load_in_fresh_process(out, LOADS, cwd=tmp_path, hf_home=tmp_path / "hf")
    assert loaded["rad3d_hf_imported"] is False
    for config, split, streaming in LOADS:
        expected = builder_rows(config, split, root, tmp_path / "cache", root / "volumes")
        check_volume_rows(loaded[f"{config}/{split}/{streaming}"]["rows"], expected)
    volumes = sorted(p.name for p in (out / "data").rglob("*.nii.gz"))
    assert volumes == sorted(p.name for p in (root / "volumes").glob("*.nii.gz")), "every demo volume, each once"
    assert report.volume_bytes == sum(p.stat().st_size for p in (root / "volumes").glob("*.nii.gz"))
    assert report.volume_bytes_per_question > 10 * report.volume_bytes
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "synthetic demo data (seed 0)" in card
    assert "rad3d-hf export --out DIR --demo --demo-seed 0 --embed-volumes" in card
