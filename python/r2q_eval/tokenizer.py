"""The model's tokenizer, built from the GGUF metadata with ``tokenizers``.

``tokenizer.ggml.model`` is ``gpt2``: byte-level BPE with the vocabulary in
``tokenizer.ggml.tokens`` (id = position) and the merges in
``tokenizer.ggml.merges``. The pre-tokenizer ``smollm`` splits every digit on
its own, then applies GPT-2's regex (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM,
the same as the Hugging Face tokenizer.json of SmolLM2). Tokens of type
CONTROL (``<|im_start|>``, ...) are special tokens matched before BPE.
"""

from __future__ import annotations

from . import gguf_model

CONTROL_TOKEN_TYPE = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL


def string_array(reader, key: str) -> list[str]:
    return list(gguf_model.field_value(reader, key))


def build_tokenizer(reader):
    """A `tokenizers.Tokenizer` equal to the one the GGUF describes."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    model_kind = gguf_model.field_value(reader, "tokenizer.ggml.model")
    pre = gguf_model.field_value(reader, "tokenizer.ggml.pre")
    if model_kind != "gpt2" or pre != "smollm":
        raise ValueError(f"unsupported tokenizer '{model_kind}' / pre '{pre}'")
    tokens = string_array(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in string_array(reader, "tokenizer.ggml.merges")]
    types = list(gguf_model.field_value(reader, "tokenizer.ggml.token_type"))
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("GGUF vocabulary has duplicate tokens")

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    specials = [tokens[i] for i, kind in enumerate(types) if kind == CONTROL_TOKEN_TYPE]
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


class TextTokenizer:
    """Encode/decode plus the GGUF's special ids and chat template."""

    def __init__(self, reader):
        self.tokenizer = build_tokenizer(reader)
        self.bos_id = int(gguf_model.field_value(reader, "tokenizer.ggml.bos_token_id"))
        self.eos_id = int(gguf_model.field_value(reader, "tokenizer.ggml.eos_token_id"))
        self.chat_template = gguf_model.field_value(reader, "tokenizer.chat_template")

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def chat_prompt(self, user_message: str) -> str:
        """The GGUF's chat template (jinja2) for one user turn, ready to answer."""
        import jinja2

        template = jinja2.Environment().from_string(self.chat_template)
        return template.render(
            messages=[{"role": "user", "content": user_message}],
            add_generation_prompt=True,
        )
