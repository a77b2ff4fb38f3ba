"""Tasks 5/6 from single-scan readings: the existence questions, their composition, predict.py --compose-temporal."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from rad3d_hf.data.catalogue import FINDINGS, named_finding
from rad3d_hf.scoring.temporal_composition import EXISTENCE_QUESTION, compose_answers, existence_id, existence_questions
from tests.conftest import real_tables_or_skip

CHOICES = [
    "Refractory Lesion (Persistent or recurrent, now present)",
    "Resolved Lesion (Previously present or recurrent, now absent)",
    "New Lesion (Absent previously, now present)",
    "No Abnormality (Always absent)",
]


def _row(row_id: str, finding: str, current: str, earlier: list[str], task: int = 5) -> dict:
    question = f"How would you classify the {finding.lower()} observed in the current CT scan?"
    return {
        "id": row_id,
        "task": task,
        "question": question,
        "question_type": "closed",
        "choices": CHOICES,
        "volume_name": current,
        "prior_volume_names": earlier,
    }


def test_each_scan_and_finding_is_asked_once_in_the_order_the_rows_need_them():
    rows = [
        _row("q1", "Emphysema", "p1_c", ["p1_a", "p1_b"]),
        _row("q2", "Emphysema", "p1_c", ["p1_a", "p1_b"], task=6),  # same scans and finding: nothing new to ask
        _row("q3", "Lung nodule", "p1_c", ["p1_a", "p1_b"]),
    ]
    questions = existence_questions(rows)
    assert [q["id"] for q in questions] == [
        existence_id(v, f) for f in ("Emphysema", "Lung nodule") for v in ("p1_a", "p1_b", "p1_c")
    ]
    first = questions[0]
    assert first == {
        "id": "existence/p1_a/Emphysema",
        "task": 4,
        "subtask": "Emphysema",
        "question": "Does the CT scan demonstrate emphysema?",
        "question_type": "closed",
        "choices": ["Yes", "No"],
        "volume_name": "p1_a",
    }
    assert EXISTENCE_QUESTION.format(finding="x") == "Does the CT scan demonstrate x?"


def test_the_four_courses_come_out_as_their_categories():
    rows = [_row(f"q{k}", "Emphysema", f"p{k}_c", [f"p{k}_a", f"p{k}_b"]) for k in range(4)]
    # (current, earliest, latest earlier) readings per patient: persistent, resolved, new, never
    readings = {0: ("Yes", "No", "Yes"), 1: ("No", "Yes", "No"), 2: ("Yes", "No", "No"), 3: ("No", "No", "No")}
    answers = {}
    for k, (now, a, b) in readings.items():
        answers[existence_id(f"p{k}_c", "Emphysema")] = f"{'A' if now == 'Yes' else 'B'}. {now}"
        answers[existence_id(f"p{k}_a", "Emphysema")] = a  # the bare word is read too
        answers[existence_id(f"p{k}_b", "Emphysema")] = b
    composition = compose_answers(rows, answers)
    assert [a[:1] for a in composition.answers] == ["A", "B", "C", "D"]
    assert composition.answers[1] == "B. " + CHOICES[1]
    assert composition.unread == {}


def test_an_unreadable_reading_is_never_guessed():
    rows = [
        _row("now-unread", "Emphysema", "p_c", ["p_a"]),
        _row("past-unread", "Atelectasis", "p_c", ["p_a", "p_b"]),
        _row("past-known", "Cardiomegaly", "p_c", ["p_a", "p_b"]),
    ]
    answers = {
        existence_id("p_c", "Emphysema"): "I cannot tell",
        existence_id("p_a", "Emphysema"): "Yes",
        existence_id("p_c", "Atelectasis"): "No",
        existence_id("p_a", "Atelectasis"): "No",
        existence_id("p_b", "Atelectasis"): "Yes and no",
        existence_id("p_c", "Cardiomegaly"): "No",
        existence_id("p_a", "Cardiomegaly"): "",
        existence_id("p_b", "Cardiomegaly"): "Yes",  # one earlier Yes decides the past whatever the other says
    }
    composition = compose_answers(rows, answers)
    assert composition.answers == ["", "", "B. " + CHOICES[1]]
    assert set(composition.unread) == {"now-unread", "past-unread"}
    assert "p_c" in composition.unread["now-unread"] and "p_b" in composition.unread["past-unread"]
    with pytest.raises(KeyError, match="existence/p_c/Emphysema"):
        compose_answers(rows[:1], {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": 4}, "not a temporal task"),
        ({"question": "How should this be categorised?"}, "names none of the 18 findings"),
        ({"prior_volume_names": []}, "no earlier scans"),
        ({"volume_name": ""}, "no volume_name"),
    ],
)
def test_rows_it_cannot_compose_are_errors_that_name_them(change, message):
    with pytest.raises(ValueError, match=f"row q7: .*{message}"):
        existence_questions([{**_row("q7", "Emphysema", "p_c", ["p_a"]), **change}])


def test_the_longest_finding_name_wins():
    assert named_finding("Is there arterial wall calcification?") == "Arterial wall calcification"
    assert named_finding("Any CORONARY ARTERY WALL CALCIFICATION here?") == "Coronary artery wall calcification"
    assert named_finding("Is there lung nodule or nodule?", ["Nodule", "Lung nodule"]) == "Lung nodule"
    assert named_finding("What is this?") is None


def test_every_published_temporal_question_names_one_finding():
    """All Task 5/6 questions of both splits name exactly one of the 17 findings the temporal tasks ask about."""
    root = real_tables_or_skip()
    named: Counter = Counter()
    for path in sorted(root.glob("*/Task[56]_*/*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                question = row["Question"]
                finding = named_finding(question)
                assert finding is not None, (path.name, question)
                others = [f for f in FINDINGS if f.lower() in question.lower() and f.lower() not in finding.lower()]
                assert others == [], (path.name, question)
                named[finding] += 1
    assert len(named) == 17 and "Medical material" not in named
    assert sum(named.values()) > 30_000 and len(set(named.values())) == 1


def test_the_published_test_split_composes_from_its_own_scans():
    """Through the builder: every Task 5 test question has its earlier scans, and the questions to ask are bounded."""
    root = real_tables_or_skip()
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)

    rows = list(load_dataset("3d-rad", "task5", split="test", data_dir=str(root), splits=("test",)))
    questions = existence_questions(rows)
    scans = {r["volume_name"] for r in rows} | {n for r in rows for n in r["prior_volume_names"]}
    assert len(rows) == 2873 and all(r["prior_volume_names"] for r in rows)
    assert {q["volume_name"] for q in questions} == scans
    # each scan once per finding: the 17 findings on 425 scans, against 2,873 questions answered directly
    assert len(questions) == len({(q["volume_name"], q["subtask"]) for q in questions}) == 17 * len(scans) == 7225


@pytest.mark.slow
def test_predict_composes_a_models_single_scan_answers(tmp_path, caplog):
    """A saved tiny model answers every (scan, finding) once; the output is those answers composed, row by row."""
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    import logging

    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)
    from rad3d_hf.models.m3d_rad.presets import build_tiny
    from tests.test_m3d_rad_examples import load_example

    model, processor = build_tiny(["Does the CT scan demonstrate emphysema? A. Yes B. No"] * 4, seed=0)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    predict = load_example("predict")
    output = tmp_path / "task5.jsonl"
    argv = ["--model", str(tmp_path / "model"), "--demo", "--config", "task5", "--compose-temporal"]
    argv += ["--output", str(output), "--num-workers", "0", "--max-new-tokens", "3", "--max-samples", "20"]
    caplog.set_level(logging.INFO, logger="predict")
    assert predict.main(argv) == 0

    rows = list(load_dataset("3d-rad", "task5", split="test", demo=True).select(range(20)).remove_columns("volume"))
    existence = [json.loads(line) for line in (tmp_path / "task5.existence.jsonl").read_text().splitlines()]
    assert [e["id"] for e in existence] == [q["id"] for q in existence_questions(rows)]
    composed = [json.loads(line) for line in output.read_text().splitlines()]
    assert [c["id"] for c in composed] == [r["id"] for r in rows]
    expected = compose_answers(rows, {e["id"]: e["prediction"] for e in existence})
    assert [c["prediction"] for c in composed] == expected.answers
    assert any(
        f"composed 20 answers from {len(existence)} existence questions" in r.getMessage() for r in caplog.records
    )

    for bad in (["--config", "task4"], ["--config", "task5", "--history", "images"]):
        with pytest.raises(SystemExit) as exit_info:
            predict.main([*argv[:3], "--output", str(output), "--compose-temporal", *bad])
        assert exit_info.value.code == 2


def test_predict_refuses_rows_whose_earlier_volumes_do_not_all_resolve(tmp_path):
    """A row whose prior_volumes lost one of its names (a skipped volume) would pair names with the wrong scans."""
    import argparse

    from datasets import Dataset

    from tests.test_m3d_rad_examples import load_example

    predict = load_example("predict")
    row = {**_row("q1", "Emphysema", "p_c", ["p_a", "p_b"]), "volume": "p_c.nii.gz", "prior_volumes": ["p_b.nii.gz"]}
    args = argparse.Namespace(output=tmp_path / "out.jsonl")
    with pytest.raises(SystemExit, match="row q1: not every earlier scan's volume was found"):
        predict.compose_temporal(args, None, None, Dataset.from_list([row]))
    assert not (tmp_path / "out.existence.jsonl").exists()


@pytest.mark.slow
def test_predict_composes_an_image_text_models_answers(tmp_path):
    """The image-text path (rendered slices, a chat template) composes the same way: existence file, then the rows."""
    pytest.importorskip("torch")
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)
    from tests import tiny_vlms
    from tests.test_m3d_rad_examples import load_example

    folder = tiny_vlms.gemma3(tmp_path / "tiny-gemma3")
    predict = load_example("predict")
    output = tmp_path / "preds" / "task5.jsonl"
    argv = [
        "--model", str(folder), "--demo", "--config", "task5", "--compose-temporal", "--max-samples", "4",
        "--output", str(output), "--slices", "2", "--size", "28", "--max-new-tokens", "3", "--num-workers", "0",
    ]  # fmt: skip
    assert predict.main(argv) == 0

    rows = list(load_dataset("3d-rad", "task5", split="test", demo=True).select(range(4)).remove_columns("volume"))
    existence = [json.loads(line) for line in output.with_name("task5.existence.jsonl").read_text().splitlines()]
    assert [e["id"] for e in existence] == [q["id"] for q in existence_questions(rows)]
    composed = [json.loads(line) for line in output.read_text().splitlines()]
    assert [c["id"] for c in composed] == [r["id"] for r in rows]
    assert [c["prediction"] for c in composed] == compose_answers(
        rows, {e["id"]: e["prediction"] for e in existence}
    ).answers
    params = json.loads(output.with_name("task5.jsonl.params.json").read_text())
    assert params["num_slices"] == 2 and params["size"] == 28
    # the settings file guards the existence answers too: a rerun with others would mix them
    with pytest.raises(SystemExit, match="written with other settings"):
        predict.main([("3" if previous == "--slices" else a) for previous, a in zip(["", *argv], argv)])
