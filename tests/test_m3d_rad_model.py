"""M3D-RAD model, processor, checkpoint key map and LoRA recipe, on a tiny random model and synthetic rows."""

from __future__ import annotations

import logging
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")
pytest.importorskip("einops")

from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from rad3d_hf.data.catalogue import TEMPORAL_OPTIONS  # noqa: E402
from rad3d_hf.models.m3d_rad import (  # noqa: E402
    IMAGE_TOKEN,
    M3DRadCollator,
    M3DRadConfig,
    M3DRadForCausalLM,
    M3DRadProcessor,
)
from rad3d_hf.models.m3d_rad.checkpoint_keys import (  # noqa: E402
    config_from_lamed,
    from_lamed_checkpoint,
    load_lamed_state_dict,
    map_lamed_key,
)
from rad3d_hf.models.m3d_rad.lora import FULLY_TRAINED, apply_lora, language_model_linear_names  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus  # noqa: E402
from rad3d_hf.prompts import question_prompt, target_text  # noqa: E402


def synthetic_rows() -> list[dict]:
    """Rows in the dataset schema: closed (task 4 and 6) and open questions of different lengths."""
    return [
        {
            "id": "test/task4/lung_nodule/000000",
            "question": "Is there a lung nodule in this image?",
            "question_type": "closed",
            "choices": ["Yes", "No"],
            "answer": "No",
            "answer_choice": "B",
        },
        {
            "id": "test/task3/diameter/000001",
            "question": "What is the diameter of the largest nodule?",
            "question_type": "open",
            "choices": [],
            "answer": "About 6 mm, in the right upper lobe.",
            "answer_choice": "",
        },
        {
            "id": "test/task6/c/000002",
            "question": "Emphysema was [0, 1] before. What is its status now?",
            "question_type": "closed",
            "choices": list(TEMPORAL_OPTIONS),
            "answer": TEMPORAL_OPTIONS[0],
            "answer_choice": "A",
        },
        {
            "id": "test/task2/anatomical_observation/000003",
            "question": "Describe the heart.",
            "question_type": "open",
            "choices": [],
            "answer": "Normal size.",
            "answer_choice": "",
        },
    ]


@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny(tokenizer_corpus(synthetic_rows()) * 3, seed=0)
    return model, processor


