"""Predictions files (JSONL, CSV) and their join with the rows: every problem is an error that names it."""

from __future__ import annotations

import json
import re

import pytest

from rad3d_hf.scoring.predictions import (
    PredictionsError,
    join_predictions,
    read_predictions,
    write_predictions_jsonl,
)
from tests.scoring_data import small_rows

ROWS = small_rows()
IDS = [r["id"] for r in ROWS]


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_and_csv_read_the_same(tmp_path):
    predictions = {pid: f'answer, with "quotes" {i}' for i, pid in enumerate(IDS)}
    predictions[IDS[0]] = ""
    write_predictions_jsonl(tmp_path / "p.jsonl", predictions)
    import csv

    with (tmp_path / "p.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prediction", "model"])
        writer.writerows([pid, text, "m"] for pid, text in predictions.items())
    assert read_predictions(tmp_path / "p.jsonl") == predictions
    assert read_predictions(tmp_path / "p.csv") == predictions
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "p.csv").read_bytes())  # a spreadsheet export
    assert read_predictions(tmp_path / "bom.csv") == predictions


def test_duplicate_ids_are_listed_with_their_lines(tmp_path):
    path = _jsonl(
        tmp_path / "p.jsonl",
        [{"id": IDS[0], "prediction": "a"}, {"id": IDS[1], "prediction": "b"}, {"id": IDS[0], "prediction": "c"}],
    )
    with pytest.raises(PredictionsError, match=rf"1 duplicate id\(s\): '{IDS[0]}' \(again on line 3\)"):
        read_predictions(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"p.jsonl:2: not valid JSON"),
        ('{"id": "x"}', r'p.jsonl:2: expected an object with "id" and "prediction"'),
        ('{"id": "x", "prediction": null}', r"p.jsonl:2: the prediction for id 'x' must be a string"),
        ('{"id": 3, "prediction": "a"}', r"p.jsonl:2: 'id' must be a non-empty string"),
    ],
)
def test_malformed_jsonl_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": IDS[0], "prediction": "a"}) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(PredictionsError, match=message):
        read_predictions(path)


def test_csv_without_the_columns_and_unknown_formats(tmp_path):
    (tmp_path / "p.csv").write_text("id,answer\nx,y\n", encoding="utf-8")
    with pytest.raises(PredictionsError, match="lacks the column\\(s\\) prediction"):
        read_predictions(tmp_path / "p.csv")
    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
    with pytest.raises(PredictionsError, match="unknown predictions format '.txt'"):
        read_predictions(tmp_path / "p.txt")
    with pytest.raises(PredictionsError, match="does not exist"):
        read_predictions(tmp_path / "missing.jsonl")


def test_unknown_ids_are_an_error_even_for_a_subset():
    predictions = {pid: "a" for pid in IDS}
    predictions["test/task4/lung_nodule/999999"] = "a"
    for allow_subset in (False, True):
        with pytest.raises(PredictionsError, match=r"1 id\(s\) not in the references: 'test/task4/lung_nodule/999999'"):
            join_predictions(predictions, ROWS, allow_subset=allow_subset)


def test_missing_ids_are_an_error_unless_a_subset_is_asked_for():
    predictions = {pid: "a" for pid in IDS[5:]}
    with pytest.raises(
        PredictionsError, match=rf"5 of {len(IDS)} questions have no prediction: '{IDS[0]}'.*--allow-subset"
    ):
        join_predictions(predictions, ROWS)
    joined = join_predictions(predictions, ROWS, allow_subset=True)
    assert joined.missing_ids == IDS[:5]
    assert [r["id"] for r in joined.rows] == IDS[5:]
    assert joined.coverage == pytest.approx((len(IDS) - 5) / len(IDS))


def test_long_id_lists_are_shortened():
    with pytest.raises(PredictionsError, match=r"and \d+ more"):
        join_predictions({}, ROWS)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("p.jsonl", b'\xff\xfe{"id": "x", "prediction": "y"}\n'),  # a UTF-16 byte order mark
        ("p.csv", b"id,prediction\nx,\xe9t\xe9\n"),  # Latin-1
    ],
)
def test_undecodable_files_are_errors_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PredictionsError, match=re.escape(str(path))):
        read_predictions(path)
