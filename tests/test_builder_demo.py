"""The built-in demo source through the builder: every task config, both splits, map-style and streaming."""

import nibabel as nib
import pytest

from rad3d_hf.data.volume_names import parse_volume_name
from tests.conftest import demo_under

CONFIGS = ["task1", "task2", "task3", "task4", "task5", "task6", "all"]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo_home")
    demo_under(home)
    return home


CASES = [(c, False) for c in CONFIGS] + [("task6", True), ("all", True)]


@pytest.mark.parametrize(("config", "streaming"), CASES, ids=[f"{c}-{'streaming' if s else 'map'}" for c, s in CASES])
def test_demo_configs_keep_the_contract(config, streaming, demo_home, monkeypatch):
    """Every row keeps the contract and names its volume's file; each volume decodes to a lazy image of that file.

    Rows are read with the volume column undecoded (decoding costs milliseconds a row and a volume serves many rows),
    and each volume is decoded once by the column's own feature; the first rows also come decoded by datasets.
    """
    from datasets import Nifti, load_dataset

    import rad3d_hf  # noqa: F401

    monkeypatch.setenv("HF_HOME", str(demo_home))
    ds = load_dataset("3d-rad", config, demo=True, streaming=streaming, cache_dir=str(demo_home / "cache"))
    assert set(ds) == {"train", "test"}
    for split, decoded_rows in ds.items():
        feature = decoded_rows.features["volume"]
        assert isinstance(feature, Nifti) and feature.decode
        rows = list(decoded_rows.cast_column("volume", Nifti(decode=False)))
        assert rows, f"demo {config}/{split} is empty"
        assert len({r["id"] for r in rows}) == len(rows)
        images = {}
        for row in rows:
            assert row["id"].startswith(f"{split}/task{row['task']}/")
            if row["question_type"] == "closed":
                assert row["choices"]["ABCD".index(row["answer_choice"])] == row["answer"]
            if row["task"] == 6:
                assert len(row["history"]) == parse_volume_name(row["volume_name"]).scan_index
            assert row["volume"]["path"].endswith(f"/{row['volume_name']}.nii.gz")
            if row["volume_name"] not in images:
                images[row["volume_name"]] = feature.decode_example(row["volume"])
        for name, image in images.items():
            assert isinstance(image.dataobj, nib.arrayproxy.ArrayProxy)
            assert image.get_filename().endswith(f"{name}.nii.gz")
        for row, plain in zip(decoded_rows, rows[:3]):  # datasets' own decoding gives the same lazy image
            assert row["id"] == plain["id"] and isinstance(row["volume"].dataobj, nib.arrayproxy.ArrayProxy)
            assert row["volume"].get_filename() == images[row["volume_name"]].get_filename()


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
        demo_under(tmp_path / home)  # two demo folders, one per HF_HOME
        monkeypatch.setenv("HF_HOME", str(tmp_path / home))
        row = load_dataset("3d-rad", "task3", split="test", demo=True, cache_dir=cache)[0]
        paths.append(row["volume"].get_filename())
    assert paths[0].startswith(str(tmp_path / "home_a")) and paths[1].startswith(str(tmp_path / "home_b"))
