"""lmms-eval end to end, offline, on the demo source: ``openai_compatible`` against a local answer server and the
native-3D ``m3d_rad`` model (a tiny random one), then ``rad3d-hf score`` on the logged answers gives the same numbers.

One lmms-eval process runs both (``--config`` with two runs), since importing lmms-eval is most of the time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rad3d_hf.cli import main as rad3d_hf_main
from rad3d_hf.integrations.lmms_eval import tasks_path
from tests.answer_server import answer_server

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("accuracy", "balanced_accuracy", "accuracy_official", "unparseable_rate")

if importlib.util.find_spec("lmms_eval") is None:
    pytest.skip(
        "lmms-eval is not installed (pip install 'rad3d-hf[lmms]', see examples/README.md)", allow_module_level=True
    )
if importlib.util.find_spec("filelock._api") is None:
    pytest.skip(
        "lmms-eval 0.7 imports filelock._api, which filelock 4 removed: install 'filelock<4' (examples/README.md, lmms-eval)",
        allow_module_level=True,
    )


def _declared_entry_points() -> dict[str, str]:
    """``name = "target"`` lines of pyproject's ``[project.entry-points."lmms_eval.models"]`` table."""
    section = (ROOT / "pyproject.toml").read_text().split('[project.entry-points."lmms_eval.models"]\n', 1)[1]
    lines = section.split("\n[", 1)[0].strip().splitlines()
    return {name.strip(): target.strip().strip('"') for name, target in (line.split("=", 1) for line in lines)}


def _entry_point_dir(tmp_path: Path) -> Path | None:
    """A dist-info declaring pyproject's lmms_eval.models entry points, when the installed metadata lacks them."""
    declared = _declared_entry_points()
    installed = {ep.name for ep in importlib.metadata.entry_points(group="lmms_eval.models")}
    if set(declared) <= installed:
        return None
    info = tmp_path / "entry_points" / "rad3d_hf_lmms_entry_points-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rad3d-hf-lmms-entry-points\nVersion: 0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in declared.items())
    (info / "entry_points.txt").write_text(f"[lmms_eval.models]\n{lines}")
    return info.parent


def _tiny_model(folder: Path) -> Path:
    from datasets import load_dataset

    from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus

    rows = load_dataset("3d-rad", "task4", split="test", demo=True, cache_dir=str(folder / "cache"))
    rows = rows.remove_columns("volume")  # the texts only: no volume decoded
    model, processor = build_tiny(tokenizer_corpus(rows), seed=0)
    model.save_pretrained(folder / "tiny")
    processor.save_pretrained(folder / "tiny")
    return folder / "tiny"


def _rescored(output: Path, tmp_path: Path, name: str, *extra: str) -> dict:
    predictions = tmp_path / f"{name}.jsonl"
    assert rad3d_hf_main(["lmms-eval-predictions", str(output), "--out", str(predictions)]) == 0
    scores = tmp_path / f"{name}_scores"
    args = ["score", str(predictions), "--demo", "--config", "task4", "--out", str(scores), "--no-figure", "--quiet"]
    assert rad3d_hf_main([*args, *extra]) == 0
    return json.loads((scores / "report.json").read_text())


def _lmms_results(output: Path) -> dict:
    (results,) = output.rglob("*_results.json")
    return json.loads(results.read_text())["results"]["3drad_task4"]


@pytest.mark.slow
def test_lmms_eval_runs_report_what_rad3d_hf_score_gives(tmp_path: Path) -> None:
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    # the demo Task 4 test questions, counted from the demo (the session's HF_HOME, which lmms-eval inherits below)
    questions = sum(1 for _ in read_rows(str(ensure_demo_data()), "test", "task4"))
    model = _tiny_model(tmp_path)
    extra_path = _entry_point_dir(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT, extra_path, os.environ.get("PYTHONPATH")) if p),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "RAD3D_DEMO": "1",
        "RAD3D_RENDER_SLICES": "2",
        "RAD3D_RENDER_SIZE": "16",
        "OPENAI_API_KEY": "fixture",
        # lmms-eval imports rad3d_hf.models for this (its legacy plugin models, none: m3d_rad is an entry point);
        # the tasks come from --include_path (0.7.3 reads the variable too late for tasks)
        "LMMS_EVAL_PLUGINS": "rad3d_hf",
    }
    with answer_server() as (base_url, log):
        common = {"tasks": "3drad_task4", "include_path": str(tasks_path()), "log_samples": True}
        runs = [
            {
                **common,
                "model": "openai_compatible",
                "model_args": f"model=fixture,base_url={base_url},max_retries=1,timeout=20,num_concurrent=4",
                "output_path": str(tmp_path / "api"),
            },
            {
                **common,
                "model": "m3d_rad",
                "model_args": f"pretrained={model}",
                "batch_size": 8,
                "limit": 12,
                "gen_kwargs": "max_new_tokens=6",
                "output_path": str(tmp_path / "m3d"),
            },
        ]
        config = tmp_path / "runs.yaml"
        config.write_text(yaml.safe_dump(runs))
        done = subprocess.run(
            [sys.executable, "-m", "lmms_eval", "--config", str(config)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=540,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(log.prompts) == questions and set(log.images) == {2}  # every question, with its two rendered slices
    assert all(p.endswith("\nAnswer:") for p in log.prompts)

    api = _rescored(tmp_path / "api", tmp_path, "api")
    m3d = _rescored(tmp_path / "m3d", tmp_path, "m3d", "--allow-subset")
    assert api["task4/n"] == questions and m3d["task4/n"] == 12
    for report, output in ((api, tmp_path / "api"), (m3d, tmp_path / "m3d")):
        shown = _lmms_results(output)
        for metric in METRICS:
            assert shown[f"{metric},none"] == pytest.approx(report[f"task4/{metric}"], abs=1e-12), (output, metric)
    assert "LMMS_EVAL_REQUEST_FAILED" not in (tmp_path / "api.jsonl").read_text()
    # what lmms-eval's results file says of each run travels beside the predictions, for the results record
    api_run = json.loads((tmp_path / "api.jsonl.params.json").read_text())
    m3d_run = json.loads((tmp_path / "m3d.jsonl.params.json").read_text())
    assert api_run["model"] == "fixture" and api_run["max_new_tokens"] == 256 and api_run["temperature"] == 0
    assert m3d_run["model"] == str(model) and m3d_run["lmms_eval"]["model"] == "m3d_rad"
    assert m3d_run["max_new_tokens"] == 6  # the run's --gen_kwargs, as lmms-eval applied them
    assert 0 < api["task4/accuracy"] < 1 and api["task4/unparseable_rate"] > 0  # the fixture's mixed answer forms


def test_lmms_eval_indexes_the_group_and_the_six_tasks() -> None:
    import importlib

    from lmms_eval.tasks import TaskManager

    plugin_folder = importlib.util.find_spec("rad3d_hf.tasks").submodule_search_locations[0]  # LMMS_EVAL_PLUGINS'
    for include_path in (str(tasks_path()), plugin_folder):
        manager = TaskManager("WARNING", include_path=include_path, include_defaults=False)
        assert manager.all_groups == ["3drad"]
        assert manager.all_subtasks == [f"3drad_task{n}" for n in range(1, 7)]
