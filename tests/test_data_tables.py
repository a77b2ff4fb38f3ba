import pytest

from rad3d_hf.data.rows import read_rows
from rad3d_hf.data.tables import QATableError, parse_history
from tests.qa_table_files import closed_row, open_row, write_table

Q4 = "Does the CT show a lung nodule?"


def _task4(tmp_path, rows, header=None):
    kwargs = {} if header is None else {"header": header}
    return write_table(tmp_path, "test", 4, "Lung nodule", rows, **kwargs)


def _read(tmp_path, config="task4_lung_nodule", split="test"):
    return list(read_rows(str(tmp_path), split, config))


def test_rows_follow_the_schema(tmp_path):
    _task4(tmp_path, [closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "A")])
    (row,) = _read(tmp_path)
    assert row == {
        "id": "test/task4/lung_nodule/000000",
        "task": 4,
        "task_name": "Existence Detection",
        "subtask": "Lung nodule",
        "source_task": 4,
        "question": Q4,
        "answer": "Yes",
        "question_type": "closed",
        "choices": ["Yes", "No"],
        "answer_choice": "A",
        "volume_name": "test_7_a_1",
        "patient_id": 7,
        "scan": "a",
        "reconstruction": 1,
        "history": [],
        "prior_volume_names": [],
    }


def test_duplicated_rows_are_kept_with_distinct_ids(tmp_path):
    row = open_row(3, "Size", "test", "test_7_a_1.nii.gz", "What is the size of the nodule?", "12x9 mm")
    write_table(tmp_path, "test", 3, "Size", [row, row])
    ids = [r["id"] for r in _read(tmp_path, "task3_size")]
    assert ids == ["test/task3/size/000000", "test/task3/size/000001"]


def test_paper_task_one_reads_the_anomaly_detection_folder(tmp_path):
    write_table(
        tmp_path,
        "train",
        1,
        "Diagnosis",
        [open_row(1, "Diagnosis", "train", "train_3_a_2.nii.gz", "Diagnosis?", "Emphysema.")],
    )
    (row,) = _read(tmp_path, "task1_diagnosis", "train")
    assert (row["task"], row["source_task"], row["reconstruction"]) == (1, 2, 2)
    assert (tmp_path / "train" / "Task2_Anomaly_Detection" / "Diagnosis.csv").exists()


def test_prior_volumes_are_earlier_scans_present_in_the_split(tmp_path):
    rows = [
        closed_row(4, "Lung nodule", "test", name, Q4, "B")
        for name in (
            "test_7_a_1.nii.gz",
            "test_7_a_2.nii.gz",
            "test_7_b_2.nii.gz",
            "test_7_c_1.nii.gz",
            "test_8_a_1.nii.gz",
        )
    ]
    _task4(tmp_path, rows)
    priors = {r["volume_name"]: r["prior_volume_names"] for r in _read(tmp_path)}
    assert priors["test_7_a_1"] == []
    assert priors["test_7_b_2"] == ["test_7_a_2"]  # same reconstruction when the earlier scan has it
    assert priors["test_7_c_1"] == ["test_7_a_1", "test_7_b_2"]  # else the lowest present
    assert priors["test_8_a_1"] == []


def test_task6_history_is_parsed_from_the_question():
    q = "Earlier nodule sequences: [0, 1]. (Note: 0 indicates absence, and 1 indicates presence.) How now?"
    assert parse_history(q) == [0, 1]
    assert parse_history("no list here") == []


def test_task6_history_must_match_the_scan_letter(tmp_path):
    q = "Past sequences of nodule: [0]. (Note: 0 indicates absence, and 1 indicates presence.) Now?"
    write_table(tmp_path, "test", 6, "c", [closed_row(6, "c", "test", "test_7_c_1.nii.gz", q, "D")])
    with pytest.raises(QATableError, match=r"c\.csv, line 2, column 'Question'.*scan 'c' needs 2"):
        _read(tmp_path, "task6_c")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r[:-1], r"line 2: row has 10 fields; expected 11"),
        (lambda r: ["7", *r[1:]], r"line 2, column 'Task': Task '7'"),
        (lambda r: [r[0], "3", *r[2:]], r"line 2, column 'Subtask': Subtask '3' is not 'Lung nodule'"),
        (
            lambda r: [*r[:6], "B", *r[7:]],
            r"line 2, column 'AnswerChoice': AnswerChoice 'B' is 'No' but Answer is 'Yes'",
        ),
        (lambda r: [*r[:6], "C", *r[7:]], r"line 2, column 'AnswerChoice': AnswerChoice 'C' names none"),
        (lambda r: [*r[:5], "Open", *r[6:]], r"line 2, column 'QuestionType'"),
        (lambda r: [r[0], r[1], "scan7.nii.gz", *r[3:]], r"line 2, column 'VolumeName'"),
        (lambda r: [r[0], r[1], "train_7_a_1.nii.gz", *r[3:]], r"not from the test split"),
        (lambda r: [*r[:7], "Maybe", *r[8:]], r"line 2, column 'Choice A'"),
        (lambda r: [*r[:4], "", *r[5:]], r"line 2, column 'Answer': empty answer"),
    ],
)
def test_bad_rows_name_file_line_and_column(tmp_path, mutate, message):
    good = closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "A")
    path = _task4(tmp_path, [mutate(good)])
    with pytest.raises(QATableError, match=message) as info:
        _read(tmp_path)
    assert str(path) in str(info.value)


def test_a_wrong_header_names_the_column(tmp_path):
    header = (
        "Task",
        "Subtask",
        "Volume",
        "Question",
        "Answer",
        "QuestionType",
        "AnswerChoice",
        "Choice A",
        "Choice B",
        "Choice C",
        "Choice D",
    )
    _task4(tmp_path, [], header=header)
    with pytest.raises(QATableError, match=r"line 1, column 'VolumeName': header column 3 is 'Volume'"):
        _read(tmp_path)


def test_a_missing_table_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Lung nodule\.csv not found; point data_dir"):
        _read(tmp_path)


def test_a_config_without_the_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"config 'task6_b' has no 'train' split"):
        _read(tmp_path, "task6_b", "train")


def test_tables_are_read_through_any_fsspec_url(tmp_path):
    import fsspec
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401

    local = write_table(
        tmp_path, "test", 4, "Lung nodule", [closed_row(4, "Lung nodule", "test", "test_7_a_1.nii.gz", Q4, "B")]
    )
    fs = fsspec.filesystem("memory")
    url = "memory://rad3d-fsspec-test"
    fs.pipe(f"{url}/test/Task4_Existence_Detection/Lung nodule.csv", local.read_bytes())
    try:
        assert [r["id"] for r in read_rows(url, "test", "task4_lung_nodule")] == ["test/task4/lung_nodule/000000"]
        ds = load_dataset("3d-rad", "task4_lung_nodule", split="test", data_dir=url, cache_dir=str(tmp_path / "c"))
        assert ds["answer"] == ["No"]
    finally:
        fs.rm(url, recursive=True)
