# The tokenizer built from the GGUF metadata: ids of the chat markers and of
# digits (the "smollm" pre-tokenizer splits every digit), the vocabulary as
# the GGUF lists it, and exact round trips of odd text and of the corpus.
# RUN: %eval_python %s | FileCheck %s
# CHECK: tokenizer: ids passed
# CHECK-NEXT: tokenizer: round trip passed

from r2q_eval import gguf_model, tokenizer

reader = gguf_model.open_reader()
tok = tokenizer.TextTokenizer(reader)
tokens = tokenizer.string_array(reader, "tokenizer.ggml.tokens")

# ChatML markers are single control tokens; "user" and the newline (byte-level
# "Ċ") are the ids the vocabulary gives them.
assert (tok.bos_id, tok.eos_id) == (1, 2)
ids = tok.encode("<|im_start|>user\nHi<|im_end|>")
assert ids[0] == tokens.index("<|im_start|>") == 1 and ids[-1] == tokens.index("<|im_end|>") == 2, ids
assert ids[1:3] == [tokens.index("user"), tokens.index("Ċ")] == [4093, 198], ids
assert tok.encode("Hello") == [tokens.index("Hello")]
assert tok.encode(" world") == [tokens.index("Ġworld")]
# Digits one by one, even where the vocabulary has a multi-digit token.
assert tok.encode("2026") == [tokens.index(d) for d in "2026"], tok.encode("2026")
# Every id decodes to the vocabulary's string (byte-level symbols mapped back).
for i in (0, 1, 2, 100, 4093, 19556, 49151):
    assert tok.tokenizer.id_to_token(i) == tokens[i]
print("tokenizer: ids passed")

samples = [
    "Hello, world! 12345 can't won't",
    "  two  spaces\n\n\ttab, trailing space ",
    "é ü ñ 漢字 — “quotes” \u00a0nbsp",
    "<|im_start|>assistant\nSure.<|im_end|>\n",
    "",
]
from r2q_eval import corpus  # noqa: E402

if __import__("os").path.isdir(corpus.FORTUNES_DIR):
    samples.append(corpus.corpus_text()[:200000])
for text in samples:
    assert tok.decode(tok.encode(text)) == text, repr(text[:80])
print("tokenizer: round trip passed")
