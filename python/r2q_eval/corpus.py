"""Debian's fortunes as an evaluation corpus, with a fixed split.

Text: every plain fortune file under /usr/share/games/fortunes (package
``fortunes``), in sorted file-name order, except ``ascii-art`` (drawings,
not English text) and the index files (``.dat``, ``.u8`` links). Each file is
cleaned: overstrikes (``char BACKSPACE char``) are resolved as a printer
would show them (an underscore only underlines), fortunes
(separated by lines holding only ``%``) are stripped and joined by a blank
line; files are joined by a blank line.

Split: the concatenated text is tokenized once and cut into consecutive,
non-overlapping windows of ``WINDOW`` (256) tokens; the tail shorter than a
window is dropped. Window ``i`` belongs to the evaluation pool when
``i % POOL_STRIDE == 0`` (every 8th window, spread over all files) and to the
training/calibration pool otherwise: the two pools are disjoint for any
request. ``eval_windows(n)`` takes ``n`` windows evenly spaced over the
evaluation pool (pool index ``floor(j * len(pool) / n)``); ``train_windows(n)``
does the same over the training pool.
"""

from __future__ import annotations

import os
import re

import numpy as np

FORTUNES_DIR = "/usr/share/games/fortunes"
EXCLUDED_FILES = ("ascii-art",)
WINDOW = 256
POOL_STRIDE = 8

SEPARATOR = re.compile(r"^%\s*$", re.MULTILINE)


def fortune_files(directory: str = FORTUNES_DIR) -> list[str]:
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{directory} is missing: install Debian's 'fortunes' package "
            "(scripts/install-eval-deps.sh)"
        )
    names = sorted(
        name
        for name in os.listdir(directory)
        if "." not in name and name not in EXCLUDED_FILES
    )
    return [os.path.join(directory, name) for name in names]


def overstrike_line(line: str) -> str:
    """What a printer shows for one line with backspaces.

    A backspace moves back one cell; a character typed over another replaces
    it, except an underscore, which only underlines (the letter is kept).
    """
    cells: list[str] = []
    cursor = 0
    for char in line:
        if char == "\x08":
            cursor = max(cursor - 1, 0)
            continue
        if cursor == len(cells):
            cells.append(char)
        elif char != "_":
            cells[cursor] = char
        cursor += 1
    return "".join(cells)


def drop_overstrikes(text: str) -> str:
    if "\x08" not in text:
        return text
    return "\n".join(overstrike_line(line) for line in text.split("\n"))


def clean_fortunes(raw: str) -> str:
    """One file's text without overstrikes and '%' separators."""
    text = drop_overstrikes(raw)
    fortunes = (part.strip() for part in SEPARATOR.split(text))
    return "\n\n".join(f for f in fortunes if f)


def corpus_text(directory: str = FORTUNES_DIR) -> str:
    parts = []
    for path in fortune_files(directory):
        with open(path, encoding="utf-8", errors="replace") as f:
            parts.append(clean_fortunes(f.read()))
    return "\n\n".join(p for p in parts if p)


def split_windows(ids, window: int = WINDOW) -> np.ndarray:
    """Consecutive non-overlapping windows (count x window, int64)."""
    count = len(ids) // window
    return np.asarray(ids[: count * window], dtype=np.int64).reshape(count, window)


def evenly_spaced(pool: np.ndarray, n: int) -> np.ndarray:
    if n > len(pool):
        raise ValueError(f"asked for {n} windows, the pool has {len(pool)}")
    return pool[(np.arange(n) * len(pool)) // n]


class Corpus:
    """The tokenized fortunes and their evaluation/training pools."""

    def __init__(self, tokenizer, directory: str = FORTUNES_DIR, window: int = WINDOW):
        self.windows = split_windows(tokenizer.encode(corpus_text(directory)), window)
        index = np.arange(len(self.windows))
        self.eval_pool = index[index % POOL_STRIDE == 0]
        self.train_pool = index[index % POOL_STRIDE != 0]

    def eval_indices(self, n: int) -> np.ndarray:
        return evenly_spaced(self.eval_pool, n)

    def train_indices(self, n: int) -> np.ndarray:
        return evenly_spaced(self.train_pool, n)

    def eval_windows(self, n: int) -> np.ndarray:
        return self.windows[self.eval_indices(n)]

    def train_windows(self, n: int) -> np.ndarray:
        return self.windows[self.train_indices(n)]
