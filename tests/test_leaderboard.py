"""``rad3d-hf leaderboard``: records side by side, flags for records that cannot be compared, paired differences, and
the page itself in a headless browser (sorted by its own script, figure drawn)."""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rad3d_hf.cli import main
from rad3d_hf.scoring import score_details
from rad3d_hf.scoring.published import NOTE, PUBLISHED
from rad3d_hf.scoring.results_record import details_rows, read_results, results_record, write_results
from rad3d_hf.transforms.protocols import protocol_record
from tests.demo_tables import demo_test_rows

RESAMPLES = "200"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip


def _write_record(folder: Path, name: str, predictions: list[str], rows: list[dict], protocol: str | None) -> Path:
    result = score_details(predictions, rows, n_resamples=int(RESAMPLES))
    record = results_record(
        result.metrics,
        result.questions,
        model_name=name,
        input_protocol=protocol_record(protocol) if protocol else None,
        tables_digest="demo",
        split="test",
    )
    write_results(folder, record, details_rows(result.questions))
    return folder


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, Path]:
    """Three runs on the demo test split: perfect answers, always "B. No", and a perturbed set."""
    from rad3d_hf.prompts import target_text

    rows = demo_test_rows()
    root = tmp_path_factory.mktemp("records")
    perfect = [target_text(row) for row in rows]
    always = ["B. No" if row["task"] >= 4 else "no" for row in rows]
    rng = random.Random(0)
    perturbed = [p if rng.random() < 0.75 else a for p, a in zip(perfect, always)]
    return {
        "perfect": _write_record(root / "perfect", "Perfect answers", perfect, rows, "m3d-release"),
        "always": _write_record(root / "always", "Always B. No", always, rows, None),
        "perturbed": _write_record(root / "perturbed", "Perturbed", perturbed, rows, "medgemma-ct"),
    }


@pytest.fixture(scope="module")
def board(records, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("board")
    paths = [str(records["perfect"]), str(records["always"] / "results.json"), str(records["perturbed"])]
    assert main(["leaderboard", *paths, "--out", str(out), "--resamples", RESAMPLES]) == 0
    return out


def _data(board: Path) -> dict:
    return json.loads((board / "leaderboard.json").read_text())


def test_writes_one_self_contained_page_and_a_markdown_table(board):
    page = (board / "leaderboard.html").read_text()
    assert "<script src" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert "Perfect answers" in page and "/*__DATA__*/" not in page
    table = (board / "leaderboard.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| ") and not line.startswith("| model")]
    assert len(rows) == 3 + 2 + len(PUBLISHED)  # records, two blind baselines, the paper's rows
    assert any(
        line.startswith("| Perfect answers | A | m3d-release") and "100.00 [100.00, 100.00]" in line for line in rows
    )
    assert any(line.startswith("| M3D-RAD (4B)") and "82.43 †" in line for line in rows)


def test_rows_say_how_the_ct_reached_the_model_and_what_cannot_be_compared(board):
    data = _data(board)
    by_name = {row["name"]: row for row in data["rows"]}
    assert by_name["Perturbed"]["input"].startswith("medgemma-ct (85 slices, 896 px, medgemma")
    assert by_name["Perfect answers"]["input"] == "m3d-release (native 3D 32x256x256, npy)"
    assert "input protocol not stated" in by_name["Always B. No"]["flags"]
    for name in ("Perfect answers", "Always B. No", "Perturbed"):  # the demo is not the published test split
        assert any("not the published test split" in flag for flag in by_name[name]["flags"])
    published = [row for row in data["rows"] if row["kind"] == "published"]
    assert len(published) == len(PUBLISHED) and all(NOTE in row["flags"] for row in published)
    assert all(cell["ci"] is None for row in published for task in row["cells"].values() for cell in task.values())
    baselines = [row for row in data["rows"] if row["kind"] == "baseline"]
    assert [row["group"] for row in baselines] == ["A", "A"] and "task6" in baselines[1]["cells"]