def with_images(rows: list[dict], config: M3DRadConfig, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    shape = (config.vision_config.in_channels, *config.vision_config.image_size)
    return [{**r, "pixel_values": torch.rand(shape, generator=gen)} for r in rows]


# --- prompts ------------------------------------------------------------------------------------------------------


def test_prompts_follow_the_3drad_format():
    closed, open_, temporal, _ = synthetic_rows()
    assert question_prompt(closed) == "Is there a lung nodule in this image?\nChoices: A. Yes B. No\nAnswer:"
    assert target_text(closed) == "B. No"
    assert question_prompt(open_) == "What is the diameter of the largest nodule?\nAnswer:"
    assert "Choices" not in question_prompt(open_)
    assert target_text(open_) == "About 6 mm, in the right upper lobe."
    assert question_prompt(temporal).endswith(f"D. {TEMPORAL_OPTIONS[3]}\nAnswer:")
    assert target_text(temporal) == f"A. {TEMPORAL_OPTIONS[0]}"


def test_prompt_errors_name_the_row():
    row = dict(synthetic_rows()[0], answer_choice="C")
    with pytest.raises(ValueError, match="lung_nodule/000000.*'C'"):
        target_text(row)
    with pytest.raises(KeyError, match="000001.*question_type"):
        question_prompt({k: v for k, v in synthetic_rows()[1].items() if k != "question_type"})


# --- processor ----------------------------------------------------------------------------------------------------


def test_training_encoding_masks_prompt_and_padding_and_keeps_eos(tiny):
    _, processor = tiny
    rows = synthetic_rows()
    batch = processor(rows, with_target=True)
    tok = processor.tokenizer
    for i, row in enumerate(rows):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        n = int(mask.sum())
        assert bool(mask[:n].all()) and not bool(mask[n:].any())  # right padding
        assert ids[0] == tok.bos_token_id
        assert int((ids == processor.image_token_id).sum()) == processor.num_image_tokens
        prompt_len = len(tok(processor.prompt_text(row))["input_ids"])
        assert bool((labels[:prompt_len] == -100).all()) and bool((labels[n:] == -100).all())
        assert labels[n - 1] == tok.eos_token_id
        assert tok.decode(labels[prompt_len : n - 1]).strip() == target_text(row)


def test_generation_encoding_is_left_padded_prompt_only(tiny):
    _, processor = tiny
    rows = synthetic_rows()
    batch = processor(rows)
    assert "labels" not in batch
    lengths = batch["attention_mask"].sum(1)
    for i, row in enumerate(rows):
        width = batch["input_ids"].shape[1]
        assert not bool(batch["attention_mask"][i, : width - int(lengths[i])].any())
        assert batch["input_ids"][i, -1] == processor.tokenizer(processor.prompt_text(row))["input_ids"][-1]


def test_processor_rejects_overlong_prompts_and_counts_truncation(tiny):
    _, processor = tiny
    row = synthetic_rows()[1]
    prompt_len = len(processor.tokenizer(processor.prompt_text(row))["input_ids"])
    short = M3DRadProcessor(processor.tokenizer, num_image_tokens=processor.num_image_tokens, max_length=prompt_len)
    with pytest.raises(ValueError, match=f"000001.*max_length is {prompt_len}"):
        short.encode(row, with_target=False)
    cut = M3DRadProcessor(processor.tokenizer, num_image_tokens=processor.num_image_tokens, max_length=prompt_len + 2)
    encoded = cut.encode(row, with_target=True)
    assert len(encoded["input_ids"]) == prompt_len + 2 and cut.truncated_ids == [row["id"]]


def test_processor_save_and_load(tiny, tmp_path):
    _, processor = tiny
    processor.save_pretrained(tmp_path)
    again = M3DRadProcessor.from_pretrained(tmp_path)
    assert again.num_image_tokens == processor.num_image_tokens and again.max_length == processor.max_length
    assert torch.equal(again(synthetic_rows())["input_ids"], processor(synthetic_rows())["input_ids"])


def test_collator_requires_an_image(tiny):
    _, processor = tiny
    with pytest.raises(ValueError, match="lung_nodule/000000.*pixel_values"):
        M3DRadCollator(processor)(synthetic_rows()[:1])


# --- model --------------------------------------------------------------------------------------------------------


def test_forward_backward_reaches_every_part(tiny):
    model, processor = tiny
    model.train()
    model.zero_grad()
    batch = M3DRadCollator(processor)(with_images(synthetic_rows(), model.config))
    out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for name in (
        "vision_tower.patch_embedding.patch_embeddings.1.weight",
        "vision_tower.cls_token",
        "mm_projector.projector.0.weight",
        "language_model.model.layers.0.self_attn.q_proj.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []  # nothing unused: DistributedDataParallel would otherwise need find_unused_parameters
    model.zero_grad()


def test_bfloat16_model_answers_on_cpu(tiny):
    """predict.py --dtype bfloat16 without a GPU: every op of the image path must exist for bf16 on CPU."""
    model, processor = tiny
    half = M3DRadForCausalLM(model.config).to(torch.bfloat16).eval()
    batch = M3DRadCollator(processor, with_target=False)(with_images(synthetic_rows()[:2], model.config))
    with torch.no_grad():
        features = half.get_image_features(batch["pixel_values"])
        out = half.generate(**batch, max_new_tokens=2, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id)
    assert features.dtype == torch.bfloat16 and out.shape[0] == 2


def test_image_features_land_on_image_token_positions(tiny):
    model, processor = tiny
    model.eval()
    rows = with_images(synthetic_rows()[:2], model.config)
    batch = M3DRadCollator(processor, with_target=False)(rows)
    ids = batch["input_ids"]
    embeds = model.get_input_embeddings()(ids)
    with torch.no_grad():
        features = model.get_image_features(batch["pixel_values"])
        merged = model.merge_image_features(ids, embeds, features)
    for i in range(len(rows)):
        positions = (ids[i] == processor.image_token_id).nonzero().flatten()
        assert torch.equal(merged[i, positions], features[i])
        others = ids[i] != processor.image_token_id
        assert torch.equal(merged[i, others], embeds[i, others])


def test_image_token_count_mismatch_is_an_error(tiny):
    model, processor = tiny
    batch = M3DRadCollator(processor, with_target=False)(with_images(synthetic_rows()[:1], model.config))
    batch["input_ids"][0, -1] = processor.image_token_id
    with pytest.raises(ValueError, match=f"exactly {model.config.num_image_tokens} image tokens"):
        model(**batch)
    with pytest.raises(ValueError, match="pixel_values must have shape"):
        model.get_image_features(torch.zeros(1, 1, 8, 8, 8))


def test_padded_batched_generation_equals_one_by_one(tiny):
    model, processor = tiny
    model.eval()
    rows = with_images(synthetic_rows(), model.config, seed=3)
    collate = M3DRadCollator(processor, with_target=False)
    batch = collate(rows)
    assert len(set(batch["attention_mask"].sum(1).tolist())) > 1  # the batch really is padded
    new = 6
    with torch.no_grad():
        together = model.generate(
            **batch, max_new_tokens=new, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id
        )[:, -new:]
        for i, row in enumerate(rows):
            alone = model.generate(
                **collate([row]), max_new_tokens=new, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id
            )[:, -new:]
            # Once a row ends (EOS), the batch pads it; compare up to and including the EOS.
            expected = alone[0].tolist()
            got = together[i].tolist()
            end = (
                expected.index(processor.tokenizer.eos_token_id) + 1
                if processor.tokenizer.eos_token_id in expected
                else new
            )
            assert got[:end] == expected[:end], (i, got, expected)
    # Different images give different logits: the image really conditions the text.
    with torch.no_grad():
        one = collate(rows[:1])
        logits_a = model(**one).logits[0, -1]
        one["pixel_values"] = one["pixel_values"].flip(-1)
        logits_b = model(**one).logits[0, -1]
    assert not torch.allclose(logits_a, logits_b)


def test_save_and_reload_through_auto_classes(tiny, tmp_path):
    model, processor = tiny
    model.eval()
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, M3DRadConfig) and config.num_image_tokens == processor.num_image_tokens
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(again, M3DRadForCausalLM)
    before, after = model.state_dict(), again.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    batch = M3DRadCollator(processor, with_target=False)(with_images(synthetic_rows()[:2], model.config))
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, again(**batch).logits, atol=1e-6)


