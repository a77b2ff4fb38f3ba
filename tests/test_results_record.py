"""The results record (results.json + details.parquet), its checks, the paired comparison from details, and the named
input protocols a record names."""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np
import pytest

from rad3d_hf.scoring import score_details
from rad3d_hf.scoring.paired_comparison import compare
from rad3d_hf.scoring.record_comparison import compare_details, questions_from_details, significant
from rad3d_hf.scoring.results_record import (
    DETAILS_COLUMNS,
    SCHEMA,
    ResultsError,
    describe_model,
    details_rows,
    questions_digest,
    read_details,
    read_results,
    results_record,
    validate_record,
    write_results,
)
from rad3d_hf.transforms.protocols import (
    PROTOCOLS,
    get_protocol,
    match_protocol,
    protocol_for_params,
    protocol_record,
    protocol_table,
)
from tests.demo_tables import demo_tables, demo_test_rows


@pytest.fixture(scope="module")
def demo_rows():
    return demo_test_rows()


def _predictions(rows, keep: float, seed: int = 0) -> list[str]:
    from rad3d_hf.prompts import target_text

    rng = random.Random(seed)
    return [target_text(r) if rng.random() < keep else ("B. No" if r["task"] >= 4 else "no") for r in rows]


@pytest.fixture(scope="module")
def scored(demo_rows):
    return score_details(_predictions(demo_rows, 0.7), demo_rows, n_resamples=200)


def test_record_holds_what_was_scored_and_how(scored, demo_rows):
    record = results_record(
        scored.metrics,
        scored.questions,
        model_name="perturbed",
        model="someone/some-model",
        revision="abc123",
        input_protocol=protocol_record("medgemma-ct"),
        prompt={"template": "chat", "system_prompt": None},
        generation={"do_sample": False, "max_new_tokens": 256},
        tables_digest="d" * 32,
        split="test",
        configs=["all"],
    )
    validate_record(record)
    assert record["schema"] == SCHEMA
    assert record["model"] == {"name": "perturbed", "hub_id": "someone/some-model", "revision": "abc123"}
    assert record["input_protocol"]["name"] == "medgemma-ct"
    assert record["input_protocol"]["params"]["preset"] == "medgemma"
    assert record["coverage"] == {"n": len(demo_rows), "n_volumes": scored.metrics["n_volumes"]}
    assert record["scoring"]["cluster_by"] == "patient" and record["scoring"]["n_resamples"] == 200
    assert set(record["tasks"]) == {f"task{n}" for n in range(1, 7)}
    for key, task in record["tasks"].items():
        headline = task["metrics"][task["headline"]]
        assert headline["value"] == scored.metrics[f"{key}/{task['headline']}"]
        assert headline["ci95"] == [scored.metrics[f"{key}/{task['headline']}_ci95_{b}"] for b in ("low", "high")]
        assert "baseline_majority" in headline
        assert task["subtasks"] and all(sub["n"] > 0 for sub in task["subtasks"].values())
    assert record["tasks"]["task1"]["headline"] == "rouge1" and record["tasks"]["task4"]["headline"] == "accuracy"
    assert "baseline_history" in record["tasks"]["task6"]["metrics"]["accuracy"]
    assert "balanced_accuracy" in record["tasks"]["task4"]["metrics"]
    json.dumps(record, allow_nan=False)  # plain JSON: NaN became null


def test_questions_digest_names_the_questions_not_the_answers_given(demo_rows):
    a = score_details(_predictions(demo_rows, 1.0), demo_rows, n_resamples=0)
    b = score_details(_predictions(demo_rows, 0.2), demo_rows, n_resamples=0)
    assert questions_digest(a.questions) == questions_digest(b.questions) == questions_digest(demo_rows)
    assert questions_digest(a.questions) != questions_digest(a.questions[1:])


def test_write_and_read_back(tmp_path, scored):
    record = results_record(scored.metrics, scored.questions, model_name="perturbed", input_protocol="m3d-release")
    results, details = write_results(tmp_path / "run", record, details_rows(scored.questions))
    assert read_results(tmp_path / "run") == read_results(results) == record
    assert details.name == "details.parquet" and results.name == "results.json"
    rows = read_details(tmp_path / "run")
    assert len(rows) == record["coverage"]["n"] and list(rows[0]) == list(DETAILS_COLUMNS)
    assert all(row["patient"] == "_".join(row["volume_name"].split("_")[:2]) for row in rows)
    closed = next(row for row in rows if row["task"] == 4)
    assert closed["answer_choice"] in ("A", "B") and isinstance(closed["correct_official"], bool)