def test_paired_differences_of_records_on_the_same_questions(board):
    pairs = _data(board)["pairs"]
    assert {(p["a"], p["b"]) for p in pairs} == {
        ("Perfect answers", "Always B. No"), ("Perfect answers", "Perturbed"), ("Always B. No", "Perturbed"),
    }  # fmt: skip
    perfect_vs_always = {(p["task"], p["metric"]): p for p in pairs if p["b"] == "Always B. No"}
    task4 = perfect_vs_always[("task4", "accuracy")]
    assert task4["significant"] is True and task4["diff"] > 0.4 and task4["ci"][0] > 0
    assert {metric for task, metric in perfect_vs_always if task == "task1"} == {"bleu1", "rouge1"}


def test_other_questions_or_versions_are_flagged_never_mixed(records, tmp_path):
    rows = [row for row in demo_test_rows() if row["task"] == 4]
    subset = _write_record(tmp_path / "subset", "Task 4 only", ["A. Yes"] * len(rows), rows, "m3d-release")
    older = tmp_path / "older"
    shutil.copytree(records["always"], older)
    record = json.loads((older / "results.json").read_text())
    record["package"]["version"] = "0.0.9"
    record["tables_digest"] = "other tables"
    record["model"]["name"] = "Older scorer"
    (older / "results.json").write_text(json.dumps(record))
    out = tmp_path / "board"
    args = [str(records["perfect"]), str(subset), str(older), "--out", str(out), "--resamples", "50", "--no-published"]
    assert main(["leaderboard", *args]) == 0
    data = _data(out)
    by_name = {row["name"]: row for row in data["rows"]}
    assert by_name["Perfect answers"]["group"] == "A" and by_name["Task 4 only"]["group"] == "B"
    assert any("question set B" in flag for flag in by_name["Task 4 only"]["flags"])
    assert any("scored by rad3d-hf 0.0.9" in flag for flag in by_name["Older scorer"]["flags"])
    assert any("tables digest differs within set A" in flag for flag in by_name["Older scorer"]["flags"])
    assert not any("tables digest" in flag or "intervals from" in flag for flag in by_name["Perfect answers"]["flags"])
    assert not any(row["kind"] == "published" for row in data["rows"])
    pairs = {(p["a"], p["b"], p["task"]) for p in data["pairs"]}
    # Task 4 holds the same questions in both records: compared there, and nowhere else
    assert {task for a, b, task in pairs if b == "Task 4 only"} == {"task4"}
    assert not any("Older scorer" in (a, b) for a, b, _ in pairs)
    assert any("different rad3d-hf versions" in note for note in data["notes"])


