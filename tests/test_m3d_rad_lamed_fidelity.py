"""Released M3D-LaMed checkpoints compute what M3D's code computes: a tiny Phi-3 checkpoint folder in the released
layout (sentencepiece tokenizer.model only, no BOS, generation_config.json with <|end|>, torch_dtype bfloat16)."""

from __future__ import annotations

import io
import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("monai")
spm = pytest.importorskip("sentencepiece")

from rad3d_hf.models.m3d_rad import M3DRadConfig, M3DRadForCausalLM  # noqa: E402
from rad3d_hf.models.m3d_rad.checkpoint_keys import from_lamed_checkpoint, load_lamed_tokenizer  # noqa: E402
from rad3d_hf.models.m3d_rad.inference import generate_answers, stop_token_ids  # noqa: E402
from rad3d_hf.models.m3d_rad.presets import TINY_VISION  # noqa: E402
from rad3d_hf.models.m3d_rad.processing_m3d_rad import M3DRadProcessor  # noqa: E402
from rad3d_hf.models.m3d_rad.tokenization_m3d_rad import SPECIAL_TOKENS  # noqa: E402
from tests.scoring_data import make_row  # noqa: E402

PHI3_SPECIALS = ["<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>"]
CORPUS = ["Is there a lung nodule in the CT scan?", "Yes, a nodule is present.", "No. There is no effusion."] * 30


def _sentencepiece_model() -> bytes:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=out,
        vocab_size=80,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        user_defined_symbols=[*PHI3_SPECIALS, *SPECIAL_TOKENS],
        minloglevel=2,
    )
    return out.getvalue()


