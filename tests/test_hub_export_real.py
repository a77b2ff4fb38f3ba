"""The published tables (../shared/3drad) exported QA-only load with plain datasets in a fresh process, giving the
builder's rows; the committed card in loading_script/ is exactly what the generator makes from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rad3d_hf.data.catalogue import CONFIGS, SPLITS
from rad3d_hf.data.rows import read_rows
from rad3d_hf.hub.export import GITATTRIBUTES, card_for_tables, export_dataset
from tests.plain_datasets_loader import load_in_fresh_process
from tests.test_hub_export import builder_rows

pytestmark = pytest.mark.real_data
LOADING_SCRIPT = Path(__file__).resolve().parents[1] / "loading_script"
CONFIGS_EXPORTED = ["all", "task6", "task3_size"]
LOADS = [("task6", "test", False), ("task6", "test", True), ("task3_size", "test", False), ("all", "test", True)]


@pytest.mark.slow
def test_real_tables_qa_only_round_trip(real_tables, tmp_path):
    out = tmp_path / "3D-RAD"
    report = export_dataset(out, data_dir=str(real_tables), configs=CONFIGS_EXPORTED, splits=["test"], progress=False)
    assert report.questions == {"test": 33_910} and report.volumes == {"test": 2_696}
    loaded = load_in_fresh_process(out, LOADS, cwd=tmp_path, hf_home=tmp_path / "hf")
    assert loaded["rad3d_hf_imported"] is False
    assert loaded["configs"] == sorted(CONFIGS_EXPORTED)
    for config in ("task6", "task3_size"):
        expected = builder_rows(config, "test", real_tables, tmp_path / "cache")
        for streaming in (False, True):
            key = f"{config}/test/{streaming}"
            if key in loaded:
                assert loaded[key]["rows"] == expected, key
    everything = loaded["all/test/True"]["rows"]
    assert len(everything) == 33_910
    assert everything == list(read_rows(str(real_tables), "test", "all")), "the builder's rows, in the builder's order"


def test_committed_card_is_what_the_generator_makes(real_tables):
    committed = (LOADING_SCRIPT / "README.md").read_text(encoding="utf-8")
    assert committed == card_for_tables(str(real_tables)), (
        "loading_script/README.md is stale: regenerate it with "
        "`rad3d-hf export --out loading_script --data-dir ../shared/3drad` (see loading_script/PUBLISHING.md)"
    )


def test_committed_card_declares_every_config():
    text = (LOADING_SCRIPT / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    names = [c["config_name"] for c in meta["configs"]]
    assert names[0] == "all" and sorted(names) == sorted(CONFIGS)
    for entry in meta["configs"]:
        splits = [f["split"] for f in entry["data_files"]]
        assert splits == [s for s in SPLITS if s in CONFIGS[entry["config_name"]].splits]
    infos = {i["config_name"]: {s["name"]: s["num_examples"] for s in i["splits"]} for i in meta["dataset_info"]}
    assert infos["all"] == {"train": 136_195, "test": 33_910}
    assert infos["task1"] == {"train": 6_055, "test": 2_666}
    assert (LOADING_SCRIPT / ".gitattributes").read_text() == GITATTRIBUTES
