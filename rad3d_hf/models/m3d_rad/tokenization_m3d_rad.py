"""Tokenizer set-up for M3D-RAD: the four tokens M3D-LaMed added, and a small BPE tokenizer for the tiny preset.

M3D-LaMed adds ``<im_patch>`` (one per image token), ``<bx_start>``/``<bx_end>`` (box delimiters) and ``[SEG]``
(segmentation trigger) to its language model's tokenizer. VQA uses only ``<im_patch>``; the others are kept so token
ids line up with the released checkpoints' embedding rows.
"""

from __future__ import annotations

from collections.abc import Iterable

IMAGE_TOKEN = "<im_patch>"
SPECIAL_TOKENS: tuple[str, ...] = (IMAGE_TOKEN, "<bx_start>", "<bx_end>", "[SEG]")


def ensure_special_tokens(tokenizer) -> int:
    """Add any of :data:`SPECIAL_TOKENS` the tokenizer lacks and give it a pad token; returns how many were added.

    Resize the model's embeddings to ``len(tokenizer)`` when the result is not 0. Llama-style tokenizers have no pad
    token; as in M3D-LaMed, the unknown token (or else the end-of-sequence token) serves, and labels mask it anyway.
    """
    vocab = tokenizer.get_vocab()
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    added = tokenizer.add_special_tokens({"additional_special_tokens": missing}) if missing else 0
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token if tokenizer.unk_token is not None else tokenizer.eos_token
    return added


def train_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = 600):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``, with BOS/EOS/PAD/UNK and the M3D tokens.

    Deterministic for the same texts. Byte-level, so any text encodes and decodes back exactly, which keeps
    predictions scoreable (a word-level vocabulary would turn ``"B. No"`` into ``"B . No"``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    base_specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*base_specials, *SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=list(SPECIAL_TOKENS),
    )
    return tokenizer


__all__ = ["IMAGE_TOKEN", "SPECIAL_TOKENS", "ensure_special_tokens", "train_bpe_tokenizer"]