def test_paired_comparison_from_details_matches_rescoring(demo_rows):
    a, b = _predictions(demo_rows, 0.8, seed=1), _predictions(demo_rows, 0.5, seed=2)
    expected = compare(a, b, demo_rows, n_resamples=300)
    da = details_rows(score_details(a, demo_rows, n_resamples=0).questions)
    db = details_rows(score_details(b, demo_rows, n_resamples=0).questions)
    got = compare_details(da, db, n_resamples=300)
    assert got["skipped"] == {}
    for key, value in expected.items():
        if isinstance(value, float) and key.startswith("task"):
            assert got[key] == pytest.approx(value, nan_ok=True, abs=1e-12), key
    assert significant(got, "task4/accuracy") is True


def test_tasks_scored_on_other_questions_are_skipped_not_mixed(demo_rows):
    rows = details_rows(score_details(_predictions(demo_rows, 0.6), demo_rows, n_resamples=0).questions)
    fewer = [row for row in rows if not (row["task"] == 5 and row["id"].endswith("0"))]
    got = compare_details(rows, fewer, n_resamples=50)
    assert "task5" in got["skipped"] and "task5/accuracy_diff" not in got
    assert got["task4/accuracy_diff"] == 0.0


def test_rebuilt_questions_keep_what_the_intervals_need(scored):
    rebuilt = questions_from_details(details_rows(scored.questions))
    assert [q.id for q in rebuilt] == [q.id for q in scored.questions]
    task3 = next(q for q in rebuilt if q.task == 3)
    assert "reference_measurement" in task3.details and "bleu1_matches" in task3.details


def test_model_description(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    assert describe_model(folder, name="m")["weights_digest"] is None  # no weights files
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    first = describe_model(folder, name="m")
    assert first["path"] == str(folder) and len(first["weights_digest"]) == 32
    (folder / "model.safetensors").write_bytes(b"weightz")
    assert describe_model(folder, name="m")["weights_digest"] != first["weights_digest"]
    assert describe_model(folder, name="m", digest_weights=False)["weights_digest"] is None
    assert describe_model(None, name="m") == {"name": "m", "revision": None}
    with pytest.raises(ValueError, match="neither a local folder nor a Hub id"):
        describe_model(str(tmp_path / "missing" / "deeper" / "x"), name="m")
    with pytest.raises(ValueError, match="model_name"):
        describe_model(None, name=" ")


def test_a_report_and_details_that_disagree_are_refused(scored):
    with pytest.raises(ValueError, match="details hold"):
        results_record(scored.metrics, scored.questions[:-1], model_name="m")
    with pytest.raises(ValueError, match="not a rad3d-hf scoring report"):
        results_record({"task4/accuracy": 1.0}, scored.questions, model_name="m")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r.update(schema="rad3d-hf/results/0"), "field schema"),
        (lambda r: r["model"].pop("name"), "field model.name"),
        (
            lambda r: r["tasks"]["task4"]["metrics"]["accuracy"].update(value="high"),
            "tasks.task4.metrics.accuracy.value",
        ),
        (lambda r: r["tasks"]["task4"]["metrics"]["accuracy"].update(ci95=[0.1]), "tasks.task4.metrics.accuracy.ci95"),
        (lambda r: r["tasks"]["task1"].update(headline="meteor"), "tasks.task1.headline"),
        (lambda r: r["coverage"].update(n="12"), "field coverage.n"),
        (lambda r: r["tasks"].update(task9=r["tasks"]["task1"]), "tasks.task9"),
    ],
)
def test_reader_names_the_file_and_the_field(tmp_path, scored, edit, field):
    record = results_record(scored.metrics, scored.questions, model_name="m")
    edit(record)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    with pytest.raises(ResultsError) as error:
        read_results(path)
    assert str(path) in str(error.value) and field in str(error.value)


