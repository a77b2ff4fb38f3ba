"""Task 5 questions from pairs of Task 4 scans (rad3d_hf.models.m3d_rad.scan_pairs), and the temporal facts a target may state."""

from __future__ import annotations

import collections

import pytest

from rad3d_hf.data.catalogue import TEMPORAL_PRESENT_BEFORE, TEMPORAL_PRESENT_NOW
from rad3d_hf.models.m3d_rad.scan_pairs import COURSES, existence_labels, scan_pair_rows
from rad3d_hf.prompts import target_text, temporal_facts

OPTIONS = [
    "Refractory Lesion (Persistent or recurrent, now present)",
    "Resolved Lesion (Previously present or recurrent, now absent)",
    "New Lesion (Absent previously, now present)",
    "No Abnormality (Always absent)",
]


def existence(volume: str, finding: str, present: bool, i: int) -> dict:
    return {
        "id": f"t4/{i}", "task": 4, "subtask": finding, "answer": "Yes" if present else "No", "volume_name": volume,
        "patient_id": int(volume.split("_")[1]), "scan": "a", "reconstruction": 1, "question_type": "closed",
    }  # fmt: skip


def temporal(finding: str) -> dict:
    return {
        "id": f"t5/{finding}", "task": 5, "subtask": "c", "question_type": "closed", "choices": OPTIONS,
        "question": f"Compared with the patient's earlier scans, how should the {finding.lower()} on this CT be "
        "categorised?", "answer_choice": "D", "answer": OPTIONS[3], "volume_name": "train_900_c_1",
        "patient_id": 900, "scan": "c", "reconstruction": 1, "history": [1], "prior_volume_names": ["x"],
    }  # fmt: skip


@pytest.fixture
def scans() -> list[dict]:
    rows, i = [], 0
    for v in range(8):
        for finding in ("Emphysema", "Lung nodule"):
            rows.append(existence(f"train_{v}_a_1", finding, present=(v + (finding == "Emphysema")) % 2 == 0, i=i))
            i += 1
    return rows


def test_each_pair_has_the_course_of_its_two_scans_labels(scans):
    labels = existence_labels(scans)
    pairs = scan_pair_rows(scans, [temporal("Emphysema"), temporal("Lung nodule")], count=40, seed=3)
    assert len(pairs.rows) == 40 and pairs.skipped == {} and pairs.seed == 3
    for row in pairs.rows:
        finding = "Emphysema" if "emphysema" in row["question"] else "Lung nodule"
        (earlier,) = row["prior_volume_names"]
        assert earlier != row["volume_name"]
        assert (row["answer_choice"] in TEMPORAL_PRESENT_NOW) == labels[(row["volume_name"], finding)]
        assert (row["answer_choice"] in TEMPORAL_PRESENT_BEFORE) == labels[(earlier, finding)]
        assert row["answer"] == OPTIONS["ABCD".index(row["answer_choice"])]
        assert row["task"] == 5 and row["history"] == [] and row["patient_id"] == int(row["volume_name"].split("_")[1])
    # every finding sees the four courses equally often
    mix = collections.Counter((r["question"], r["answer_choice"]) for r in pairs.rows)
    assert set(mix.values()) == {5} and len(mix) == 8
    assert len(COURSES) == 4


def test_the_same_seed_draws_the_same_pairs_and_another_seed_others(scans):
    templates = [temporal("Emphysema"), temporal("Lung nodule")]
    first = scan_pair_rows(scans, templates, count=24, seed=0).rows
    assert first == scan_pair_rows(scans, templates, count=24, seed=0).rows
    other = scan_pair_rows(scans, templates, count=24, seed=1).rows
    assert [r["answer_choice"] for r in other] == [r["answer_choice"] for r in first]
    assert [r["prior_volume_names"] for r in other] != [r["prior_volume_names"] for r in first]
    assert first[0]["id"] == "pairs/seed0/000000" and other[0]["id"] == "pairs/seed1/000000"


def test_findings_it_cannot_pair_are_reported_not_guessed(scans):
    pairs = scan_pair_rows(scans, [temporal("Emphysema")], count=8, seed=0)
    assert pairs.skipped == {"Lung nodule": "no Task 5 question names it"}
    assert len(pairs.rows) == 8 and all("emphysema" in r["question"] for r in pairs.rows)
    few = [r for r in scans if r["subtask"] == "Emphysema"][:2]
    assert scan_pair_rows(few, [temporal("Emphysema")], count=0, seed=0).skipped == {
        "Emphysema": "fewer than two scans with it, or without it"
    }
    with pytest.raises(ValueError, match="no finding can be paired: .*Emphysema"):
        scan_pair_rows(few, [temporal("Emphysema")], count=8, seed=0)


def test_conflicting_labels_name_both_rows(scans):
    clash = {**scans[0], "id": "t4/clash", "answer": "Yes" if scans[0]["answer"] == "No" else "No"}
    with pytest.raises(ValueError, match=r"rows t4/0 and t4/clash give volume train_0_a_1 different answers"):
        existence_labels([*scans, clash])
    with pytest.raises(ValueError, match=r"row t4/0: a Task 4 answer must be Yes or No, got 'Maybe'"):
        existence_labels([{**scans[0], "answer": "Maybe"}])


@pytest.mark.parametrize(("letter", "facts"), [
    ("A", "Earlier scans: Yes. Current scan: Yes."), ("B", "Earlier scans: Yes. Current scan: No."),
    ("C", "Earlier scans: No. Current scan: Yes."), ("D", "Earlier scans: No. Current scan: No."),
])  # fmt: skip
def test_a_temporal_target_can_state_its_two_facts_first(letter, facts):
    row = {**temporal("Emphysema"), "answer_choice": letter}
    assert temporal_facts(row) == facts
    assert target_text(row, with_temporal_facts=True) == f"{facts} {letter}. {OPTIONS['ABCD'.index(letter)]}"
    assert target_text(row) == f"{letter}. {OPTIONS['ABCD'.index(letter)]}"
    existence_row = {"id": "q", "task": 4, "question_type": "closed", "choices": ["Yes", "No"], "answer_choice": "A"}
    assert target_text(existence_row, with_temporal_facts=True) == "A. Yes"
    with pytest.raises(ValueError, match="row q: only closed Task 5/6 questions have temporal facts"):
        temporal_facts(existence_row)


def test_the_published_train_split_pairs_every_temporal_finding():
    """The published train split's rows: the 17 temporal findings paired, medical material left out."""
    from rad3d_hf.data.catalogue import named_finding
    from rad3d_hf.data.rows import read_rows
    from tests.conftest import real_tables_or_skip

    root = str(real_tables_or_skip())
    scans = list(read_rows(root, "train", "task4"))
    questions = read_rows(root, "train", "task5")
    pairs = scan_pair_rows(scans, questions, count=17 * 4 * 3, seed=0)
    assert pairs.skipped == {"Medical material": "no Task 5 question names it"}
    labels = existence_labels(scans)
    for row in pairs.rows:
        finding = named_finding(row["question"])
        (earlier,) = row["prior_volume_names"]
        assert (row["answer_choice"] in TEMPORAL_PRESENT_NOW) == labels[(row["volume_name"], finding)]
        assert (row["answer_choice"] in TEMPORAL_PRESENT_BEFORE) == labels[(earlier, finding)]
    assert collections.Counter(r["answer_choice"] for r in pairs.rows) == dict.fromkeys("ABCD", 51)
    assert len({named_finding(r["question"]) for r in pairs.rows}) == 17
