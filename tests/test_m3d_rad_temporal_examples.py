"""The temporal preset through the example scripts: the comparison run, prediction with earlier scans, the benchmark."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys

import pytest

from rad3d_hf.data.rows import read_rows
from rad3d_hf.demo import ensure_demo_data
from tests.test_m3d_rad_examples import EXAMPLES, load_example


def _needs_training_stack() -> None:
    for module in ("torch", "monai", "peft", "einops"):
        pytest.importorskip(module)


@pytest.mark.slow
def test_tiny_temporal_compares_with_the_single_scan_model_and_predicts_with_priors(tmp_path, capsys, caplog):
    _needs_training_stack()
    import torch

    caplog.set_level(logging.INFO, logger="finetune_m3d_rad")
    finetune = load_example("finetune_m3d_rad")
    out = tmp_path / "cmp"
    argv = ["--preset", "tiny-temporal", "--output_dir", str(out), "--max_steps", "3", "--disable_tqdm", "true"]
    argv += ["--vision_pretrain_steps", "3"]
    argv += ["--max_predict_samples", "12", "--max_new_tokens", "6"]
    assert finetune.main(argv) == 0

    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison) == {"single", "temporal"}
    for name, report in comparison.items():
        assert report == json.loads((out / name / "scores.json").read_text())
        assert report["n"] == 12 and "task5/macro_f1" in report and "task5/accuracy_C" in report
    temporal_config = json.loads((out / "temporal" / "final" / "config.json").read_text())
    single_config = json.loads((out / "single" / "final" / "config.json").read_text())
    assert temporal_config["max_prior_volumes"] == 2 and single_config["max_prior_volumes"] == 0
    # one stage 1 for both: the single-scan model gets the temporal one's frozen vision tower, not a second run
    from safetensors.torch import load_file

    towers = [load_file(out / name / "final" / "model.safetensors") for name in ("temporal", "single")]
    keys = [k for k in towers[0] if k.startswith("vision_tower.")]
    assert keys and all(torch.equal(towers[0][k], towers[1][k]) for k in keys)
    stage1 = [(out / name / "vision_pretraining.json").read_text() for name in ("temporal", "single")]
    assert stage1[0] == stage1[1]
    assert any("weights reused" in r.getMessage() for r in caplog.records)
    # same seed and budget: both trained the same number of steps
    for name in ("single", "temporal"):
        state = json.loads((out / name / "trainer_state.json").read_text())
        assert state["global_step"] == 3
    printed = capsys.readouterr().out
    for run in ("temporal", "single", "majority", "history"):
        assert any(line.startswith("Task 5") and run in line for line in printed.splitlines()), run
    assert "macro-F1" in printed and "recall C" in printed and "before" in printed
    assert all("task5/previously_present_accuracy" in report for report in comparison.values())
    # both models train on the same questions, scan pairs included, to state the same two facts before the option
    added = [r.getMessage() for r in caplog.records if r.getMessage().startswith("added 1800 Task 5 questions")]
    questions = sum(1 for config in ("task5", "task6") for _ in read_rows(str(ensure_demo_data()), "train", config))
    assert len(added) == 2 and all(f"(seed 42) to {questions} questions" in m for m in added)
    for name in ("single", "temporal"):
        assert json.loads((out / name / "final" / "m3d_rad_processor.json").read_text())["temporal_facts"] is True

    # predict.py loads the earlier scans for a temporal model by itself; --history images strips Task 6's labels.
    predict = load_example("predict")
    target = tmp_path / "task6.jsonl"
    common = ["--model", str(out / "temporal" / "final"), "--demo", "--config", "task6", "--output", str(target)]
    common += ["--num-workers", "0", "--max-new-tokens", "4", "--max-samples", "3", "--history", "images"]
    assert predict.main(common) == 0
    assert len(target.read_text().splitlines()) == 3
    single = ["--model", str(out / "single" / "final"), "--demo", "--output", str(tmp_path / "x.jsonl")]
    with pytest.raises(SystemExit, match="reads no earlier scans"):
        predict.main([*single, "--prior-volumes"])


def test_finetune_arguments_of_the_temporal_presets():
    finetune = load_example("finetune_m3d_rad")
    model_args, data_args, _ = finetune.parse_args(["--preset", "tiny-temporal"])
    assert model_args.compare_single and data_args.prior_volumes and data_args.history == "both"
    assert data_args.dataset_config == "task5,task6" and data_args.demo
    assert model_args.temporal_facts and data_args.scan_pairs == 1800
    tiny_temporal = finetune.preset_defaults("tiny-temporal")
    assert tiny_temporal["num_train_epochs"] == 4 and tiny_temporal["train_sampling_strategy"] == "random"
    model_args, data_args, _ = finetune.parse_args(["--preset", "tiny"])
    assert not model_args.temporal_facts and data_args.scan_pairs == 0
    # from a tiny checkpoint (the quickstart's model): no second stage 1, its vision tower frozen and cached
    model_args, _, _ = finetune.parse_args(["--preset", "tiny-temporal", "--init_from", "runs/m3d-rad-tiny/final"])
    assert model_args.vision_pretrain_steps == 0 and model_args.freeze_vision_tower and model_args.cache_patch_features
    assert finetune.preset_defaults("phi3-4b-temporal")["bf16"]  # bf16 needs a GPU: switched off to parse here
    model_args, data_args, training_args = finetune.parse_args(["--preset", "phi3-4b-temporal", "--bf16", "false"])
    assert not model_args.compare_single and model_args.lora and data_args.prior_volumes
    assert training_args.learning_rate == 5e-5
    for argv, message in (
        (["--preset", "tiny", "--history", "images"], "need a temporal preset"),
        (["--preset", "tiny-temporal", "--history", "pictures"], "--history must be one of"),
        (["--preset", "tiny-temporal", "--prior_volumes", "false"], "reads earlier scans"),
        (["--preset", "tiny", "--compare_single", "true"], "compares a temporal preset"),
        (["--preset", "tiny-temporal", "--scan_pairs", "-1"], "--scan_pairs must be 0 or more"),
        (["--preset", "tiny-temporal", "--streaming", "true", "--vision_pretrain_steps", "0"], "not with --streaming"),
    ):
        with pytest.raises(SystemExit, match=message):
            finetune.parse_args(argv)


def test_train_step_benchmark_runs_the_temporal_preset_on_full_size_input(monkeypatch, capsys):
    _needs_training_stack()
    spec = importlib.util.spec_from_file_location("bench_step_t", EXAMPLES / "benchmarks" / "m3d_rad_train_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["x", "--preset", "phi3-4b-temporal", "--reduced", "--device", "cpu", "--dtype", "float32"]
    monkeypatch.setattr(sys, "argv", [*argv, "--steps", "1", "--batch-size", "1", "--priors", "1"])
    assert bench.main() == 0
    printed = capsys.readouterr().out
    assert "batch 1 x 384 tokens (1 earlier scans each)" in printed and "loss" in printed


def test_readout_probe_shows_the_demo_images_hold_what_earlier_scans_add(tmp_path, capsys):
    """Model-free, on the demo's pixels: a per-finding linear readout of the earlier scans gets the past right far
    more often than one of the current scan, with the same reading of the present; both rows scored like a model."""
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    spec = importlib.util.spec_from_file_location("readout", EXAMPLES / "benchmarks" / "temporal_readout_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert [probe.letter_of(now, before) for now in (True, False) for before in (True, False)] == list("ACBD")
    assert probe.named_finding("Is there lung nodule or nodule?", ["Nodule", "Lung nodule"]) == "Lung nodule"
    out = tmp_path / "readout.json"
    assert probe.main(["--output", str(out)]) == 0
    reports = json.loads(out.read_text())
    current, earlier = reports["current only"], reports["with earlier"]
    assert current["task5/n"] == earlier["task5/n"] > 0
    assert current["task5/present_now_accuracy"] == earlier["task5/present_now_accuracy"] > 0.55
    assert earlier["task5/previously_present_accuracy"] > current["task5/previously_present_accuracy"] + 0.1
    assert earlier["task5/macro_f1"] > current["task5/macro_f1"] + 0.05
    printed = capsys.readouterr().out
    assert "Task 5  current" in printed and "Task 5  earlier" in printed and "unnamed 0" in printed
    with pytest.raises(SystemExit):
        probe.main(["--data-dir", str(tmp_path)])  # no --volumes-dir: a usage error


def test_scan_pairs_join_the_training_rows_with_their_volumes(monkeypatch, tmp_path):
    """With npy volumes (path columns) the pairs carry their scans' paths, current as volume, earlier as prior."""
    from datasets import Dataset, Features, List, Value

    from tests.test_scan_pairs import existence, temporal

    finetune = load_example("finetune_m3d_rad")
    features = Features({
        "id": Value("string"), "task": Value("int32"), "subtask": Value("string"), "question": Value("string"),
        "answer": Value("string"), "question_type": Value("string"), "choices": List(Value("string")),
        "answer_choice": Value("string"), "volume_name": Value("string"), "patient_id": Value("int32"),
        "scan": Value("string"), "reconstruction": Value("int32"), "history": List(Value("int32")),
        "prior_volume_names": List(Value("string")), "volume": Value("string"), "prior_volumes": List(Value("string")),
    })  # fmt: skip
    scans = [existence(f"train_{v}_a_1", "Emphysema", present=v % 2 == 0, i=v) for v in range(6)]
    for r in scans:
        r.update(
            question="Is there emphysema?", choices=["Yes", "No"], answer_choice="A" if r["answer"] == "Yes" else "B"
        )
        r.update(history=[], prior_volume_names=[], volume=f"{tmp_path}/{r['volume_name']}.npy", prior_volumes=[])
    question = {**temporal("Emphysema"), "volume": "q.npy", "prior_volumes": ["p.npy"]}
    tables = {
        "task4": Dataset.from_list(scans, features=features),
        "task5": Dataset.from_list([question], features=features),
    }

    def load_split(data_args, split, *, streaming, with_volumes=True):
        table = tables[data_args.dataset_config]
        return table if with_volumes else table.remove_columns(["volume", "prior_volumes"])

    monkeypatch.setattr(finetune, "load_split", load_split)
    data_args = finetune.DataArguments(dataset_config="task5", scan_pairs=8, volume_format="npy")
    train = finetune.with_scan_pairs(tables["task5"], data_args, seed=3)
    assert len(train) == 9 and train[0]["id"] == question["id"]
    for row in list(train)[1:]:
        assert row["id"].startswith("pairs/seed3/")
        assert row["volume"] == f"{tmp_path}/{row['volume_name']}.npy"
        assert row["prior_volumes"] == [f"{tmp_path}/{row['prior_volume_names'][0]}.npy"]
    single = finetune.with_scan_pairs(tables["task5"].remove_columns("prior_volumes"), data_args, seed=3)
    assert "prior_volumes" not in single.column_names and single["id"] == train["id"]
