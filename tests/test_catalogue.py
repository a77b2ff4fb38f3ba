import pytest

from rad3d_hf.data import catalogue
from rad3d_hf.data.volume_names import parse_volume_name


def test_paper_numbering_swaps_source_tasks_one_and_two():
    assert catalogue.get_task(1).name == "Anomaly Detection"
    assert catalogue.get_task(1).source_task == 2
    assert catalogue.get_task(1).folder == "Task2_Anomaly_Detection"
    assert catalogue.get_task(2).source_task == 1
    assert [catalogue.TASK_BY_SOURCE[n].number for n in range(1, 7)] == [2, 1, 3, 4, 5, 6]


def test_file_counts_per_split_match_the_published_layout():
    assert len(catalogue.get_config("all").files("test")) == 41
    assert len(catalogue.get_config("all").files("train")) == 51


def test_temporal_source_index_differs_by_split():
    c = catalogue.get_task(5).subtask("c")
    assert c.source_index == {"train": 1, "test": 2}
    assert catalogue.get_task(6).subtask("b").splits == ("test",)
    assert catalogue.get_config("task6_b").splits == ("test",)
    assert catalogue.get_config("task5_q").splits == ("train",)


def test_config_names_are_unique_and_complete():
    names = list(catalogue.CONFIGS)
    assert len(names) == len(set(names))
    n_subtasks = sum(len(t.subtasks) for t in catalogue.TASKS.values())
    assert len(names) == 7 + n_subtasks
    assert "task4_lung_nodule" in names and "task3_diameter" in names


def test_unknown_names_are_named_in_the_error():
    with pytest.raises(KeyError, match="task7"):
        catalogue.get_config("task7")
    with pytest.raises(KeyError, match="Nodules"):
        catalogue.get_task(4).subtask("Nodules")


def test_volume_names():
    v = parse_volume_name("test_1005_b_1.nii.gz")
    assert (v.split, v.patient_id, v.scan, v.reconstruction, v.scan_index) == ("test", 1005, "b", 1, 1)
    assert v.ctrate_stem == "valid_1005_b_1"
    assert v.ctrate_relative_dir() == "valid/valid_1005/valid_1005_b"
    with pytest.raises(ValueError, match="bad_name"):
        parse_volume_name("bad_name.nii.gz")
