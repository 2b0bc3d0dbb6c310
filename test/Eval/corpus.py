# The fortunes corpus: cleaning (separators, overstrikes), windows of 256
# tokens, and a split whose evaluation and training slices never share a
# window, for any size asked.
# REQUIRES: fortunes
# RUN: %eval_python %s | FileCheck %s
# CHECK: corpus: cleaning passed
# CHECK-NEXT: corpus: split passed

import numpy as np

from r2q_eval import corpus, gguf_model, tokenizer

raw = "First one.\n%\n  Second\x08\x08\x08\x08\x08\x08______ one\nline two\n%\n%\nm'\x08iriel\n%\n"
assert corpus.clean_fortunes(raw) == "First one.\n\nSecond one\nline two\n\nmiriel", repr(
    corpus.clean_fortunes(raw)
)
files = [p.rsplit("/", 1)[1] for p in corpus.fortune_files()]
assert files == sorted(files) and "ascii-art" not in files and "fortunes" in files
assert not any("." in f for f in files)
text = corpus.corpus_text()
assert "\x08" not in text and "\n%\n" not in text and not text.startswith("%")
print("corpus: cleaning passed")

windows = corpus.split_windows(list(range(1000)), 256)
assert windows.shape == (3, 256) and windows[2, 255] == 767

tok = tokenizer.TextTokenizer(gguf_model.open_reader())
data = corpus.Corpus(tok)
assert data.windows.shape[1] == corpus.WINDOW and len(data.windows) > 2000
assert len(np.intersect1d(data.eval_pool, data.train_pool)) == 0
assert len(data.eval_pool) + len(data.train_pool) == len(data.windows)
for n in (1, 8, 32, 64, len(data.eval_pool)):
    evaluation, training = data.eval_indices(n), data.train_indices(4 * n)
    assert len(np.unique(evaluation)) == n and len(np.unique(training)) == 4 * n
    assert len(np.intersect1d(evaluation, training)) == 0
    # Spread over the whole corpus, not its first files.
    assert n < 8 or evaluation[-1] > 0.8 * len(data.windows)
# Fixed: the default slice starts at window 0 and is reproducible.
assert data.eval_indices(32)[0] == 0 and np.array_equal(data.eval_indices(32), data.eval_indices(32))
assert np.array_equal(data.eval_windows(32)[3], data.windows[data.eval_indices(32)[3]])
try:
    data.eval_indices(len(data.eval_pool) + 1)
    raise AssertionError("oversized evaluation slice accepted")
except ValueError:
    pass
print("corpus: split passed")
