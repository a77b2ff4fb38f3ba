"""The 3drad lmms-eval task functions without lmms-eval: source from the environment, prompts, images, and
aggregations that equal ``rad3d_hf.scoring.score``; the --log_samples converter."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from datasets import load_dataset

import rad3d_hf  # noqa: F401  (registers "3d-rad")
from rad3d_hf.integrations.lmms_eval import source, task_functions, tasks_path
from rad3d_hf.integrations.lmms_eval.samples import read_samples, sample_files
from rad3d_hf.prompts import question_prompt
from rad3d_hf.scoring import score
from rad3d_hf.scoring.predictions import PredictionsError

ANSWERS = ("A. Yes", "B", "The answer is B.", "", "No idea.", "C. New lesion", "A", "12 mm", "right upper lobe")


def test_source_follows_the_environment() -> None:
    assert source.source_kwargs({"RAD3D_DEMO": "1"}) == {"splits": ("test",), "volume_format": "auto", "demo": True}
    real = source.source_kwargs({"RAD3D_DATA_DIR": "/t", "RAD3D_VOLUMES_DIR": "/v", "RAD3D_VOLUME_FORMAT": "npy"})
    assert real == {"splits": ("test",), "volume_format": "npy", "data_dir": "/t", "volumes_dir": "/v"}
    with pytest.raises(source.SourceError, match="set RAD3D_VOLUMES_DIR .* or RAD3D_DEMO=1"):
        source.source_kwargs({"RAD3D_DATA_DIR": "/t"})
    with pytest.raises(source.SourceError, match="RAD3D_DEMO='maybe'"):
        source.source_kwargs({"RAD3D_DEMO": "maybe"})
    with pytest.raises(source.SourceError, match="both set"):
        source.source_kwargs({"RAD3D_DEMO": "1", "RAD3D_DATA_DIR": "/t"})
    with pytest.raises(source.SourceError, match="RAD3D_VOLUME_FORMAT='dicom'"):
        source.source_kwargs({"RAD3D_DEMO": "1", "RAD3D_VOLUME_FORMAT": "dicom"})


@pytest.fixture(scope="module")
def task6_docs(tmp_path_factory: pytest.TempPathFactory):
    """Task 6 documents as lmms-eval sees them: the environment's dataset, after process_docs."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RAD3D_DEMO", "1")
    source.register()
    dataset = load_dataset(source.ENV_DATASET, "task6", cache_dir=str(tmp_path_factory.mktemp("cache")))
    mp.undo()
    assert list(dataset) == ["test"]  # the train tables are not prepared
    return task_functions.process_docs(dataset["test"])


def test_documents_prompts_and_images(task6_docs, monkeypatch: pytest.MonkeyPatch) -> None:
    names = task6_docs["volume_name"]
    assert names == sorted(names)  # a volume's questions follow one another
    doc = task6_docs[0]
    assert isinstance(doc["volume"], dict) and doc["volume"]["path"].endswith(f"{doc['volume_name']}.nii.gz")
    text = task_functions.doc_to_text(doc, {"pre_prompt": "Look. ", "post_prompt": " Reply with a letter."})
    assert text == "Look. " + question_prompt(doc) + " Reply with a letter."
    assert "\nChoices: A. " in text and task_functions.doc_to_target(doc)[1:3] == ". "
    monkeypatch.setenv("RAD3D_RENDER", "lung")
    monkeypatch.setenv("RAD3D_RENDER_SLICES", "3")
    monkeypatch.setenv("RAD3D_RENDER_SIZE", "24")
    images = task_functions.doc_to_visual(doc)
    assert [(i.size, i.mode) for i in images] == [((24, 24), "L")] * 3
    monkeypatch.setenv("RAD3D_RENDER_MONTAGE", "1")
    assert [i.size for i in task_functions.doc_to_visual(doc)] == [(48, 48)]
    monkeypatch.setenv("RAD3D_RENDER", "soft")
    with pytest.raises(ValueError, match="unknown render preset 'soft'"):
        task_functions.doc_to_visual(doc)


