"""The built-in demo source through the builder: every task config, both splits, map-style and streaming."""

import nibabel as nib
import pytest

from rad3d_hf.volume_names import parse_volume_name

CONFIGS = ["task1", "task2", "task3", "task4", "task5", "task6", "all"]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    return tmp_path_factory.mktemp("demo_home")


CASES = [(c, False) for c in CONFIGS] + [("task6", True), ("all", True)]


@pytest.mark.parametrize(("config", "streaming"), CASES, ids=[f"{c}-{'streaming' if s else 'map'}" for c, s in CASES])
def test_demo_configs_keep_the_contract(config, streaming, demo_home, monkeypatch):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    monkeypatch.setenv("HF_HOME", str(demo_home))
    ds = load_dataset("3d-rad", config, demo=True, streaming=streaming, cache_dir=str(demo_home / "cache"))
    assert set(ds) == {"train", "test"}
    for split, rows in ds.items():
        rows = list(rows)
        assert rows, f"demo {config}/{split} is empty"
        assert len({r["id"] for r in rows}) == len(rows)
        for row in rows:
            assert row["id"].startswith(f"{split}/task{row['task']}/")
            if row["question_type"] == "closed":
                assert row["choices"]["ABCD".index(row["answer_choice"])] == row["answer"]
            if row["task"] == 6:
                assert len(row["history"]) == parse_volume_name(row["volume_name"]).scan_index
            image = row["volume"]
            assert isinstance(image.dataobj, nib.arrayproxy.ArrayProxy)
            assert image.get_filename().endswith(f"{row['volume_name']}.nii.gz")


def test_demo_task6_rows_point_at_earlier_scans(demo_home, monkeypatch):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    monkeypatch.setenv("HF_HOME", str(demo_home))
    rows = load_dataset("3d-rad", "task6", split="test", demo=True, cache_dir=str(demo_home / "cache"))
    for row in rows:
        scan = parse_volume_name(row["volume_name"]).scan_index
        assert 1 <= len(row["prior_volume_names"]) <= scan
        assert all(parse_volume_name(p).scan_index < scan for p in row["prior_volume_names"])


def test_the_demo_folder_is_part_of_the_cache_key(tmp_path, monkeypatch):
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    cache = str(tmp_path / "cache")
    paths = []
    for home in ("home_a", "home_b"):
        monkeypatch.setenv("HF_HOME", str(tmp_path / home))
        row = load_dataset("3d-rad", "task3", split="test", demo=True, cache_dir=cache)[0]
        paths.append(row["volume"].get_filename())
    assert paths[0].startswith(str(tmp_path / "home_a")) and paths[1].startswith(str(tmp_path / "home_b"))
