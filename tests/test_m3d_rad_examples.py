"""The M3D-RAD example scripts: resumable predictions files, and the tiny preset end to end on the demo data."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_predictions_file_resume_drops_a_cut_off_last_line(tmp_path):
    from rad3d_hf.prediction.parts import read_predictions_file

    path = tmp_path / "p.jsonl"
    assert read_predictions_file(path) == {}
    path.write_text('{"id": "a", "prediction": "B. No"}\n{"id": "b", "prediction": ""}\n{"id": "c", "predi')
    assert read_predictions_file(path) == {"a": "B. No", "b": ""}
    assert path.read_text().endswith('"predi')  # read-only unless asked to repair
    assert list(read_predictions_file(path, repair=True)) == ["a", "b"]
    assert path.read_text().endswith('"prediction": ""}\n')  # the partial line is gone, so appending is safe


def test_predictions_file_with_a_bad_line_is_an_error(tmp_path):
    from rad3d_hf.prediction.parts import read_predictions_file

    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "x"}\nnot json\n{"id": "c", "prediction": "y"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:2: not a JSON line"):
        read_predictions_file(path)
    path.write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:1: expected"):
        read_predictions_file(path)


def test_finetune_arguments_follow_the_preset():
    pytest.importorskip("transformers")
    finetune = load_example("finetune_m3d_rad")
    phi3 = finetune.preset_defaults("phi3-4b")
    assert (phi3["learning_rate"], phi3["per_device_train_batch_size"], phi3["num_train_epochs"]) == (5e-5, 8, 5)
    assert (phi3["lr_scheduler_type"], phi3["warmup_steps"], phi3["weight_decay"]) == ("cosine", 0.03, 0.0)
    assert phi3["bf16"] and phi3["seed"] == 42 and finetune.preset_defaults("llama2-7b")["num_train_epochs"] == 4
    # bf16 needs a GPU, so the parsing checks below switch it off; any flag overrides the preset.
    model_args, data_args, training_args = finetune.parse_args(
        ["--preset", "llama2-7b", "--init_from", "ckpt", "--bf16", "false", "--num_train_epochs", "1"]
    )
    assert training_args.num_train_epochs == 1 and training_args.learning_rate == 5e-5
    assert model_args.lora and not data_args.demo and model_args.max_new_tokens == 256
    tiny_model, tiny_data, tiny_training = finetune.parse_args([])
    assert tiny_data.demo and not tiny_model.lora and tiny_training.do_predict and tiny_training.use_cpu
    assert tiny_model.max_new_tokens == 32


def test_train_step_benchmark_runs_the_recipe_on_cpu(monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    pytest.importorskip("peft")
    spec = importlib.util.spec_from_file_location("bench_step", EXAMPLES / "benchmarks" / "m3d_rad_train_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "x",
            "--preset",
            "tiny",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--steps",
            "2",
            "--seq-len",
            "48",
            "--batch-size",
            "2",
        ],
    )
    assert bench.main() == 0
    printed = capsys.readouterr().out
    assert "trainable" in printed and "steps 2-2" in printed


def _pipeline_or_skip() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    pytest.importorskip("einops")
    for module, what in (
        ("rad3d_hf.demo", "the demo data"),
        ("rad3d_hf.transforms", "M3DTransform"),
        ("rad3d_hf.scoring", "the scoring"),
    ):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{what} ({module}) is not installed in this checkout")


@pytest.mark.slow
def test_tiny_preset_end_to_end(tmp_path):
    """Fine-tune (loss goes down), evaluate by generation, save, predict, score; then predict.py resumes."""
    _pipeline_or_skip()
    finetune = load_example("finetune_m3d_rad")
    out = tmp_path / "run"
    argv = [
        "--preset",
        "tiny",
        "--output_dir",
        str(out),
        "--max_steps",
        "30",
        "--logging_steps",
        "5",
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "30",
        "--max_eval_samples",
        "8",
        "--max_predict_samples",
        "24",
        "--max_new_tokens",
        "12",
        "--disable_tqdm",
        "true",
        "--vision_pretrain_steps",
        "5",
    ]
    assert finetune.main(argv) == 0

    state = json.loads((out / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert any("eval_task4_accuracy" in h for h in state["log_history"])
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and len({p["id"] for p in predictions}) == 24
    assert all(p["id"].startswith("test/") and isinstance(p["prediction"], str) for p in predictions)
    report = json.loads((out / "scores.json").read_text())
    assert report["n"] == 24 and "version" in report
    assert (out / "final" / "config.json").is_file() and (out / "final" / "m3d_rad_processor.json").is_file()

    # examples/README.md's Python example, pointed at this run.
    readme = (EXAMPLES / "README.md").read_text()
    snippet = readme.split("In Python:\n\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    default_run = 'Path("~/.cache/huggingface/rad3d_hf/runs/m3d-rad-tiny").expanduser()'
    assert default_run in snippet
    exec(snippet.replace(default_run, f"Path({str(out)!r})"), namespace)
    assert len(namespace["answers"]) == 4 and all(isinstance(a, str) for a in namespace["answers"])

    predict = load_example("predict")
    target = tmp_path / "again.jsonl"
    common = [
        "--model",
        str(out / "final"),
        "--demo",
        "--output",
        str(target),
        "--num-workers",
        "0",
        "--max-new-tokens",
        "12",
        "--batch-size",
        "4",
    ]
    assert predict.main([*common, "--max-samples", "6"]) == 0
    first = target.read_text().splitlines()
    assert predict.main([*common, "--max-samples", "10"]) == 0
    lines = target.read_text().splitlines()
    assert lines[:6] == first and len(lines) == 10
    # Same model, same questions, greedy: the run inside the fine-tuning script gave the same answers.
    by_id = {p["id"]: p["prediction"] for p in predictions}
    for line in lines:
        record = json.loads(line)
        if record["id"] in by_id:
            assert record["prediction"] == by_id[record["id"]]


@pytest.mark.slow
def test_tiny_model_answers_from_the_image(tmp_path, capsys):
    """A short run on three Task 4 findings reads the volumes: far above its blanked-volume run, which is the prior.

    Stage 1 needs its 300 steps (200 gave 0.74); 150 steps of stage 2 give balanced accuracy 0.93 with the preset's
    seed 42 (0.90, 0.84 and 0.90 with seeds 0, 1 and 7; 300 steps gave 0.96), well above the 0.75 asked below.
    """
    _pipeline_or_skip()
    finetune = load_example("finetune_m3d_rad")
    out = tmp_path / "run"
    findings = "task4_emphysema,task4_atelectasis,task4_peribronchial_thickening"
    argv = ["--preset", "tiny", "--dataset_config", findings, "--output_dir", str(out), "--disable_tqdm", "true"]
    assert finetune.main([*argv, "--vision_pretrain_steps", "300", "--max_steps", "150", "--eval_strategy", "no"]) == 0
    stage1 = json.loads((out / "vision_pretraining.json").read_text())
    assert stage1["steps"] == 300 and stage1["seed"] == 42 and len(stage1["findings"]) == 18  # all Task 4 labels
    report = json.loads((out / "scores.json").read_text())
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    questions = sum(1 for config in findings.split(",") for _ in read_rows(str(ensure_demo_data()), "test", config))
    assert report["n"] == questions and report["task4/balanced_accuracy"] >= 0.75, report["task4/balanced_accuracy"]
    # the printed comparison: model, blanked volumes, blind (percent)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("4 Existence Detection"))
    model, blanked, blind = (float(v) for v in row.split()[-3:])
    assert model == round(100 * report["task4/balanced_accuracy"], 1) and blind == 50.0
    assert blanked <= 55.0 < 75.0 <= model


def test_m3d_augmentations_are_seeded_per_sample_and_on_for_the_released_presets():
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from rad3d_hf.models.m3d_rad.presets import build_tiny
    from rad3d_hf.models.m3d_rad.processing_m3d_rad import M3DRadCollator
    from rad3d_hf.transforms import M3DAugment

    image = torch.rand((1, 8, 16, 16), generator=torch.Generator().manual_seed(0))
    augment = M3DAugment(seed=42)
    first = [augment(image, key=f"q{i}") for i in range(12)]
    again = [M3DAugment(seed=42)(image, key=f"q{i}") for i in reversed(range(12))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # same draw whatever the order or process
    assert sum(not torch.equal(a, image) for a in first) >= 6 and all(a.shape == image.shape for a in first)
    assert len({a.sum().item() for a in first}) > 6  # samples draw differently
    augment.epoch = 1
    assert any(not torch.equal(augment(image, key=f"q{i}"), first[i]) for i in range(12))  # a new epoch draws anew

    _, processor = build_tiny(["a b c"] * 3, seed=0)
    collator = M3DRadCollator(processor, image_transform=lambda v: v, volume_column=None, augment=M3DAugment(seed=42))
    row = {"id": "q3", "question": "x", "question_type": "open", "answer": "y", "pixel_values": image}
    assert torch.equal(collator.image(row), M3DAugment(seed=42)(image, key="q3"))

    finetune = load_example("finetune_m3d_rad")
    assert finetune.parse_args(["--preset", "phi3-4b", "--init_from", "c", "--bf16", "false"])[0].augment
    assert not finetune.parse_args([])[0].augment
    assert finetune.parse_args(["--augment", "true"])[0].augment
    assert not finetune.parse_args(
        ["--preset", "llama2-7b", "--init_from", "c", "--bf16", "false", "--augment", "false"]
    )[0].augment


def test_tiny_vision_probe_benchmark_runs_both_inputs(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    spec = importlib.util.spec_from_file_location("vision_probe", EXAMPLES / "benchmarks" / "tiny_vision_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert probe.main(["--steps", "4", "--every", "2"]) == 0
    out = capsys.readouterr().out
    from rad3d_hf.data.catalogue import FINDINGS, SPLITS
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    root = str(ensure_demo_data())  # the probe's volumes: those Task 4 asks about
    volumes = {split: {r["volume_name"] for r in read_rows(root, split, "task4")} for split in SPLITS}
    assert f"{len(volumes['train'])} train / {len(volumes['test'])} test volumes, {len(FINDINGS)} findings" in out
    rows = [line for line in out.splitlines() if line.startswith(("as M3D feeds it", "standardised"))]
    assert len(rows) == 4  # two inputs, steps 2 and 4
    assert "test balanced accuracy at step 2:" in out
    # the scorer: perfect, inverted and constant logits on two findings
    import torch

    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert probe.balanced_accuracy(targets * 2 - 1, targets) == 1.0
    assert probe.balanced_accuracy(1 - targets * 2, targets) == 0.0
    assert probe.balanced_accuracy(torch.ones(4, 2), targets) == 0.5
