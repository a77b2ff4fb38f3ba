"""The paper's reported numbers (one place, as printed) and the blind baselines beside them, recomputed from the
published tables where they are present (../shared/3drad)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rad3d_hf.scoring.published import (
    BLIND_BASELINES,
    NOTE,
    PUBLISHED,
    PUBLISHED_TEST_SPLIT,
    SCORING_RULE,
    SOURCE,
    compute_blind_baselines,
    fixed_answer,
    published_markdown,
    reference_rows,
)
from tests.conftest import REAL_TABLES
from tests.demo_tables import demo_test_rows

PAPER_RESULTS = REAL_TABLES.parent / "docs" / "PAPER_RESULTS.md"


def test_one_row_per_published_model_with_its_source_and_rule():
    assert [(p.model, p.size) for p in PUBLISHED] == [
        ("RadFM", "13B"), ("M3D", "7B"), ("M3D", "4B"), ("OmniV", "1.5B"), ("M3D-RAD", "4B"),
    ]  # fmt: skip
    for row in PUBLISHED:
        assert set(row.values) == set(range(1, 7)) and all(0 < v < 100 for v in row.values.values())
        assert "2506.11147" in row.source and row.scoring == SCORING_RULE
    assert "letter + '.' substring for Tasks 4-6" in SCORING_RULE


def test_the_telling_facts():
    fine_tuned = PUBLISHED[-1]
    one_answer = BLIND_BASELINES[0].values
    assert fine_tuned.values[4] == 82.43 and one_answer[4] == 82.01  # 0.42 points above always answering "No"
    assert fine_tuned.values[6] == 74.77 < one_answer[6] == 75.92  # below a rule that reads only the question


def test_values_match_the_papers_table_as_transcribed():
    """Where the shared transcription of the paper is present, every number here is the one it prints."""
    if not PAPER_RESULTS.is_file():
        pytest.skip(f"{PAPER_RESULTS} is absent")
    text = PAPER_RESULTS.read_text(encoding="utf-8")
    zero_shot = text[text.index("## Zero-shot") : text.index("## Fine-tuned")]
    fine_tuned = text[text.index("## Fine-tuned") :]
    for number in range(1, 7):
        (line,) = re.findall(rf"^\| {number} .*$", zero_shot, flags=re.M)
        assert [float(v) for v in line.split("|")[3:7]] == [p.values[number] for p in PUBLISHED[:4]]
        (line,) = re.findall(rf"^\| {number} .*$", fine_tuned, flags=re.M)
        assert float(line.split("|")[4]) == PUBLISHED[-1].values[number]


def test_reference_rows_are_marked_and_have_no_interval():
    rows = reference_rows()
    assert len(rows) == len(PUBLISHED)
    for row, published in zip(rows, PUBLISHED):
        assert row["kind"] == "published" and row["note"] == NOTE and row["source"] == SOURCE
        assert row["values"]["task4"]["value"] == pytest.approx(published.values[4] / 100)
        assert all(v["ci95"] is None for v in row["values"].values())
        assert row["values"]["task1"]["metric"] == "rouge1" and row["values"]["task5"]["metric"] == "accuracy_official"


def test_markdown_table_beside_the_baselines():
    table = published_markdown()
    lines = table.splitlines()
    assert len(lines) == 2 + 6
    assert "blind: one fixed answer" in lines[0] and "M3D-RAD (4B) fine-tuned" in lines[0]
    assert "| 4 Existence Detection | accuracy | 29.20 | 18.00 | 40.25 | 28.66 | 82.43 | 82.01 | 82.01 |" in lines
    assert lines[2].endswith("| - | 4.56 |")  # Task 1 has no fixed-answer baseline


def test_fixed_answers_read_alike_by_both_rules():
    """The baseline's answers are written "<letter>. <option>", so the official substring rule and the package's
    extraction agree on them (the paper's numbers and the baselines are read by the same rule)."""
    from rad3d_hf.scoring import score

    rows = [row for row in demo_test_rows() if row["task"] >= 4]
    answers = [fixed_answer(row) for row in rows]
    assert all(a and re.match(r"^[A-D]\. ", a) for a in answers)
    assert fixed_answer({"task": 1}) is None
    report = score(answers, rows, n_resamples=0)
    for number in (4, 5, 6):
        assert report[f"task{number}/accuracy"] == report[f"task{number}/accuracy_official"]
    computed = compute_blind_baselines(demo_test_rows())
    assert computed["one fixed answer"][6] == pytest.approx(100 * report["task6/accuracy"])
    assert computed["majority answer per subtask"][4] == pytest.approx(100 * report["task4/accuracy_baseline_majority"])


@pytest.mark.real_data
def test_blind_baselines_recomputed_from_the_published_tables(real_tables: Path):
    from tests.scoring_data import real_test_rows

    rows = real_test_rows(real_tables)
    computed = compute_blind_baselines(rows)
    for baseline in BLIND_BASELINES:
        assert {n: round(v, 2) for n, v in computed[baseline.name].items()} == dict(baseline.values), baseline.name
    assert round(computed["one fixed answer"][4], 2) == 82.01
    assert round(computed["one fixed answer"][5], 2) == 46.09
    assert round(computed["one fixed answer"][6], 2) == 75.92
    printed = published_markdown(computed)
    assert "| 82.01 |" in printed and "| 75.92 |" in printed


@pytest.mark.real_data
def test_published_test_split_digests(real_tables: Path):
    from rad3d_hf.scoring.results_record import questions_digest
    from tests.scoring_data import real_test_rows

    rows = real_test_rows(real_tables)
    for number, (n, digest) in PUBLISHED_TEST_SPLIT.items():
        in_task = [row for row in rows if row["task"] == number]
        assert (len(in_task), questions_digest(in_task)) == (n, digest), number


def test_the_readme_shows_the_published_table_as_the_package_holds_it():
    from pathlib import Path

    from rad3d_hf.scoring.published import published_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert published_markdown() in readme