@pytest.mark.parametrize("config", ["task3", "task4", "task6"])
def test_aggregations_equal_score(config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAD3D_DEMO", "1")
    source.register()
    docs = task_functions.process_docs(load_dataset(source.ENV_DATASET, config, cache_dir=str(tmp_path))["test"])
    rng = random.Random(config)
    predictions = [rng.choice(ANSWERS) for _ in range(len(docs))]
    per_metric: dict[str, list] = {}
    for doc, prediction in zip(docs, predictions):
        for metric, item in task_functions.process_results(doc, [prediction]).items():
            per_metric.setdefault(metric, []).append(item)
    task = int(config[-1])
    assert sorted(per_metric) == sorted(task_functions.TASK_METRICS[task])
    expected = score(predictions, list(docs.remove_columns("volume")), n_resamples=0)
    monkeypatch.delenv("RAD3D_JUDGE_URL", raising=False)
    monkeypatch.delenv("RAD3D_JUDGE_MODEL", raising=False)
    for metric, items in per_metric.items():
        value = getattr(task_functions, f"aggregate_{metric}")(json.loads(json.dumps(items)))  # as logged
        if metric == "judge_score":  # no judge set: not judged, and said so (never a made-up number)
            assert math.isnan(value)
            continue
        want = expected[f"task{task}/{metric}"]
        assert value == want or (math.isnan(value) and math.isnan(want)), metric


def test_the_open_tasks_are_judged_by_the_model_the_environment_names(tmp_path: Path, monkeypatch) -> None:
    from rad3d_hf.scoring.judge import Judge
    from tests.judge_server import judge_server

    monkeypatch.setenv("RAD3D_DEMO", "1")
    source.register()
    docs = task_functions.process_docs(load_dataset(source.ENV_DATASET, "task2", cache_dir=str(tmp_path))["test"])
    predictions = [doc["answer"] if i % 3 else "no finding" for i, doc in enumerate(docs)]
    items = [task_functions.process_results(d, [p])["judge_score"] for d, p in zip(docs, predictions)]
    with judge_server() as (url, log):
        monkeypatch.setenv("RAD3D_JUDGE_URL", url)
        monkeypatch.setenv("RAD3D_JUDGE_MODEL", "m")
        monkeypatch.setenv("RAD3D_JUDGE_CACHE", str(tmp_path / "judge.sqlite"))
        value = task_functions.aggregate_judge_score(json.loads(json.dumps(items)))
        asked = log.requests
        judge = Judge(url, "m", cache_path=tmp_path / "judge.sqlite", progress=False)
        want = score(predictions, list(docs.remove_columns("volume")), n_resamples=0, judge=judge)["task2/judge_score"]
    assert 0 < value < 1 and value == want
    assert asked > 0 and log.requests == asked  # the same judgements, from the cache the lmms-eval run filled
    monkeypatch.setenv("RAD3D_JUDGE_MODEL", "")
    with pytest.raises(ValueError, match="set both RAD3D_JUDGE_URL and RAD3D_JUDGE_MODEL"):
        task_functions.aggregate_judge_score(items)


def test_process_results_refuses_what_it_cannot_score(task6_docs) -> None:
    with pytest.raises(ValueError, match="expected one answer, got 2"):
        task_functions.process_results(task6_docs[0], ["A", "B"])
    with pytest.raises(TypeError, match="not text"):
        task_functions.process_results(task6_docs[0], [None])


def _sample(question_id: str, answer: str) -> dict:
    item = {"id": question_id, "prediction": answer, "reference": {}}
    return {"doc_id": 0, "filtered_resps": answer, "accuracy": item, "unparseable_rate": item}


def test_samples_converter(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "model"
    folder.mkdir(parents=True)
    good = folder / "20260101_samples_3drad_task4.jsonl"
    good.write_text("\n".join(json.dumps(_sample(f"q{i}", a)) for i, a in enumerate(["A", "B. No"])) + "\n")
    assert sample_files(tmp_path / "out") == [good]
    assert read_samples([good]) == {"q0": "A", "q1": "B. No"}
    listed = folder / "listed_samples_x.jsonl"
    listed.write_text(json.dumps({**_sample("q5", "A"), "filtered_resps": ["A"]}) + "\n")
    assert read_samples([listed]) == {"q5": "A"}
    cases = {
        "twice": (json.dumps(_sample("q0", "A")) + "\n") * 2,
        "differs": json.dumps({**_sample("q0", "A"), "filtered_resps": "B"}) + "\n",
        "other task": json.dumps({"doc_id": 0, "filtered_resps": "A", "acc": 1.0}) + "\n",
        "not json": "{oops\n",
    }
    messages = {
        "twice": "already answered at .*:1",
        "differs": "differs from filtered_resps",
        "other task": "not a sample of a 3drad task",
        "not json": ":1: not valid JSON",
    }
    for name, text in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        bad.write_text(text)
        with pytest.raises(PredictionsError, match=messages[name]):
            read_samples([bad])
    with pytest.raises(PredictionsError, match="missing.jsonl does not exist"):
        sample_files(tmp_path / "missing.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictionsError, match="no lmms-eval samples_"):
        sample_files(tmp_path / "empty")


def test_task_folder_is_where_lmms_eval_plugins_look() -> None:
    import importlib.util

    spec = importlib.util.find_spec("rad3d_hf.tasks")
    assert spec is not None and spec.submodule_search_locations is not None
    assert tasks_path().parent == Path(spec.submodule_search_locations[0]).resolve()
    files = sorted(p.name for p in tasks_path().iterdir() if p.suffix in (".yaml", "") and p.is_file())
    assert files == ["3drad.yaml", *(f"3drad_task{n}.yaml" for n in range(1, 7)), "_default_template_yaml"]


def test_cli_prints_the_task_folder_and_converts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rad3d_hf.cli import main

    assert main(["lmms-eval-path"]) == 0
    assert capsys.readouterr().out.strip() == str(tasks_path())
    samples = tmp_path / "samples_3drad_task4.jsonl"
    samples.write_text(json.dumps(_sample("q1", "B")) + "\n")
    assert main(["lmms-eval-predictions", str(samples), "--out", str(tmp_path / "p.jsonl")]) == 0
    assert (tmp_path / "p.jsonl").read_text() == '{"id": "q1", "prediction": "B"}\n'
    assert main(["lmms-eval-predictions", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "q.jsonl")]) == 2
    assert "none.jsonl does not exist" in capsys.readouterr().err
    assert main(["lmms-eval-predictions", str(samples), "--out", str(tmp_path)]) == 2
