"""The contract every config keeps on the published tables: counts, unique ids, valid answers, Task 6 histories."""

from __future__ import annotations

import csv

import pytest

from rad3d_hf.data.catalogue import CONFIGS, get_config
from rad3d_hf.data.volume_names import parse_volume_name
from tests.conftest import real_tables_or_skip

pytestmark = pytest.mark.real_data

# ../shared/3drad/README.md, per source folder and for `all`.
PUBLISHED_COUNTS = {
    ("task1", "test"): 2666, ("task1", "train"): 6055,
    ("task2", "test"): 1024, ("task2", "train"): 2081,
    ("task3", "test"): 1002, ("task3", "train"): 1573,
    ("task4", "test"): 23472, ("task4", "train"): 100170,
    ("task5", "test"): 2873, ("task5", "train"): 13158,
    ("task6", "test"): 2873, ("task6", "train"): 13158,
    ("all", "test"): 33910, ("all", "train"): 136195,
}  # fmt: skip
CASES = [(name, split) for name, spec in CONFIGS.items() for split in spec.splits]


def _rows_in_file(path) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def expected_count(config: str, split: str) -> int:
    if (config, split) in PUBLISHED_COUNTS:
        return PUBLISHED_COUNTS[config, split]
    root = real_tables_or_skip()
    return sum(_rows_in_file(root / split / t.folder / s.file_name) for t, s in get_config(config).files(split))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("contract_cache"))


def _columns(config: str, split: str, streaming: bool, cache_dir: str) -> dict[str, list]:
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    root = real_tables_or_skip()
    ds = load_dataset("3d-rad", config, split=split, data_dir=str(root), streaming=streaming, cache_dir=cache_dir)
    names = ["id", "task", "subtask", "answer", "choices", "answer_choice", "question_type", "volume_name", "history"]
    if not streaming:
        return {n: ds.data.column(n).to_pylist() for n in names}
    out: dict[str, list] = {n: [] for n in names}
    for batch in ds.iter(batch_size=4096):
        for n in names:
            out[n].extend(batch[n])
    return out


@pytest.mark.parametrize("streaming", [False, True], ids=["map", "streaming"])
@pytest.mark.parametrize(("config", "split"), CASES, ids=[f"{c}-{s}" for c, s in CASES])
def test_config_contract(config, split, streaming, cache_dir):
    cols = _columns(config, split, streaming, cache_dir)
    n = len(cols["id"])
    assert n == expected_count(config, split)
    assert len(set(cols["id"])) == n, "ids must be unique"
    selected = {(t.number, s.name) for t, s in get_config(config).files(split)}
    assert set(zip(cols["task"], cols["subtask"])) == selected
    for i in range(n):
        if cols["question_type"][i] == "closed":
            letter = cols["answer_choice"][i]
            assert cols["choices"][i]["ABCD".index(letter)] == cols["answer"][i], cols["id"][i]
        else:
            assert cols["choices"][i] == [] and cols["answer_choice"][i] == ""
        if cols["task"][i] == 6:
            assert len(cols["history"][i]) == parse_volume_name(cols["volume_name"][i]).scan_index, cols["id"][i]
        else:
            assert cols["history"][i] == []


def test_ids_are_stable_across_processes_and_modes(cache_dir):
    a = _columns("task3", "test", False, cache_dir)["id"]
    b = _columns("task3", "test", True, cache_dir)["id"]
    assert a == b
    assert a[0] == "test/task3/diameter/000000"
    assert "test/task3/size/000443" in a  # Size.csv: 444 rows, 9 of them duplicates, all kept