def test_usage_mistakes_are_one_line_and_exit_2(records, tmp_path, capsys):
    out = str(tmp_path / "out")
    broken = tmp_path / "broken"
    shutil.copytree(records["always"], broken)
    record = json.loads((broken / "results.json").read_text())
    record["tasks"]["task4"]["metrics"]["accuracy"]["value"] = "high"
    (broken / "results.json").write_text(json.dumps(record))
    mixed = tmp_path / "mixed"  # a record beside the details of another run
    shutil.copytree(records["perfect"], mixed)
    rows = [row for row in demo_test_rows() if row["task"] == 4]
    subset = _write_record(tmp_path / "subset", "subset", ["B. No"] * len(rows), rows, None)
    shutil.copy(subset / "details.parquet", mixed / "details.parquet")
    cases = [
        ([str(mixed)], "does not hold the questions"),
        ([str(tmp_path / "missing")], "no such file or folder"),
        ([str(tmp_path)], "holds no results.json"),
        ([str(broken)], "field tasks.task4.metrics.accuracy.value"),
        ([str(records["perfect"]), str(records["perfect"] / "results.json")], "given twice"),
    ]
    for paths, message in cases:
        assert main(["leaderboard", *paths, "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rad3d-hf leaderboard:") and message in err and "\n" not in err


# --- the page in a browser ---


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser installed (looked for {', '.join(BROWSERS)}; apt-get install chromium)")


def _run_browser(tmp_path: Path, url: str, *extra: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [_browser(), *BROWSER_FLAGS, f"--user-data-dir={profile}", *extra, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _expected_order(data: dict, task: str, view: str = "headline") -> list[str]:
    metrics = data["views"][view]["metrics"][task]

    def value(row):
        cell = row["cells"].get(task, {})
        return next((cell[m]["value"] for m in metrics if m in cell and cell[m]["value"] is not None), None)

    indexed = list(enumerate(data["rows"]))
    ranked = sorted((i, row) for i, row in indexed if value(row) is not None)
    ranked.sort(key=lambda item: -value(item[1]))  # stable: ties keep the rows' order
    return [row["name"] for _, row in ranked] + [row["name"] for _, row in indexed if value(row) is None]


@pytest.mark.slow
def test_page_sorts_itself_and_draws_the_figures(board, tmp_path):
    from PIL import Image

    data = _data(board)
    url = (board / "leaderboard.html").as_uri()
    for task, view in (("task4", "headline"), ("task6", "official")):
        dom = _run_browser(tmp_path, f"{url}?sort={task}&dir=desc&view={view}", "--dump-dom")
        assert 'data-rendered="yes"' in dom
        board_rows = dom[dom.index('id="board"') : dom.index('id="figures-section"')]
        names = [html.unescape(n) for n in re.findall(r'<tr class="\w+" data-name="([^"]*)"', board_rows)]
        assert names == _expected_order(data, task, view)
        assert f'data-key="{task}">' in board_rows and "\u25bc" in board_rows
    shown = sum(1 for row in data["rows"] for task in row["cells"] if data["views"]["headline"]["metrics"][task][0]
                in row["cells"][task] or (row["kind"] == "published"))  # fmt: skip
    dom = _run_browser(tmp_path, f"{url}?focus=figures", "--dump-dom")
    assert dom.count('class="point"') == shown and dom.count('class="interval"') > 0
    picture = tmp_path / "figures.png"
    _run_browser(tmp_path, f"{url}?focus=figures", f"--screenshot={picture}", "--window-size=1400,900")
    figure = Image.open(picture).convert("RGB").crop((0, 60, 1400, 700))
    colors = figure.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 20  # points, bars, text: not a blank area
    white = max(count for count, rgb in colors if rgb == (255, 255, 255))
    assert white < 0.97 * figure.width * figure.height
    if os.environ.get("RAD3D_SAVE_SCREENSHOT"):  # the documents' screenshot of this page, remade on request
        _run_browser(tmp_path, url, f"--screenshot={os.environ['RAD3D_SAVE_SCREENSHOT']}", "--window-size=1400,1640")


def test_score_then_leaderboard_from_the_command_line(tmp_path, capsys):
    """`rad3d-hf score --model-name` writes the record (filled from predict.py's settings), the leaderboard reads it."""
    from rad3d_hf.prompts import target_text
    from tests.demo_tables import demo_tables

    rows = [row for row in demo_test_rows() if row["task"] in (4, 6)]
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": target_text(r)}) + "\n" for r in rows))
    settings = {"model": "org/some-m3d", "volume_format": "npy", "max_new_tokens": 256}
    (tmp_path / "preds.jsonl.params.json").write_text(json.dumps(settings))
    common = ["--data-dir", demo_tables(), "--config", "task4,task6", "--resamples", "50", "--no-figure", "--quiet"]
    assert main(["score", str(predictions), *common, "--model-name", "From the CLI", "--out", str(tmp_path / "s")]) == 0
    record = read_results(tmp_path / "s")
    assert record["model"] == {"name": "From the CLI", "hub_id": "org/some-m3d", "revision": None}
    assert record["input_protocol"]["name"] == "m3d-release" and record["generation"]["max_new_tokens"] == 256
    assert set(record["tasks"]) == {"task4", "task6"} and record["configs"] == ["task4", "task6"]
    assert "results.json, details.parquet" in capsys.readouterr().out
    assert main(["leaderboard", str(tmp_path / "s"), "--out", str(tmp_path / "board"), "--resamples", "0"]) == 0
    data = _data(tmp_path / "board")
    assert data["rows"][0]["name"] == "From the CLI" and data["rows"][0]["cells"]["task4"]["accuracy"]["value"] == 1.0
    assert main(["score", str(predictions), *common, "--out", str(tmp_path / "plain")]) == 0  # no name, no record
    assert not (tmp_path / "plain" / "results.json").exists()
