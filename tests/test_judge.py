"""The model judge against a stand-in OpenAI-compatible server: reading replies, retries, failures, the cache,
resuming a killed run, the report's keys and ``rad3d-hf score --judge-url`` on the demo."""

from __future__ import annotations

import json
import math
import runpy
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from rad3d_hf.scoring import score
from rad3d_hf.scoring.judge import Judge, JudgeUnavailable
from rad3d_hf.scoring.judge.prompts import read_aspects_score, read_equivalence
from rad3d_hf.scoring.judge.report import spearman
from tests.judge_server import expected_value, expected_verdict, judge_server

SUBTASKS = {1: ("Abnormality_type", "Diagnosis"), 2: ("Pathological_observation",), 3: ("Diameter",)}
ANSWERS = ("a nodule in the right upper lobe", "pleural effusion", "12 mm", "emphysema", "no abnormality")


def _rows(n_per_subtask: int = 6) -> list[dict]:
    rows = []
    for task, subtasks in SUBTASKS.items():
        for subtask in subtasks:
            for i in range(n_per_subtask):
                rows.append(
                    {
                        "id": f"t{task}-{subtask}-{i:02d}",
                        "task": task,
                        "subtask": subtask,
                        "question": f"What is seen ({subtask} {i})?",
                        "answer": ANSWERS[(i + task) % len(ANSWERS)],
                        "volume_name": f"test_{i % 4}_a_{1 + i % 2}.nii.gz",
                    }
                )
    return rows


def _predictions(rows: list[dict]) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        out.append(row["answer"] if i % 3 == 0 else f"{ANSWERS[i % len(ANSWERS)]} maybe {i}")
    return out


def _judge(url: str, tmp_path: Path, **kwargs) -> Judge:
    options = {"cache_path": tmp_path / "judge.sqlite3", "timeout": 0.3, "backoff": 0.01, "progress": False}
    return Judge(url, "judge-m", **{**options, **kwargs})


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("Score: 85", 0.85),
        ("Score: 85.0", 0.85),
        ("85/100", 0.85),
        ("**Score:** 85", 0.85),
        ("Aspects: 3, matched 2.\nScore: 66.7.", 0.667),
        ("score = 40 / 100", 0.40),
        ("72", 0.72),
        ("Score: 100", 1.0),
        ("Score: 0", 0.0),
        ("Score: xx.", None),
        ("Score: 8/10", None),
        ("Score: 70-80", None),
        ("Score: 150", None),
        ("Score: 40\nOn reflection, Score: 60", None),
        ("The prediction is mostly right.", None),
        ("", None),
    ],
)
def test_aspects_reader_never_guesses(reply: str, value: float | None) -> None:
    read = read_aspects_score(reply)
    assert read == (None if value is None else pytest.approx(value))


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("Verdict: yes", 1.0),
        ("**Verdict:** partially", 0.5),
        ("No. Different finding.", 0.0),
        ("Verdict: <yes|no|partially>", None),
        ("Verdict: yes\nVerdict: no", None),
        ("It depends.", None),
    ],
)
def test_equivalence_reader(reply: str, value: float | None) -> None:
    assert read_equivalence(reply) == value


def test_spearman_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    x, y = [0.1, 0.5, 0.5, 0.9, 0.2, 0.7], [10, 40, 30, 90, 40, 20]
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert math.isnan(spearman([1.0], [2.0])) and math.isnan(spearman([1, 1], [1, 2]))


