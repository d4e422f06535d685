"""Kim's string cleaning, the vocabulary, and his padding of token ids.

``clean_str`` / ``clean_str_sst`` are the functions of Kim's ``process_data.py`` (CNN_sentence): every character
outside ``[A-Za-z0-9(),!?'`]`` becomes a space (so accents, emoji and any non-ASCII byte vanish), English clitics
('s 've n't 're 'd 'll) and , ! ( ) ? are split off, and the text is lower-cased (except TREC, whose capitalisation
carries question words). Tokens are then the space-separated words.

Padding (Kim's ``get_idx_from_sent``): ``max(filter_sizes) - 1`` zeros on the left, the sentence, and zeros up to
``max_len + 2 * (max(filter_sizes) - 1)``, where ``max_len`` is the longest training sentence. Every word then sits
in every position of every filter (a "wide" convolution), and even a one-word sentence is longer than the largest
window. Id 0 is the padding; a word outside the vocabulary is dropped, as in Kim's code (there is no <unk>).
"""

from __future__ import annotations

import collections
import json
import os
import re
from typing import Iterable, Sequence

import numpy as np

PAD = "<pad>"

_NOT_KEPT = re.compile(r"[^A-Za-z0-9(),!?\'\`]")
_SPACES = re.compile(r"\s{2,}")
_SPLITS = [(re.compile(r"\'s"), " 's"), (re.compile(r"\'ve"), " 've"), (re.compile(r"n\'t"), " n't"),
           (re.compile(r"\'re"), " 're"), (re.compile(r"\'d"), " 'd"), (re.compile(r"\'ll"), " 'll"),
           (re.compile(r","), " , "), (re.compile(r"!"), " ! "),
           # Kim writes the replacements as " \( ", " \) ", " \? ", which Python keeps with the backslash
           # ("\(" is no escape), so his tokens are "\(" "\)" "\?". We emit "(" ")" "?": same token boundaries,
           # and the plain characters are what word-vector files contain.
           (re.compile(r"\("), " ( "), (re.compile(r"\)"), " ) "), (re.compile(r"\?"), " ? ")]


class TextError(ValueError):
    """Text that cannot be classified (empty, no known word, not UTF-8)."""


def clean_str(string: str, lower: bool = True) -> str:
    """Kim's cleaning for every dataset but SST (``lower=False`` is his ``TREC=True``)."""
    string = _NOT_KEPT.sub(" ", string)
    for pattern, repl in _SPLITS:
        string = pattern.sub(repl, string)
    string = _SPACES.sub(" ", string)
    return string.strip().lower() if lower else string.strip()


def clean_str_sst(string: str) -> str:
    """Kim's cleaning for SST (its text is tokenized already)."""
    string = _NOT_KEPT.sub(" ", string)
    string = _SPACES.sub(" ", string)
    return string.strip().lower()


CLEANERS = {"kim": clean_str, "kim_cased": lambda s: clean_str(s, lower=False), "sst": clean_str_sst}


def tokenize(text: str, cleaner: str = "kim") -> list[str]:
    return CLEANERS[cleaner](text).split()


def as_text(value: str | bytes, what: str = "text") -> str:
    """``value`` as a str; bytes must be UTF-8. Strings holding lone surrogates (what Python makes of undecodable
    command-line bytes) are rejected with the offending byte rather than silently dropped."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TextError(f"{what} is not valid UTF-8: byte {value[e.start]:#04x} at position {e.start} "
                            f"(decode it yourself, e.g. .decode('latin-1'), if it is in another encoding)") from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = value[e.start]
        code = ord(bad) - 0xDC00 if 0xDC80 <= ord(bad) <= 0xDCFF else ord(bad)
        raise TextError(f"{what} is not valid UTF-8: byte {code:#04x} at position {e.start}") from None
    return value


def read_text_file(path: str) -> str:
    """A dataset file's text: UTF-8, or Latin-1 when it is not valid UTF-8 (MR's and TREC's files are Windows-1252
    / Latin-1). Kim's cleaning removes every non-ASCII character either way, so the tokens are the same."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Vocab:
    """Words <-> ids. Id 0 is the padding; words are ordered by decreasing count, ties alphabetically."""

    def __init__(self, words: Sequence[str]):
        if not words or words[0] != PAD:
            words = [PAD, *words]
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("vocabulary has duplicate words")

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> "Vocab":
        counts = collections.Counter(t for tokens in token_lists for t in tokens)
        counts.pop(PAD, None)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, *words])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of the known tokens (unknown ones are dropped, as in Kim's code)."""
        return [self.index[t] for t in tokens if t in self.index and t != PAD]

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.words, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> "Vocab":
        if not os.path.exists(path):
            raise FileNotFoundError(f"no vocabulary at {path}")
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))


def padded_length(max_len: int, filter_sizes: Sequence[int]) -> int:
    """Kim's padded length: the longest sentence plus ``max(filter_sizes) - 1`` zeros on each side."""
    return max(1, max_len) + 2 * (max(filter_sizes) - 1)


def pad_ids(ids: Sequence[int], max_len: int, filter_sizes: Sequence[int]) -> np.ndarray:
    """One sentence's ids, padded as Kim's ``get_idx_from_sent`` (sentences longer than ``max_len`` are cut)."""
    pad = max(filter_sizes) - 1
    out = np.zeros(padded_length(max_len, filter_sizes), np.int32)
    ids = list(ids)[:max(1, max_len)]
    out[pad:pad + len(ids)] = ids
    return out


def encode(texts: Sequence[Sequence[str]], vocab: Vocab, max_len: int, filter_sizes: Sequence[int]) -> np.ndarray:
    """Token lists -> int32 [N, padded_length] ids."""
    out = np.zeros((len(texts), padded_length(max_len, filter_sizes)), np.int32)
    for i, tokens in enumerate(texts):
        out[i] = pad_ids(vocab.ids(tokens), max_len, filter_sizes)
    return out
