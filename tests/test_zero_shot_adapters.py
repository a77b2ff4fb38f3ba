"""Zero-shot image-text-to-text adapters on tiny random models of the real architectures: Gemma 3 (MedGemma) through
``examples/predict.py --model`` (predictions file, resume, then ``rad3d-hf score``); Qwen2.5-VL and LLaVA-OneVision
through the adapter and the volume-ordered work (their processors cannot be saved and reloaded without torchvision)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

import rad3d_hf  # noqa: F401  (registers "3d-rad")
from rad3d_hf.cli import main as rad3d_hf_main
from rad3d_hf.models.image_text import ImageTextAnswerer, is_image_text_folder
from rad3d_hf.prediction.volume_work import answer_by_volume, group_by_volume
from rad3d_hf.scoring import score
from rad3d_hf.transforms.slices import SliceRenderer
from tests import tiny_vlms
from tests.test_m3d_rad_examples import load_example


class CountingRenderer(SliceRenderer):
    """A SliceRenderer that counts the volumes it renders."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rendered: list[str] = []

    def __call__(self, value, *, affine=None):
        self.rendered.append(value["volume_name"])
        return super().__call__(value, affine=affine)


@pytest.fixture(scope="module")
def task4_rows(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    return load_dataset("3d-rad", "task4", split="test", demo=True, cache_dir=str(cache)).select(range(40))


@pytest.mark.slow
def test_gemma3_predict_resume_and_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tiny_vlms.gemma3(tmp_path / "tiny-gemma3")
    assert is_image_text_folder(folder) and not is_image_text_folder(tmp_path)
    predict = load_example("predict")
    output = tmp_path / "preds" / "task4.jsonl"
    args = [
        "--model", str(folder), "--demo", "--config", "task4", "--max-samples", "6", "--output", str(output),
        "--slices", "2", "--size", "28", "--max-new-tokens", "3", "--batch-size", "4", "--num-workers", "0",
    ]  # fmt: skip
    assert predict.main(args) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 6 and len({line["id"] for line in lines}) == 6
    params = json.loads(output.with_name("task4.jsonl.params.json").read_text())
    assert params["preset"] == "auto" and params["auto_choice"] == "medgemma"  # the demo volumes are in HU
    assert params["num_slices"] == 2 and params["size"] == 28 and params["volume_format"] == "nifti"

    assert predict.main(args) == 0  # resumes: nothing left to answer
    assert len(output.read_text().splitlines()) == 6
    with pytest.raises(SystemExit, match="written with other settings"):
        predict.main([("3" if previous == "--slices" else a) for previous, a in zip(["", *args], args)])

    out = tmp_path / "scores"
    code = rad3d_hf_main(
        ["score", str(output), "--demo", "--config", "task4", "--allow-subset", "--out", str(out), "--no-figure"]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    n_task4 = sum(1 for _ in read_rows(str(ensure_demo_data()), "test", "task4"))
    assert report["task4/n"] == 6 and report["n_expected"] == n_task4
    assert report["coverage"] == pytest.approx(6 / n_task4)


@pytest.mark.slow
@pytest.mark.parametrize("build", [tiny_vlms.qwen2_5_vl, tiny_vlms.llava_onevision], ids=["qwen2_5_vl", "llava_ov"])
def test_answers_by_volume_rendering_each_volume_once(build, task4_rows) -> None:
    model, processor = build()
    renderer = CountingRenderer("lung-mediastinum-bone", num_slices=2, size=28)
    answerer = ImageTextAnswerer(model, processor, renderer=renderer, batch_size=5, max_new_tokens=3)
    rows = task4_rows.select(range(24))
    groups = group_by_volume(rows["volume_name"])
    question_rows = rows.remove_columns("volume")
    answered = list(answer_by_volume(answerer, rows, question_rows, groups))
    assert [len(answers) for _, answers in answered] == [len(g) for g in groups] and len(groups) > 1
    assert renderer.rendered == [g.volume_name for g in groups]  # each volume rendered once
    by_id = {rows["id"][i]: a for group, answers in answered for i, a in zip(group.indices, answers)}
    texts = [by_id[i] for i in rows["id"]]
    one_by_one = answerer.answer([question_rows[0]], [answerer.images(rows[0])])
    assert one_by_one == [texts[0]]  # batched with the volume's other questions, the same answer
    report = score(texts, list(rows.remove_columns("volume")), n_resamples=0)
    assert report["task4/n"] == 24


def test_the_prompt_goes_through_the_models_chat_template(task4_rows) -> None:
    model, processor = tiny_vlms.qwen2_5_vl()
    answerer = ImageTextAnswerer(
        model, processor, renderer=SliceRenderer(num_slices=2, size=28), system_prompt="Be brief."
    )
    row = task4_rows[0]
    text = processor.apply_chat_template(answerer.messages(row, 2), add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert text.endswith("\nAnswer:<|im_end|>\n<|im_start|>assistant\n")
    processor.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        ImageTextAnswerer(model, processor)
    with pytest.raises(ValueError, match="images for 1 rows, expected 2"):
        answerer.answer([row, row], [[]])