def test_report_keys_values_and_second_run_is_cached(tmp_path: Path) -> None:
    rows, predictions = _rows(), _predictions(_rows())
    with judge_server() as (url, log):
        judge = _judge(url, tmp_path)
        report = score(predictions, rows, judge=judge, n_resamples=200)
        first = log.requests
        again = score(predictions, rows, judge=_judge(url, tmp_path), n_resamples=200)
        assert log.requests == first  # everything came from the cache
    assert again == report
    body = log.bodies[0]
    assert body["temperature"] == 0 and body["model"] == "judge-m" and body["messages"][0]["role"] == "system"
    assert report["judge_model"] == "judge-m" and report["judge_prompt"] == "m3d-aspects/1"
    assert report["judge_endpoint"] == url and report["judge_scale"] == "0-1"
    for task, subtasks in SUBTASKS.items():
        values = []
        for subtask in subtasks:
            mine = [
                expected_value(r["answer"], p) / 100
                for r, p in zip(rows, predictions)
                if r["task"] == task and r["subtask"] == subtask
            ]
            assert report[f"task{task}/{subtask}/judge_score"] == pytest.approx(sum(mine) / len(mine))
            values.append(sum(mine) / len(mine))
            low, high = (report[f"task{task}/{subtask}/judge_score_ci95_{s}"] for s in ("low", "high"))
            assert low <= report[f"task{task}/{subtask}/judge_score"] <= high
            assert 0 <= report[f"task{task}/{subtask}/judge_score_baseline_majority"] <= 1
        assert report[f"task{task}/judge_score"] == pytest.approx(sum(values) / len(values))
        assert report[f"task{task}/judge_n"] == len(subtasks) * 6 and report[f"task{task}/judge_failed"] == 0
        assert -1 <= report[f"task{task}/judge_rouge1_spearman"] <= 1
        assert report[f"task{task}/judge_score_ci95_low"] <= report[f"task{task}/judge_score_ci95_high"]
    assert report["judge_unreadable_rate"] == 0 and report["judge_failed"] == 0


def test_equivalence_prompt(tmp_path: Path) -> None:
    rows, predictions = _rows(2), _predictions(_rows(2))
    with judge_server() as (url, _):
        report = score(predictions, rows, judge=_judge(url, tmp_path, prompt="equivalence"), n_resamples=0)
    mine = [expected_verdict(r["answer"], p) for r, p in zip(rows, predictions) if r["subtask"] == "Diameter"]
    assert report["task3/Diameter/judge_score"] == pytest.approx(sum(mine) / len(mine))
    assert report["judge_prompt"] == "equivalence/1"


def test_unreadable_failed_and_retried_are_counted_never_guessed(tmp_path: Path) -> None:
    rows = _rows(4)
    predictions = _predictions(rows)
    # rows 4-7 are Task 1's Diagnosis questions, row 8 on Task 2's
    kinds = {4: "GARBLE one", 5: "ERR500 one", 6: "SLOW one", 7: "ERR429 one", 9: "GARBLE two"}
    for i, text in kinds.items():
        predictions[i] = text
    with judge_server() as (url, log):
        log.slow_seconds = 0.6
        judge = _judge(url, tmp_path, max_retries=2)
        report = score(predictions, rows, judge=judge, n_resamples=100)
        assert log.by_prediction["ERR500 one"] == 3 and log.by_prediction["ERR429 one"] == 2  # retried
        assert report["task1/judge_failed"] == 2 and report["judge_failed"] == 2  # the 500 and the slow one
        assert report["task1/judge_n_unreadable"] == 1 and report["task1/judge_n"] == 8 - 3
        assert report["task1/Diagnosis/judge_n"] == 1 and report["task1/Diagnosis/judge_n_unreadable"] == 1
        assert report["task1/judge_unreadable_rate"] == pytest.approx(1 / 6)
        assert report["task2/judge_n_unreadable"] == 1 and report["judge_n_unreadable"] == 2
        assert report["judge_unreadable_rate"] == pytest.approx(2 / (16 - 2))
        expected = expected_value(rows[7]["answer"], "ERR429 one") / 100  # the one that got through after a 429
        assert report["task1/Diagnosis/judge_score"] == pytest.approx(expected)
        cached = sqlite3.connect(tmp_path / "judge.sqlite3").execute("SELECT status, raw FROM judgements").fetchall()
        assert ("unreadable", "The prediction mentions some of the findings.") in cached
        assert not any(status == "failed" for status, _ in cached)
        before = log.requests
        score(predictions, rows, judge=_judge(url, tmp_path, max_retries=0), n_resamples=0)
        assert log.requests - before == 2  # only the failed ones are asked again


