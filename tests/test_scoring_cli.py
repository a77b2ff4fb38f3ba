"""`rad3d-hf score` end to end on small tables written in the published format."""

from __future__ import annotations

import json

import pytest

from rad3d_hf.cli import main
from rad3d_hf.data.rows import read_rows
from rad3d_hf.scoring.predictions import write_predictions_jsonl
from tests.qa_table_files import closed_row, open_row, write_table

CONFIGS = "task3_diameter,task4_lung_nodule,task5_b,task6_b"


@pytest.fixture
def tables(tmp_path):
    root = tmp_path / "tables"
    write_table(
        root,
        "test",
        3,
        "Diameter",
        [
            open_row(3, "Diameter", "test", f"test_{i}_a_1.nii.gz", "How wide?", a)
            for i, a in enumerate(["2 cm", "15 mm", "3 x 2 cm"])
        ],
    )
    nodules = [closed_row(4, "Lung nodule", "test", f"test_{i}_a_1.nii.gz", "Nodule?", "AB"[i % 2]) for i in range(6)]
    write_table(root, "test", 4, "Lung nodule", nodules)
    temporal = [
        ("test_1_b_1.nii.gz", "Arterial wall calcification: [1]. Change?", "A"),
        ("test_2_b_1.nii.gz", "Scans showed emphysema as: [1]. Change?", "B"),
        ("test_3_b_1.nii.gz", "Past sequences of atelectasis: [0]. Change?", "D"),
        ("test_4_b_1.nii.gz", "Past sequences of atelectasis: [0]. Change?", "C"),
    ]
    write_table(root, "test", 5, "b", [closed_row(5, "b", "test", v, "How?", letter) for v, _, letter in temporal])
    write_table(root, "test", 6, "b", [closed_row(6, "b", "test", v, q, letter) for v, q, letter in temporal])
    return root


def _rows(tables):
    out = []
    for config in CONFIGS.split(","):
        out += list(read_rows(str(tables), "test", config))
    return out