def test_reader_errors_for_missing_or_broken_files(tmp_path):
    with pytest.raises(ResultsError, match="no such results file"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not JSON"):
        read_results(tmp_path)
    with pytest.raises(ResultsError, match="no details file"):
        read_details(tmp_path)
    (tmp_path / "details.parquet").write_text("not parquet")
    with pytest.raises(ResultsError, match="not a Parquet file"):
        read_details(tmp_path)


def test_subset_records_their_coverage(demo_rows):
    rows = [row for row in demo_rows if row["task"] == 4]
    result = score_details(_predictions(rows, 0.5), rows, n_resamples=0, n_expected=len(demo_rows))
    record = results_record(result.metrics, result.questions, model_name="task4 only")
    assert record["coverage"]["n_expected"] == len(demo_rows) and record["coverage"]["coverage"] < 1
    assert set(record["tasks"]) == {"task4"}
    assert record["tasks"]["task4"]["metrics"]["accuracy"]["ci95"] is None  # no resamples, no interval


# --- the input protocols a record names ---


def test_every_protocol_builds_and_is_recognised_from_its_parameters():
    for protocol in PROTOCOLS.values():
        assert protocol.source and protocol.what_the_model_sees
        assert protocol.exact or protocol.differences  # an inexact one says where it differs
        params = {**protocol.build().params(), "volume_format": protocol.settings.get("volume_format")}
        assert match_protocol(params) == protocol.name
        assert protocol_for_params(params)["name"] == protocol.name
    assert protocol_table().count("\n") == len(PROTOCOLS) + 1


def test_eva_protocol_gives_the_released_slices_unchanged():
    volume = np.random.default_rng(0).random((1, 32, 256, 256), dtype=np.float32)
    images = get_protocol("eva-32-slices").build().render_array(volume)
    assert len(images) == 32
    for index in (0, 17, 31):
        assert np.array_equal(np.asarray(images[index]), np.rint(volume[0, index] * 255).astype(np.uint8))


def test_medgemma_protocol_uses_the_notebook_windows():
    renderer = get_protocol("medgemma-ct").build()
    renderer.settle(np.full((4, 8, 8), -1000.0, dtype=np.float32))
    assert renderer.windows == ((-1024.0, 1024.0), (-135.0, 215.0), (0.0, 80.0))
    assert renderer.num_slices == 85 and renderer.size == 896


def test_unknown_or_custom_inputs():
    with pytest.raises(ValueError, match="did you mean 'medgemma-ct'"):
        get_protocol("medgema-ct")
    custom = protocol_for_params({"renderer": "slices", "preset": "lung", "num_slices": 8, "size": 224})
    assert custom["name"] == "custom" and custom["params"]["preset"] == "lung"
    assert protocol_for_params({"model": "x", "volume_format": "npy"})["name"] == "m3d-release"
    assert protocol_for_params({"recipe": "m3d", "window": [-1000, 1000], "volume_format": "nifti"})["name"] == "custom"


def test_score_command_record_inputs_from_the_run_settings(tmp_path, scored):
    """What `rad3d-hf score --model-name` will record, from the settings predict.py writes beside its output."""
    from rad3d_hf.cli.results_files import record_inputs, run_params, write_record

    predictions = tmp_path / "preds.jsonl"
    renderer = get_protocol("medgemma-ct").build()
    settings = {"model": "google/medgemma-1.5-4b-it", **renderer.params(), "max_new_tokens": 256,
                "system_prompt": None, "volume_format": "nifti"}  # fmt: skip
    (tmp_path / "preds.jsonl.params.json").write_text(json.dumps(settings))
    args = argparse.Namespace(model_name="MedGemma 1.5 4B", model=None, revision=None, input_protocol=None,
                              prompt_template=None, no_weights_digest=True, data_dir=demo_tables(), demo=False,
                              split="test", config=["all"])  # fmt: skip
    inputs = record_inputs(args, run_params(predictions))
    assert inputs["input_protocol"]["name"] == "medgemma-ct" and inputs["model"] == "google/medgemma-1.5-4b-it"
    assert inputs["generation"] == {"do_sample": False, "max_new_tokens": 256}
    written = write_record(args, scored, tmp_path / "out", predictions=predictions)
    record = read_results(tmp_path / "out")
    assert written == ["results.json", "details.parquet"] and record["model"]["hub_id"] == "google/medgemma-1.5-4b-it"
    assert record["tables_digest"] and record["split"] == "test"
    assert not math.isnan(record["tasks"]["task4"]["metrics"]["accuracy"]["value"])


def test_record_options_name_every_protocol():
    from rad3d_hf.cli.results_files import add_record_options

    parser = argparse.ArgumentParser()
    add_record_options(parser)
    help_text = " ".join(parser.format_help().split())
    assert all(name in help_text for name in PROTOCOLS)
    args = parser.parse_args(["--model-name", "x", "--input-protocol", "eva-32-slices"])
    assert args.model_name == "x" and args.input_protocol == "eva-32-slices"