# --- released checkpoint key map ----------------------------------------------------------------------------------


def lamed_state_dict(model: M3DRadForCausalLM) -> dict[str, torch.Tensor]:
    """The model's tensors under M3D-LaMed's key names, plus its segmentation module and an old rotary buffer."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("vision_tower."):
            old = "model.vision_tower.vision_tower." + key[len("vision_tower.") :]
        elif key.startswith("mm_projector."):
            old = "model." + key
        elif key.startswith("language_model.model."):
            old = key[len("language_model.") :]
        else:
            old = key[len("language_model.") :]
        state[old] = value.clone() + 1.0 if value.is_floating_point() else value.clone()
    state["model.seg_projector.0.weight"] = torch.zeros(4, 4)
    state["model.seg_module.image_encoder.blocks.0.attn.qkv.weight"] = torch.zeros(4, 4)
    state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.zeros(4)
    return state


def test_released_key_names_cover_the_model(tiny):
    model, _ = tiny
    names = {
        "model.vision_tower.vision_tower.cls_token": "vision_tower.cls_token",
        "model.vision_tower.vision_tower.patch_embedding.patch_embeddings.1.weight": "vision_tower.patch_embedding.patch_embeddings.1.weight",
        "model.vision_tower.vision_tower.patch_embedding.position_embeddings": "vision_tower.patch_embedding.position_embeddings",
        "model.vision_tower.vision_tower.blocks.3.attn.qkv.weight": "vision_tower.blocks.3.attn.qkv.weight",
        "model.vision_tower.vision_tower.norm.bias": "vision_tower.norm.bias",
        "model.mm_projector.projector.2.weight": "mm_projector.projector.2.weight",
        "model.embed_tokens.weight": "language_model.model.embed_tokens.weight",
        "model.layers.0.mlp.down_proj.weight": "language_model.model.layers.0.mlp.down_proj.weight",
        "lm_head.weight": "language_model.lm_head.weight",
    }
    for old, new in names.items():
        assert map_lamed_key(old) == new
    assert map_lamed_key("model.seg_module.mask_decoder.x") is None
    with pytest.raises(KeyError, match="not a M3D-LaMed key"):
        map_lamed_key("vision_tower.blocks.0.norm1.weight")
    ours = set(model.state_dict())
    assert {k for k in ours if not k.startswith(("vision_tower.", "mm_projector.", "language_model."))} == set()


def test_synthetic_released_state_dict_loads_with_nothing_missing(tiny, caplog):
    model, _ = tiny
    fresh = M3DRadForCausalLM(model.config)
    state = lamed_state_dict(model)
    with caplog.at_level(logging.INFO, logger="rad3d_hf.models.m3d_rad.checkpoint_keys"):
        report = load_lamed_state_dict(fresh, state)
    assert report.unused == ["model.seg_projector.0.weight", "model.seg_module.image_encoder.blocks.0.attn.qkv.weight"]
    assert "model.seg_projector.0.weight" in caplog.text and "model.seg_module.image_encoder" in caplog.text
    assert report.recomputed == ["model.layers.0.self_attn.rotary_emb.inv_freq"]
    assert report.expected_missing == []
    ours = fresh.state_dict()
    assert torch.equal(ours["vision_tower.cls_token"], model.state_dict()["vision_tower.cls_token"] + 1.0)
    assert torch.equal(ours["language_model.lm_head.weight"], model.state_dict()["language_model.lm_head.weight"] + 1)
    state.pop("model.mm_projector.projector.0.bias")
    with pytest.raises(ValueError, match=r"missing \['mm_projector.projector.0.bias'\]"):
        load_lamed_state_dict(M3DRadForCausalLM(model.config), state)


def test_monai_only_keys_are_the_documented_expected_missing(tiny):
    """A ViT built as MONAI does (head and cross-attention norms kept) misses exactly the two documented families."""
    from monai.networks.nets import ViT

    vision = tiny[0].config.vision_config
    full = ViT(
        in_channels=1,
        img_size=tuple(vision.image_size),
        patch_size=tuple(vision.patch_size),
        hidden_size=vision.hidden_size,
        mlp_dim=vision.intermediate_size,
        num_layers=vision.num_hidden_layers,
        num_heads=vision.num_attention_heads,
        proj_type="perceptron",
        classification=True,
        qkv_bias=False,
        spatial_dims=3,
    )
    ours = set(tiny[0].vision_tower.state_dict())
    extra = sorted(set(full.state_dict()) - ours)
    assert extra and all(
        re.fullmatch(
            r"blocks\.\d+\.norm_cross_attn\.(weight|bias)|classification_head\.0\."
            r"(weight|bias)",
            k,
        )
        for k in extra
    )
    assert ours <= set(full.state_dict())


def test_lamed_checkpoint_folder_round_trip(tiny, tmp_path):
    """config.json + tokenizer + safetensors in M3D-LaMed's layout -> the same model."""
    import json

    from safetensors.torch import save_file

    model, processor = tiny
    text = model.config.text_config.to_dict()
    text.update(
        model_type="lamed_llama",
        image_channel=1,
        image_size=list(model.config.vision_config.image_size),
        patch_size=list(model.config.vision_config.patch_size),
        vision_tower="vit3d",
        mm_projector_type="spp",
        proj_layer_type="mlp",
        proj_layer_num=2,
        proj_pooling_type="spatial",
        proj_pooling_size=2,
        mm_hidden_size=768,
        vision_select_layer=-1,
        vision_select_feature="patch",
        segmentation_module="segvol",
    )
    (tmp_path / "config.json").write_text(json.dumps(text))
    processor.tokenizer.save_pretrained(tmp_path)
    save_file({k: v.contiguous() for k, v in lamed_state_dict(model).items()}, str(tmp_path / "model.safetensors"))
    config = config_from_lamed(text, image_token_id=processor.image_token_id)
    assert config.text_config.model_type == "llama" and config.vision_config.hidden_size == 768
    with pytest.raises(ValueError, match="proj_pooling_type='sequence'"):
        config_from_lamed(dict(text, proj_pooling_type="sequence"), image_token_id=1)
    with pytest.raises(ValueError, match="does not fit the model"):
        from_lamed_checkpoint(tmp_path)  # M3D's 768-wide tower against the tiny 32-wide weights
    text["mm_hidden_size"] = model.config.vision_config.hidden_size
    (tmp_path / "config.json").write_text(json.dumps(text))
    tiny_vit = {
        k: getattr(model.config.vision_config, k)
        for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    }
    loaded, tokenizer, report = from_lamed_checkpoint(tmp_path, vision=tiny_vit)
    assert sorted(report.unused) == [
        "model.seg_module.image_encoder.blocks.0.attn.qkv.weight",
        "model.seg_projector.0.weight",
    ]
    assert len(tokenizer) == len(processor.tokenizer)
    expected = {k: v + 1.0 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert all(torch.equal(loaded.state_dict()[k], expected[k]) for k in expected)


# --- LoRA recipe --------------------------------------------------------------------------------------------------


def test_lora_wraps_every_language_model_linear_and_trains_the_rest_fully(tiny):
    model, processor = tiny
    fresh = M3DRadForCausalLM(model.config)
    targets = language_model_linear_names(fresh)
    assert len(targets) == fresh.config.text_config.num_hidden_layers * 7  # q k v o gate up down
    assert "language_model.lm_head" not in targets and not any("vision_tower" in t for t in targets)
    peft_model = apply_lora(fresh)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    lora = {n.split(".lora_")[0].replace("base_model.model.", "") for n in trainable if ".lora_" in n}
    assert lora == set(targets)
    full = [n for n in trainable if ".lora_" not in n]
    for part in FULLY_TRAINED:
        assert any(f".{part}.modules_to_save." in n or f".{part}.modules_to_save" in n for n in full), part
    # Every parameter of the fully trained parts is trainable; nothing else outside LoRA is.
    for name, param in peft_model.named_parameters():
        if "modules_to_save" in name:
            assert param.requires_grad, name
        elif ".lora_" not in name:
            assert not param.requires_grad, name
    assert peft_model.peft_config["default"].r == 16 and peft_model.peft_config["default"].lora_alpha == 32
    batch = M3DRadCollator(processor)(with_images(synthetic_rows(), fresh.config))
    peft_model(**batch).loss.backward()
    merged = peft_model.merge_and_unload()
    assert isinstance(merged, M3DRadForCausalLM) and set(merged.state_dict()) == set(model.state_dict())


def test_image_token_is_in_the_tokenizer(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    for token in ("<im_patch>", "<bx_start>", "<bx_end>", "[SEG]"):
        assert token in tok.get_vocab()
    ids = tok(IMAGE_TOKEN * 3 + " Is it?")["input_ids"]
    assert ids[1:4] == [processor.image_token_id] * 3


# --- configs and presets ------------------------------------------------------------------------------------------


def test_released_presets_have_m3d_geometry():
    from rad3d_hf.models.m3d_rad.presets import llama2_7b_config, phi3_4b_config

    for config, width in ((phi3_4b_config(), 3072), (llama2_7b_config(), 4096)):
        vision = config.vision_config
        assert (vision.image_size, vision.patch_size, vision.patch_grid) == ([32, 256, 256], [4, 16, 16], (8, 16, 16))
        assert (vision.hidden_size, vision.intermediate_size, vision.num_hidden_layers) == (768, 3072, 12)
        assert vision.num_attention_heads == 12 and not vision.qkv_bias
        assert config.image_token_grid == (4, 8, 8) and config.num_image_tokens == 256
        assert config.text_config.hidden_size == width and config.text_config.num_hidden_layers == 32
    assert phi3_4b_config().text_config.model_type == "phi3"
    assert llama2_7b_config().text_config.model_type == "llama"


def test_vision_config_rejects_inconsistent_geometry():
    from rad3d_hf.models.m3d_rad import M3DRadVisionConfig

    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        M3DRadVisionConfig(image_size=[30, 256, 256])
    with pytest.raises(ValueError, match="3 entries"):
        M3DRadVisionConfig(image_size=[256, 256], patch_size=[16, 16])
    with pytest.raises(ValueError, match="not a multiple of pooling_size"):
        M3DRadConfig(vision_config={"image_size": [12, 256, 256], "patch_size": [4, 16, 16]})


@pytest.mark.real_data
def test_every_published_test_question_gets_a_prompt_and_target(real_tables):
    """Prompts and targets for all 33,910 published test questions; closed targets name the row's answer."""
    from rad3d_hf.data.rows import read_rows

    count = 0
    for row in read_rows(str(real_tables), "test"):
        prompt, target = question_prompt(row), target_text(row)
        assert prompt.endswith("\nAnswer:")
        if row["question_type"] == "closed":
            letter, option = target.split(". ", 1)
            assert letter == row["answer_choice"] and option == row["answer"], row["id"]
            assert f"{letter}. {option}" in prompt
        else:
            assert "Choices:" not in prompt and target == row["answer"].strip()
        count += 1
    assert count == 33910