def test_score_writes_table_report_log_and_figure(tables, tmp_path, capsys):
    rows = _rows(tables)
    predictions = {}
    for row in rows:
        predictions[row["id"]] = row["answer"] if row["task"] == 3 else f"{row['answer_choice']}. {row['answer']}"
    first = rows[3]["id"]  # a Task 4 question answered wrongly in words
    predictions[first] = "Yes, there is a nodule." if rows[3]["answer_choice"] == "B" else "No."
    write_predictions_jsonl(tmp_path / "preds.jsonl", predictions)
    out = tmp_path / "out"
    code = main(
        [
            "score",
            str(tmp_path / "preds.jsonl"),
            "--data-dir",
            str(tables),
            "--config",
            CONFIGS,
            "--out",
            str(out),
            "--resamples",
            "200",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Task 4 Existence Detection" in printed and "Task 6 Longitudinal Temporal Diagnosis" in printed
    assert sorted(p.name for p in out.iterdir()) == ["questions.jsonl", "report.json", "scores.png", "table.txt"]
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == len(rows) == 17
    assert report["task4/accuracy"] == pytest.approx(5 / 6)
    assert report["task3/measurement_exact"] == 1.0 and report["task6/accuracy"] == 1.0
    # the history rule answers A, A, D, D for [1], [1], [0], [0]: right on the first and third question
    assert report["task6/accuracy_baseline_history"] == 0.5
    log = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert len(log) == 17 and {"id", "prediction", "parsed", "score"} <= set(log[0])
    wrong = next(entry for entry in log if entry["id"] == first)
    assert wrong["score"] == 0.0 and wrong["rule"].startswith("yes_no")
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "table.txt").read_text().strip() in printed


def test_missing_and_unknown_ids(tables, tmp_path, capsys):
    rows = _rows(tables)
    predictions = {row["id"]: row["answer"] for row in rows[:10]}
    write_predictions_jsonl(tmp_path / "part.jsonl", predictions)
    args = [
        "score",
        str(tmp_path / "part.jsonl"),
        "--data-dir",
        str(tables),
        "--config",
        CONFIGS,
        "--no-figure",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "7 of 17 questions have no prediction" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--allow-subset"]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["n"] == 10 and report["n_expected"] == 17 and report["coverage"] == pytest.approx(10 / 17)
    predictions["test/task4/lung_nodule/000099"] = "Yes"
    write_predictions_jsonl(tmp_path / "part.jsonl", predictions)
    assert main([*args, "--out", str(tmp_path / "c"), "--allow-subset"]) == 2
    assert "'test/task4/lung_nodule/000099'" in capsys.readouterr().err


def test_demo_source(tmp_path, capsys):
    from rad3d_hf.demo import ensure_demo_data

    rows = list(read_rows(str(ensure_demo_data()), "test", "task4"))
    write_predictions_jsonl(tmp_path / "demo.jsonl", {row["id"]: row["answer"] for row in rows})
    args = [
        "score",
        str(tmp_path / "demo.jsonl"),
        "--demo",
        "--config",
        "task4",
        "--out",
        str(tmp_path / "o"),
        "--no-figure",
    ]
    assert main(args) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["task4/accuracy"] == 1.0 and report["n"] == len(rows)


def test_unreadable_tables_are_a_clear_error(tmp_path, capsys):
    write_predictions_jsonl(tmp_path / "p.jsonl", {"test/task4/lung_nodule/000000": "Yes"})
    code = main(
        ["score", str(tmp_path / "p.jsonl"), "--data-dir", str(tmp_path / "nowhere"), "--config", "task4_lung_nodule"]
    )
    assert code == 2
    assert f"--data-dir {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
    (tmp_path / "empty" / "test").mkdir(parents=True)
    code = main(["score", str(tmp_path / "p.jsonl"), "--data-dir", str(tmp_path / "empty"), "--config", "task4"])
    assert code == 2
    assert f"cannot read the test QA tables from {tmp_path / 'empty'}" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--seed", "--resamples"])
def test_negative_seed_or_resamples_is_a_usage_error(tables, tmp_path, capsys, option):
    write_predictions_jsonl(tmp_path / "p.jsonl", {"test/task4/lung_nodule/000000": "Yes"})
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(tmp_path / "p.jsonl"), "--data-dir", str(tables), option, "-1"])
    assert exit_info.value.code == 2
    assert f"{option}: must be a non-negative integer" in capsys.readouterr().err


def test_an_answer_too_long_to_read_as_a_measurement_is_named_in_the_log_and_counted(tables, tmp_path, capsys):
    from rad3d_hf.scoring.measurements import MAX_MEASUREMENT_TEXT

    rows = list(read_rows(str(tables), "test", "task3_diameter"))
    predictions = {row["id"]: row["answer"] for row in rows}
    runaway = rows[0]["id"]
    predictions[runaway] = "2 cm x " * (MAX_MEASUREMENT_TEXT // 7 + 1)
    write_predictions_jsonl(tmp_path / "preds.jsonl", predictions)
    out = tmp_path / "out"
    args = ["score", str(tmp_path / "preds.jsonl"), "--data-dir", str(tables), "--config", "task3_diameter"]
    assert main([*args, "--out", str(out), "--resamples", "0"]) == 0
    printed = capsys.readouterr().out
    assert f"answers over {MAX_MEASUREMENT_TEXT:,} characters, not read as measurements: 1" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["task3/measurement_n_unread"] == report["task3/Diameter/measurement_n_unread"] == 1
    assert report["task3/measurement_n_compared"] == 2 and report["task3/measurement_exact"] == pytest.approx(2 / 3)
    log = {entry["id"]: entry for entry in map(json.loads, (out / "questions.jsonl").read_text().splitlines())}
    assert log[runaway]["parsed"] is None
    assert log[runaway]["measurement_unread"] == f"longer than {MAX_MEASUREMENT_TEXT} characters"
    assert not any("measurement_unread" in entry for key, entry in log.items() if key != runaway)
