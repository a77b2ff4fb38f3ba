"""M3D-RAD under the transformers Trainer: steps on map-style and streaming data, LoRA, generation-based evaluation."""

from __future__ import annotations

import zlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")
pytest.importorskip("peft")
pytest.importorskip("einops")

from transformers import TrainingArguments  # noqa: E402

from rad3d_hf.models.m3d_rad import M3DRadCollator  # noqa: E402
from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers  # noqa: E402
from rad3d_hf.models.m3d_rad.lora import apply_lora  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus  # noqa: E402
from rad3d_hf.models.m3d_rad.trainer import M3DRadTrainer  # noqa: E402


def rows(n: int = 8) -> list[dict]:
    out = []
    for i in range(n):
        if i % 2:
            out.append(
                {
                    "id": f"train/task4/emphysema/{i:06d}",
                    "question": "Is there emphysema?",
                    "question_type": "closed",
                    "choices": ["Yes", "No"],
                    "answer": "No" if i % 4 == 1 else "Yes",
                    "answer_choice": "B" if i % 4 == 1 else "A",
                    "volume_name": f"train_{i}_a_1",
                }
            )
        else:
            out.append(
                {
                    "id": f"train/task1/diagnosis/{i:06d}",
                    "question": "What is the diagnosis?",
                    "question_type": "open",
                    "choices": [],
                    "answer": "Mild emphysema.",
                    "answer_choice": "",
                    "volume_name": f"train_{i}_a_1",
                }
            )
    return out


class SyntheticVolume:
    """Stands in for the volume transform: a fixed random image per volume name (picklable, seeded)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __call__(self, volume_name: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(zlib.crc32(volume_name.encode()))
        return torch.rand(self.shape, generator=gen)


def exact_match(predictions: list[str], references: list[dict]) -> dict:
    from rad3d_hf.prompts import target_text

    hits = [p == target_text(r) for p, r in zip(predictions, references)]
    return {"exact_match": sum(hits) / len(hits), "note": "not logged"}


def args(tmp_path, **overrides) -> TrainingArguments:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=3e-3,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
        seed=42,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    settings.update(overrides)
    return TrainingArguments(**settings)


@pytest.fixture(scope="module")
def tiny_factory():
    texts = tokenizer_corpus(rows()) * 3

    def make(seed: int = 0):
        return build_tiny(texts, seed=seed)

    return make


def test_two_trainer_steps_change_the_weights_map_style(tiny_factory, tmp_path):
    model, processor = tiny_factory()
    image = SyntheticVolume((1, *model.config.vision_config.image_size))
    collator = M3DRadCollator(processor, image_transform=image, volume_column="volume_name")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = M3DRadTrainer(
        model=model,
        args=args(tmp_path),
        train_dataset=rows(),
        data_collator=collator,
        processing_class=processor.tokenizer,
    )
    result = trainer.train()
    assert result.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    for part in ("vision_tower.", "mm_projector.", "language_model.model.layers.", "language_model.lm_head."):
        assert any(n.startswith(part) for n in changed), part


def test_trainer_on_streaming_data_with_lora_and_generation_eval(tiny_factory, tmp_path):
    from datasets import Dataset

    model, processor = tiny_factory(seed=1)
    image = SyntheticVolume((1, *model.config.vision_config.image_size))
    train = Dataset.from_list(rows()).to_iterable_dataset(num_shards=2)
    peft_model = apply_lora(model)
    lora_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_B" in n}
    eval_rows = rows(4)
    trainer = M3DRadTrainer(
        model=peft_model,
        args=args(tmp_path, eval_strategy="steps", eval_steps=2),
        train_dataset=train,
        eval_dataset=eval_rows,
        data_collator=M3DRadCollator(processor, image_transform=image, volume_column="volume_name"),
        processing_class=processor.tokenizer,
        generation_rows=eval_rows,
        generation_collator=PredictionCollator(processor, image_transform=image, volume_column="volume_name"),
        answer_metrics=exact_match,
        max_new_tokens=4,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    evals = [h for h in trainer.state.log_history if "eval_exact_match" in h]
    assert evals and 0.0 <= evals[-1]["eval_exact_match"] <= 1.0
    assert not any("eval_note" in h for h in trainer.state.log_history)
    assert any("eval_loss" in h for h in trainer.state.log_history)
    assert set(trainer.last_generated) == {r["id"] for r in eval_rows}
    assert any(not torch.equal(lora_before[n], p.detach()) for n, p in peft_model.named_parameters() if "lora_B" in n)


def test_generation_through_peft_equals_the_merged_model(tiny_factory):
    model, processor = tiny_factory(seed=2)
    peft_model = apply_lora(model)
    with torch.no_grad():  # make the adapter non-trivial
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    peft_model.eval()
    image = SyntheticVolume((1, *model.config.vision_config.image_size))
    batch = PredictionCollator(processor, image_transform=image, volume_column="volume_name")(rows(4))
    assert batch["ids"] == [r["id"] for r in rows(4)]
    adapted = generate_answers(peft_model, processor, batch, max_new_tokens=5)
    merged = generate_answers(peft_model.merge_and_unload(), processor, batch, max_new_tokens=5)
    assert adapted == merged and len(adapted) == 4
