"""The temporal M3D-RAD: earlier scans in the prompt, mixed batches, zero start, save/reload, LoRA, history modes."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")
pytest.importorskip("peft")

from transformers import AutoModelForCausalLM  # noqa: E402

from rad3d_hf.data.catalogue import TEMPORAL_OPTIONS  # noqa: E402
from rad3d_hf.models.m3d_rad import M3DRadCollator, M3DRadConfig, M3DRadForCausalLM, M3DRadProcessor  # noqa: E402
from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers  # noqa: E402
from rad3d_hf.models.m3d_rad.lora import apply_lora  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import build_tiny, phi3_4b_config, temporal_kwargs, tokenizer_corpus  # noqa: E402
from rad3d_hf.models.m3d_rad.temporal import add_prior_volumes  # noqa: E402
from rad3d_hf.prompts import question_without_history  # noqa: E402

SHAPE = (1, 16, 64, 64)
NOTE = "(Note: 0 indicates absence, and 1 indicates presence.)"


def row(i: int, task: int, n_priors: int, *, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed * 100 + i)
    question = f"Emphysema was [{', '.join(['1'] * n_priors or ['0'])}]. {NOTE} What is its status now?"
    return {
        "id": f"test/task{task}/x/{i:06d}",
        "task": task,
        "question": question if task == 6 else "How has the emphysema changed?",
        "question_type": "closed",
        "choices": list(TEMPORAL_OPTIONS),
        "answer": TEMPORAL_OPTIONS[i % 4],
        "answer_choice": "ABCD"[i % 4],
        "pixel_values": torch.rand(SHAPE, generator=gen),
        "prior_pixel_values": [torch.rand(SHAPE, generator=gen) for _ in range(n_priors)],
        "prior_volume_names": [f"test_{i}_{k}_1" for k in "ab"[:n_priors]],
    }


@pytest.fixture(scope="module")
def pair():
    texts = tokenizer_corpus([row(i, 5 + i % 2, 1) for i in range(4)]) * 3
    single = build_tiny(texts, seed=0)
    temporal = build_tiny(texts, seed=0, history="both", **temporal_kwargs("tiny-temporal"))
    return single, temporal


def test_temporal_model_starts_as_the_single_scan_one(pair, tmp_path):
    (single, single_proc), (temporal, proc) = pair
    assert set(temporal.state_dict()) - set(single.state_dict()) == {"scan_positions.weight"}
    assert torch.count_nonzero(temporal.scan_positions.weight) == 0
    rows = [{k: v for k, v in row(i, 5, 0).items() if k != "prior_volume_names"} for i in range(3)]
    expected = single(**M3DRadCollator(single_proc)(rows)).logits
    assert torch.allclose(temporal(**M3DRadCollator(proc)(rows)).logits, expected, atol=1e-6)
    # A saved single-scan model loads into the temporal architecture (the new embedding starts at zero) ...
    single.save_pretrained(tmp_path / "single")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "single", max_prior_volumes=2)
    assert loaded.config.max_prior_volumes == 2 and torch.count_nonzero(loaded.scan_positions.weight) == 0
    assert torch.allclose(loaded(**M3DRadCollator(proc)(rows)).logits, expected, atol=1e-6)
    # ... and so does one converted in memory (how --init_from a released checkpoint becomes temporal).
    converted = add_prior_volumes(M3DRadForCausalLM(copy.deepcopy(single.config)), max_prior_volumes=2)
    converted.load_state_dict({**single.state_dict(), "scan_positions.weight": converted.scan_positions.weight})
    assert torch.allclose(converted(**M3DRadCollator(proc)(rows)).logits, expected, atol=1e-6)
    with pytest.raises(ValueError, match="already reads earlier scans"):
        add_prior_volumes(converted, max_prior_volumes=2)


def test_one_marked_span_per_scan_and_features_in_time_order(pair):
    _, (model, proc) = pair
    r = row(0, 5, 2)
    text = proc.prompt_text(r, 2)
    assert text.startswith("Earlier scan 1: <im_patch>") and "\nEarlier scan 2: <im_patch>" in text
    n = model.config.num_image_tokens
    assert "<im_patch>\nCurrent scan: <im_patch>" in text and text.count("<im_patch>") == 3 * n
    assert proc.prompt_text(r, 0).startswith("<im_patch>" * n + " How has")
    with torch.no_grad():
        model.scan_positions.weight.copy_(torch.arange(3.0)[:, None].expand(3, model.config.text_config.hidden_size))
    try:
        batch = M3DRadCollator(proc, with_target=False)([r])
        ids = batch["input_ids"]
        with torch.no_grad():
            merged = model.merge_image_features(
                ids,
                model.get_input_embeddings()(ids),
                _features(model, batch),
            )
            oldest, latest = (model.get_image_features(p[None])[0] for p in r["prior_pixel_values"])
            current = model.get_image_features(r["pixel_values"][None])[0]
        positions = (ids[0] == proc.image_token_id).nonzero().flatten()
        # oldest earlier scan: 2 scans back; latest: 1; current: 0
        for k, (features, back) in enumerate(((oldest, 2.0), (latest, 1.0), (current, 0.0))):
            assert torch.allclose(merged[0, positions[n * k : n * (k + 1)]], features + back, atol=1e-5)
    finally:
        with torch.no_grad():
            model.scan_positions.weight.zero_()


def _features(model, batch):
    from rad3d_hf.models.m3d_rad.temporal import scan_features

    return scan_features(model, batch["pixel_values"], batch.get("prior_pixel_values"), batch.get("prior_mask"))


def test_mixed_batch_pads_and_generates_like_one_by_one(pair):
    _, (model, proc) = pair
    model.eval()
    rows = [row(0, 5, 2, seed=3), row(1, 4, 1, seed=3), row(2, 6, 1, seed=3), row(3, 5, 0, seed=3)]
    collate = PredictionCollator(proc)
    batch = collate(rows)
    assert batch["prior_mask"].tolist() == [[True, True], [False, False], [True, False], [False, False]]
    counts = (batch["input_ids"] == proc.image_token_id).sum(1).tolist()
    n = model.config.num_image_tokens
    assert counts == [3 * n, n, 2 * n, n]  # Task 4 reads no earlier scans; Task 6 does with history="both"
    with torch.no_grad():
        together = generate_answers(model, proc, batch, max_new_tokens=5)
        alone = [generate_answers(model, proc, collate([r]), max_new_tokens=5)[0] for r in rows]
    assert together == alone
    # Earlier scans change the answer distribution; training labels cover only the answer.
    train = M3DRadCollator(proc)(rows)
    for i, r in enumerate(rows):
        kept = train["labels"][i][train["labels"][i] != -100]
        assert proc.tokenizer.decode(kept[:-1]).strip() == f"{r['answer_choice']}. {r['answer']}"
    with torch.no_grad():
        one = collate(rows[:1])
        a = model(**{k: v for k, v in one.items() if k != "ids"}).logits[0, -1]
        one["prior_pixel_values"] = one["prior_pixel_values"].flip(-1)
        b = model(**{k: v for k, v in one.items() if k != "ids"}).logits[0, -1]
    assert not torch.allclose(a, b)


def test_history_modes_choose_what_task6_sees(pair):
    _, (_, proc) = pair
    r = row(5, 6, 2)
    for history, priors, has_labels in (("text", 0, True), ("images", 2, False), ("both", 2, True)):
        p = M3DRadProcessor(proc.tokenizer, num_image_tokens=32, max_length=256, max_prior_volumes=2, history=history)
        collator = M3DRadCollator(p, with_target=False)
        assert len(collator.priors(r)) == priors
        text = p.prompt_text(r, priors)
        assert ("[1, 1]" in text) == has_labels and (NOTE in text) == has_labels
        assert ("(see the earlier scans)" in text) == (not has_labels)
    assert question_without_history(r).startswith("Emphysema was (see the earlier scans). What is")
    with pytest.raises(ValueError, match="test/task5/x/000001"):
        question_without_history(row(1, 5, 1))
    with pytest.raises(ValueError, match="history must be one of"):
        M3DRadProcessor(proc.tokenizer, num_image_tokens=32, history="pictures")


def test_temporal_facts_come_before_the_option_and_are_saved(pair, tmp_path):
    _, (_, proc) = pair
    facts = M3DRadProcessor.for_config(proc.tokenizer, pair[1][0].config, max_length=256, temporal_facts=True)
    r = {k: v for k, v in row(1, 5, 1).items() if "pixel" not in k}  # answer B: resolved
    encoded = facts.encode(r, with_target=True, num_priors=1)
    target = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != -100]
    assert facts.decode([target])[0] == f"Earlier scans: Yes. Current scan: No. B. {TEMPORAL_OPTIONS[1]}"
    plain = proc.encode(r, with_target=True, num_priors=1)
    assert (
        plain["input_ids"][: len(facts.encode(r, with_target=False, num_priors=1)["input_ids"])]
        == (facts.encode(r, with_target=False, num_priors=1)["input_ids"])
    )  # the prompt is the same; only the target states the facts
    existence = {**r, "task": 4, "choices": ["Yes", "No"], "answer_choice": "A", "answer": "Yes"}
    assert facts.encode(existence, with_target=True)["labels"] == proc.encode(existence, with_target=True)["labels"]
    facts.save_pretrained(tmp_path / "p")
    assert M3DRadProcessor.from_pretrained(tmp_path / "p").temporal_facts
    proc.save_pretrained(tmp_path / "q")
    assert not M3DRadProcessor.from_pretrained(tmp_path / "q").temporal_facts


def test_collator_errors_and_limits(pair):
    _, (_, proc) = pair
    collator = M3DRadCollator(proc)
    unloaded = {k: v for k, v in row(7, 5, 2).items() if k != "prior_pixel_values"}
    with pytest.raises(ValueError, match=r"test/task5/x/000007.*prior_volumes=True"):
        collator([unloaded])
    many = row(8, 5, 2)
    many["prior_pixel_values"] = [torch.full(SHAPE, float(k)) for k in range(4)]
    kept = collator.priors(many)
    assert [float(t.max()) for t in kept] == [2.0, 3.0]  # the latest two
    wrong = row(9, 5, 1)
    wrong["prior_pixel_values"] = [torch.rand(1, 8, 64, 64)]
    with pytest.raises(ValueError, match="000009.*earlier image has shape"):
        collator([wrong])


def test_model_rejects_inconsistent_prior_inputs(pair):
    (single, _), (model, proc) = pair
    batch = M3DRadCollator(proc)([row(0, 5, 2)])
    with pytest.raises(ValueError, match="reads at most 0"):
        single(**batch)
    with pytest.raises(ValueError, match="together"):
        model(**{k: v for k, v in batch.items() if k != "prior_mask"})
    with pytest.raises(ValueError, match="need the current scan"):
        model(**{k: v for k, v in batch.items() if k != "pixel_values"})
    with pytest.raises(ValueError, match="prior_pooling_size"):
        M3DRadConfig(**{**single.config.to_dict(), "prior_pooling_size": [3, 3, 3], "max_prior_volumes": 1})


def test_save_reload_and_lora_keep_the_temporal_model(pair, tmp_path):
    _, (model, proc) = pair
    with torch.no_grad():
        model.scan_positions.weight.normal_()
    try:
        peft_model = apply_lora(model)
        trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
        assert any("scan_positions.modules_to_save" in n for n in trainable)
        batch = M3DRadCollator(proc)([row(0, 5, 2), row(1, 5, 1)])
        peft_model(**batch).loss.backward()
        merged = peft_model.merge_and_unload()
        merged.save_pretrained(tmp_path)
        proc.save_pretrained(tmp_path)
        again = AutoModelForCausalLM.from_pretrained(tmp_path)
        again_proc = M3DRadProcessor.from_pretrained(tmp_path)
        assert again.config.max_prior_volumes == 2 and (again_proc.max_prior_volumes, again_proc.history) == (2, "both")
        merged.eval(), again.eval()
        with torch.no_grad():
            assert torch.allclose(merged(**batch).logits, again(**batch).logits, atol=1e-5)
    finally:
        with torch.no_grad():
            model.scan_positions.weight.zero_()


def test_phi3_temporal_preset_bounds_the_context():
    config = phi3_4b_config(**temporal_kwargs("phi3-4b-temporal"))
    assert (config.max_prior_volumes, config.num_image_tokens, config.num_prior_image_tokens) == (6, 256, 64)
    assert config.num_image_tokens + 6 * config.num_prior_image_tokens == 640


def test_earlier_scans_take_their_rows_augmentation(pair):
    """Training augmentation draws once per row: every scan of it is rotated, flipped and rescaled alike."""
    from rad3d_hf.transforms import M3DAugment

    _, (_, proc) = pair
    augment = M3DAugment(seed=42)
    rows = []
    for i in range(8):
        r = row(i, 5, 2)
        r["prior_pixel_values"] = [r["pixel_values"].clone(), r["pixel_values"].clone()]  # unchanged since
        rows.append(r)
    batch = M3DRadCollator(proc, augment=augment)(rows)
    changed = 0
    for i, r in enumerate(rows):
        expected = augment(r["pixel_values"], key=r["id"])
        assert torch.equal(batch["pixel_values"][i], expected)
        for k in range(2):
            assert torch.equal(batch["prior_pixel_values"][i, k], expected)
        changed += not torch.equal(expected, r["pixel_values"])
    assert changed >= 4  # the augmentation did act on most rows