def test_a_killed_run_resumes_with_only_the_remaining_requests(tmp_path: Path, monkeypatch) -> None:
    rows, predictions = _rows(), _predictions(_rows())
    store = Judge._store
    stored = []

    def interrupted_store(self, key, item, judgement):
        if len(stored) == 7:
            raise KeyboardInterrupt  # the run is killed after 7 judgements are on disk
        stored.append(key)
        return store(self, key, item, judgement)

    with judge_server(delay=0.005) as (url, log):
        with monkeypatch.context() as patch:
            patch.setattr(Judge, "_store", interrupted_store)
            with pytest.raises(KeyboardInterrupt):
                score(predictions, rows, judge=_judge(url, tmp_path), n_resamples=0)
        kept = len(_judge(url, tmp_path).cache)
        assert kept == 7
        before = -1
        while before != log.requests:  # requests in flight when the run was killed reach the server, unrecorded
            before = log.requests
            time.sleep(0.1)
        report = score(predictions, rows, judge=_judge(url, tmp_path), n_resamples=0)
        total = len(_judge(url, tmp_path).cache)
        assert log.requests - before == total - kept  # nothing judged twice
        fresh = score(predictions, rows, judge=_judge(url, tmp_path / "other"), n_resamples=0)
    assert report == {**fresh, "judge_endpoint": report["judge_endpoint"]}


def test_an_unusable_endpoint_stops_at_the_first_request(tmp_path: Path) -> None:
    rows, predictions = _rows(1), _predictions(_rows(1))
    with judge_server() as (url, log):
        with pytest.raises(JudgeUnavailable, match="HTTP 404"):
            score(predictions, rows, judge=_judge(url.removesuffix("/v1"), tmp_path), n_resamples=0)
        assert log.requests == 0
    with pytest.raises(JudgeUnavailable, match="cannot reach the judge"):
        score(predictions, rows, judge=_judge(url, tmp_path), n_resamples=0)  # the server is gone
    with pytest.raises(ValueError, match="not an http"):
        _judge("127.0.0.1:8000/v1", tmp_path)


def _demo_predictions(tmp_path: Path) -> Path:
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    rows = list(read_rows(str(ensure_demo_data()), "test", "all"))
    lines = [
        {"id": r["id"], "prediction": r["answer"] if i % 2 else f"{r['answer']} or not"} for i, r in enumerate(rows)
    ]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_cli_scores_the_demo_with_a_judge(tmp_path: Path, capsys) -> None:
    from rad3d_hf.cli import main

    predictions = _demo_predictions(tmp_path)
    with judge_server() as (url, log):
        argv = ["score", str(predictions), "--demo", "--judge-url", url, "--judge-model", "judge-m"]
        argv += ["--judge-cache", str(tmp_path / "c.sqlite3"), "--out", str(tmp_path / "out"), "--resamples", "50"]
        assert main([*argv, "--no-figure"]) == 0
        printed = capsys.readouterr().out
        first = log.requests
        assert first > 0
        assert main([*argv, "--no-figure", "--quiet", "--model-name", "demo-model"]) == 0
        assert log.requests == first
        bad = ["score", str(predictions), "--demo", "--judge-url", url + "/nope", "--judge-model", "m"]
        assert main([*bad, "--out", str(tmp_path / "o2"), "--judge-cache", str(tmp_path / "c2.sqlite3")]) == 2
        assert "HTTP 404" in capsys.readouterr().err
    assert "judge score [95% CI]" in printed and "Task 1" in printed and "m3d-aspects/1" in printed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["task1/judge_n"] > 0 and report["task1/judge_score_ci95_low"] <= report["task1/judge_score"]
    assert "task4/judge_score" not in report
    # the results record names the judge and carries the judged score with its interval
    from rad3d_hf.scoring.results_record import read_results

    record = read_results(tmp_path / "out" / "results.json")
    assert record["judge"]["model"] == "judge-m" and record["judge"]["prompt"] == "m3d-aspects/1"
    judged = record["tasks"]["task1"]["metrics"]["judge_score"]
    assert judged["value"] == report["task1/judge_score"] and judged["ci95"][0] <= judged["value"]
    assert main(["score", str(predictions), "--demo", "--judge-model", "m"]) == 2
    assert "--judge-model needs --judge-url" in capsys.readouterr().err


def test_bench_judge_smoke(tmp_path: Path, monkeypatch, capsys) -> None:
    script = Path(__file__).resolve().parents[1] / "examples" / "benchmarks" / "bench_judge.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--n", "64", "--cache", str(tmp_path / "b.sqlite3")])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert "judgements/s" in printed and "overhead" in printed
