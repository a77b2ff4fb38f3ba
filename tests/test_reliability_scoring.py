"""Predictions files and references under bad input: named errors with file, line or id; nothing silently kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rad3d_hf.scoring import score
from rad3d_hf.scoring.predictions import PredictionsError, read_predictions
from tests.scoring_data import small_rows

ROWS = small_rows()


def test_an_unquoted_comma_in_a_csv_answer_is_an_error_not_a_truncated_answer(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,prediction\na,Yes\nb,No, there is none\n", encoding="utf-8")
    with pytest.raises(PredictionsError, match=r"p\.csv:3: .*3 fields.*header has 2.*quote") as info:
        read_predictions(path)
    assert str(path) in str(info.value)


def test_extra_columns_in_the_header_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,prediction,model\na,Yes,m1\nb,"No, none",m1\n', encoding="utf-8")
    assert read_predictions(path) == {"a": "Yes", "b": "No, none"}


@pytest.mark.parametrize("header", ["id,prediction,prediction", "id,id,prediction", "id,prediction,x,x"])
def test_a_duplicated_csv_column_is_an_error(tmp_path: Path, header: str) -> None:
    path = tmp_path / "p.csv"
    n = header.count(",") + 1
    path.write_text(f"{header}\n" + ",".join(["a", "Yes"] + ["z"] * (n - 2)) + "\n", encoding="utf-8")
    with pytest.raises(PredictionsError, match=r"p\.csv:1: .*column.*more than once"):
        read_predictions(path)


def test_duplicate_keys_in_a_json_line_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "Yes"}\n{"id": "b", "prediction": "Yes", "prediction": "No"}\n')
    with pytest.raises(PredictionsError, match=r"p\.jsonl:2: .*'prediction' more than once"):
        read_predictions(path)


@pytest.mark.parametrize("size", [200_000, 1_100_000])
def test_big_quoted_csv_fields_are_read_whole(tmp_path: Path, size: int) -> None:
    answer = ('A long, "quoted"\nanswer. ' * (size // 24 + 1))[:size]
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerows([("id", "prediction"), ("a", answer), ("b", "short")])
    assert read_predictions(path) == {"a": answer, "b": "short"}


def test_big_json_fields_are_read_whole(tmp_path: Path) -> None:
    answer = "x" * 1_100_000
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a", "prediction": answer}) + "\n")
    assert read_predictions(path) == {"a": answer}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_utf16_predictions_are_named_as_such(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    text = "id,prediction\na,Yes\n" if suffix == ".csv" else '{"id": "a", "prediction": "Yes"}\n'
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(PredictionsError, match="UTF-16"):
        read_predictions(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_predictions_name_the_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    lines = (
        ["id,prediction", "a,Yes", "b,caf\u00e9"]
        if suffix == ".csv"
        else [
            '{"id": "a", "prediction": "Yes"}',
            '{"id": "b", "prediction": "caf\u00e9"}',
        ]
    )
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(PredictionsError, match=rf"p{suffix}:{len(lines)}: not UTF-8"):
        read_predictions(path)


def test_a_lone_surrogate_in_a_json_prediction_is_an_error_naming_line_and_id(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "Yes"}\n{"id": "b", "prediction": "bad \\ud800 text"}\n')
    with pytest.raises(PredictionsError, match=r"p\.jsonl:2: .*'b'.*surrogate"):
        read_predictions(path)


def test_a_lone_surrogate_through_score_names_the_id() -> None:
    predictions = [r["answer"] for r in ROWS]
    predictions[3] = "Yes \udc80"
    with pytest.raises(ValueError, match=rf"{ROWS[3]['id']}.*surrogate"):
        score(predictions, ROWS, n_resamples=0)


def test_score_refuses_rows_of_different_splits_naming_ids() -> None:
    rows = [dict(r) for r in ROWS]
    train = dict(rows[0], id="train/task1/diagnosis/000000", volume_name="train_9_a_1")
    with pytest.raises(ValueError, match=r"split.*'test'.*'train'.*train/task1/diagnosis/000000"):
        score([r["answer"] for r in [*rows, train]], [*rows, train], n_resamples=0)


def test_score_refuses_an_answer_choice_that_contradicts_the_answer() -> None:
    rows = [dict(r) for r in ROWS]
    bad = next(i for i, r in enumerate(rows) if r["task"] == 4 and r["answer_choice"] == "A")
    rows[bad]["answer"] = "No"  # but answer_choice A is "Yes"
    with pytest.raises(ValueError, match=rf"{rows[bad]['id']}.*answer_choice 'A' is 'Yes'.*answer is 'No'"):
        score([r["answer"] for r in rows], rows, n_resamples=0)


@pytest.mark.parametrize("task", [True, 4.5, "4.0", "four", None, [4]])
def test_a_task_that_is_not_an_integer_is_an_error_naming_the_id(task: object) -> None:
    rows = [dict(r) for r in ROWS]
    rows[3]["task"] = task
    with pytest.raises(ValueError, match=rf"{rows[3]['id']}"):
        score([r["answer"] for r in rows], rows, n_resamples=0)


def _metric():  # type: ignore[no-untyped-def]
    import evaluate

    return evaluate.load(str(Path(__file__).resolve().parents[1] / "metric" / "3d-rad-metric"))


@pytest.mark.parametrize("bad", [5, None, ["Yes"], b"Yes"])
def test_non_string_predictions_through_evaluate_name_the_id(bad: object) -> None:
    predictions: list[object] = [r["answer"] for r in ROWS]
    predictions[2] = bad
    with pytest.raises(TypeError, match=rf"{ROWS[2]['id']}.*not a string"):
        _metric().compute(predictions=predictions, references=ROWS, n_resamples=0)


def test_a_non_integer_task_through_evaluate_names_the_id() -> None:
    rows = [dict(r) for r in ROWS]
    rows[0]["task"] = 4.5
    with pytest.raises(ValueError, match=rf"{rows[0]['id']}.*task"):
        _metric().compute(predictions=[r["answer"] for r in rows], references=rows, n_resamples=0)


def _official_bleu1_counts(prediction: str, reference: str) -> tuple[int, int, int]:
    """What the official 3D-RAD evaluation counts: it strips both texts, then evaluate's bleu tokenizes them (13a)."""
    from collections import Counter

    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tokenize = Tokenizer13a()
    hyp, ref = tokenize(prediction.strip()).split(), tokenize(reference.strip()).split()
    matches = sum((Counter(hyp) & Counter(ref)).values())
    return matches, len(hyp), len(ref)


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("Right lung nodule-\n", "Right lung nodule."),
        ("  Mild emphysema -\n", "Mild emphysema -\n"),
        ("\nNo -\n\n", "No"),
        ("3 cm-\n", " 3 cm -\n "),
    ],
)
def test_bleu1_strips_predictions_and_references_as_the_official_code_does(prediction: str, reference: str) -> None:
    from rad3d_hf.scoring.text_metrics import bleu1_counts

    assert bleu1_counts(prediction, reference) == _official_bleu1_counts(prediction, reference)