def _lamed_keys(model: M3DRadForCausalLM) -> dict:
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("vision_tower."):
            key = "model.vision_tower.vision_tower." + key[len("vision_tower.") :]
        elif key.startswith("mm_projector."):
            key = "model." + key
        else:
            key = key[len("language_model.") :]
        state[key] = value.detach().clone().contiguous()
    return state


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A folder as the released M3D-LaMed-Phi-3-4B is laid out, tiny and random; and the model it was made from."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("lamed_phi3")
    (folder / "tokenizer.model").write_bytes(_sentencepiece_model())
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "add_bos_token": False,  # as Phi-3's tokenizer is configured now
                "add_eos_token": False,
                "bos_token": "<s>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<unk>",
                "pad_token": "<|endoftext|>",
            }
        )
    )
    tokenizer = load_lamed_tokenizer(folder)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in [*PHI3_SPECIALS, *SPECIAL_TOKENS]}
    text = {
        "model_type": "phi3",
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 512,
        "pad_token_id": ids["<|endoftext|>"],
        "bos_token_id": 1,
        "eos_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }
    torch.manual_seed(0)
    source = M3DRadForCausalLM(
        # M3D reads its input as given: no standardisation, unlike the tiny preset
        M3DRadConfig(
            vision_config={**TINY_VISION, "pixel_mean": 0.0, "pixel_std": 1.0},
            text_config=dict(text),
            image_token_id=ids["<im_patch>"],
        )
    ).eval()
    config = dict(
        text,
        model_type="lamed_phi3",
        torch_dtype="bfloat16",
        image_channel=1,
        image_size=TINY_VISION["image_size"],
        patch_size=TINY_VISION["patch_size"],
        vision_tower="vit3d",
        mm_projector_type="spp",
        proj_layer_type="mlp",
        proj_layer_num=2,
        proj_pooling_type="spatial",
        proj_pooling_size=2,
        mm_hidden_size=TINY_VISION["hidden_size"],
        vision_select_layer=-1,
        vision_select_feature="patch",
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "generation_config.json").write_text(
        json.dumps({"eos_token_id": [ids["<|end|>"], ids["<|endoftext|>"]], "pad_token_id": ids["<|endoftext|>"]})
    )
    save_file(_lamed_keys(source), str(folder / "model.safetensors"))
    vision = {
        k: TINY_VISION[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    }
    return folder, source, ids, vision


def test_a_tokenizer_model_only_folder_loads(released):
    folder, _, ids, vision = released
    model, tokenizer, _ = from_lamed_checkpoint(folder, vision=vision)
    assert not (folder / "tokenizer.json").exists()
    encoded = tokenizer("Yes, a nodule is present.").input_ids
    assert tokenizer.decode(encoded) == "Yes, a nodule is present."
    assert encoded[0] != tokenizer.bos_token_id  # no BOS, as the released Phi-3 tokenizer
    assert tokenizer.convert_tokens_to_ids("<im_patch>") == ids["<im_patch>"] == model.config.image_token_id


def test_missing_sentencepiece_is_an_error_that_says_what_to_install(released, monkeypatch):
    folder, *_ = released
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    with pytest.raises(ImportError, match=r"sentencepiece tokenizer\.model .*pip install 'rad3d-hf\[train\]'"):
        load_lamed_tokenizer(folder)


def _m3d_reference_logits(source, input_ids, pixel_values):
    """What M3D's prepare_inputs_for_multimodal does: image features replace positions 1..N, whatever the tokens."""
    embeds = source.get_input_embeddings()(input_ids)
    features = source.get_image_features(pixel_values)
    n = features.shape[1]
    embeds = torch.cat([embeds[:, :1], features, embeds[:, n + 1 :]], dim=1)
    return source.language_model(inputs_embeds=embeds).logits


def test_image_features_go_at_positions_1_to_n_as_in_m3d(released):
    folder, source, ids, vision = released
    model, tokenizer, _ = from_lamed_checkpoint(folder, vision=vision)
    model.eval()
    assert model.config.image_placement == "after_first_token"
    assert source.config.image_placement == "image_tokens"  # models trained here keep the id-based placement
    processor = M3DRadProcessor(tokenizer, num_image_tokens=model.config.num_image_tokens, max_length=128)
    row = dict(make_row(4, "Lung nodule", 0, "A", "test_1_a_1"), question="Is there a lung nodule?")
    batch = processor([row], with_target=False)
    assert batch["input_ids"][0, 0] == ids["<im_patch>"]  # no BOS: the prompt starts with the image tokens
    pixel_values = torch.rand(1, 1, *TINY_VISION["image_size"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=pixel_values)
        reference = _m3d_reference_logits(source, batch["input_ids"], pixel_values)
        on_tokens = source(input_ids=batch["input_ids"], pixel_values=pixel_values).logits
    assert torch.allclose(ours.logits, reference, atol=1e-5)
    assert not torch.allclose(on_tokens, reference, atol=1e-3)  # the id-based placement computes something else
    # left-padded beside a longer question, the row still gets its features right after its first token
    longer = dict(row, question="Is there a lung nodule in the right upper lobe of the lung?")
    padded = processor([row, longer], with_target=False, padding_side="left")
    with torch.no_grad():
        both = model(**padded, pixel_values=pixel_values.expand(2, -1, -1, -1, -1).contiguous()).logits
    assert torch.allclose(both[0, -1], reference[0, -1], atol=1e-4)


def test_a_converted_checkpoint_records_its_placement(released, tmp_path):
    folder, _, _, vision = released
    model, _, _ = from_lamed_checkpoint(folder, vision=vision)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["image_placement"] == "after_first_token"
    assert M3DRadForCausalLM.from_pretrained(tmp_path).config.image_placement == "after_first_token"
    with pytest.raises(ValueError, match="image_placement"):
        M3DRadConfig(vision_config=dict(TINY_VISION), image_placement="somewhere")


def test_generation_stops_at_the_checkpoints_end_tokens(released):
    folder, _, ids, vision = released
    model, tokenizer, _ = from_lamed_checkpoint(folder, vision=vision)
    assert stop_token_ids(model, tokenizer) == [ids["<|end|>"], ids["<|endoftext|>"]]
    # a language model whose next token is a function of the last one: "Yes" -> <|end|> -> "No" -> ...
    lm = model.language_model
    with torch.no_grad():
        for layer in lm.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        table = lm.model.embed_tokens.weight
        yes, no = tokenizer.convert_tokens_to_ids("▁Yes"), tokenizer.convert_tokens_to_ids("▁No")
        lm.lm_head.weight.zero_()
        lm.lm_head.weight[ids["<|end|>"]] = 100 * table[yes]
        lm.lm_head.weight[no] = 100 * table[ids["<|end|>"]]
        lm.lm_head.weight[yes] = 100 * table[no]
    model.eval()
    processor = M3DRadProcessor(tokenizer, num_image_tokens=model.config.num_image_tokens, max_length=128)
    prompt = [ids["<im_patch>"]] * model.config.num_image_tokens + tokenizer("Is there a nodule? Yes").input_ids
    batch = {
        "input_ids": torch.tensor([prompt]),
        "attention_mask": torch.ones(1, len(prompt), dtype=torch.long),
        "pixel_values": torch.zeros(1, 1, *TINY_VISION["image_size"]),
    }
    stopped = model.generate(**batch, max_new_tokens=6, do_sample=False, eos_token_id=stop_token_ids(model, tokenizer))
    assert stopped[0, batch["input_ids"].shape[1] :].tolist()[0] == ids["<|end|>"]
    (answer,) = generate_answers(model, processor, batch, max_new_tokens=6)
    assert answer.replace("<|end|>", "").strip() == ""  # the answer ends where the checkpoint says
    runs_on = model.generate(**batch, max_new_tokens=6, do_sample=False, eos_token_id=ids["<|endoftext|>"])
    assert runs_on.shape[1] - batch["input_ids"].shape[1] == 6  # with the tokenizer's EOS alone it never stops
    assert "No" in tokenizer.decode(runs_on[0, batch["input_ids"].shape[1] :])


def test_torch_dtype_in_the_config_does_not_split_the_model(released):
    folder, _, _, vision = released
    model, _, _ = from_lamed_checkpoint(folder, vision=vision)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    half, _, _ = from_lamed_checkpoint(folder, vision=vision, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
