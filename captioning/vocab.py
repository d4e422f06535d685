"""Words <-> ids for captions, and the padded token layout the model trains on.

Ids 0-3 are the special tokens (<pad> 0, <start> 1, <end> 2, <unk> 3); the words follow, most frequent first (ties
alphabetical), so a vocabulary is a pure function of its training captions and ``min_word_freq``. The reference
implementation numbers words first and the specials last; only the numbering differs.

A caption of n words is stored as ``<start> w1 .. wn <end> <pad> ...`` in ``max_len = max words + 2`` slots, with
``length = n + 2`` (the reference's ``caplens``). Captions longer than ``max_len - 2`` words are dropped by the data
loaders (the reference skips captions over 50 words), never cut.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
from typing import Iterable, Sequence

import numpy as np

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = range(4)

_WORD = re.compile(r"[a-z0-9]+")


class VocabularyError(ValueError):
    """A vocabulary that cannot be built or does not belong to the checkpoint it is used with."""


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words (the Karpathy split files hold tokens already; tfds and our own files hold
    raw sentences)."""
    return _WORD.findall(text.lower())


class Vocab:
    def __init__(self, words: Sequence[str]):
        words = list(words)
        clash = sorted(set(words) & set(SPECIALS))
        if clash:
            raise VocabularyError(f"vocabulary words may not be special tokens: {clash}")
        if len(set(words)) != len(words):
            raise VocabularyError("vocabulary has repeated words")
        self.itos = list(SPECIALS) + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_word_freq: int = 5) -> "Vocab":
        """Every word seen at least ``min_word_freq`` times in ``captions`` (token lists)."""
        if min_word_freq < 1:
            raise VocabularyError(f"min_word_freq must be >= 1, got {min_word_freq}")
        counts = collections.Counter(w for c in captions for w in c)
        words = sorted((w for w, n in counts.items() if n >= min_word_freq), key=lambda w: (-counts[w], w))
        if not words:
            most = counts.most_common(1)
            detail = (f"the most frequent word, {most[0][0]!r}, appears {most[0][1]} time(s)" if most
                      else "the captions hold no words")
            raise VocabularyError(f"empty vocabulary: no word appears at least {min_word_freq} time(s) "
                                  f"({detail}); lower --min_word_freq or check the captions")
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    @property
    def sha(self) -> str:
        """A short fingerprint of the word list (stored with each run, checked when the run is loaded)."""
        return hashlib.sha256("\n".join(self.itos).encode()).hexdigest()[:16]

    def encode(self, words: Sequence[str], max_len: int) -> tuple[np.ndarray, int]:
        """(ids int32 [max_len], length) of ``<start> words <end>`` padded with <pad>."""
        if len(words) + 2 > max_len:
            raise ValueError(f"caption of {len(words)} words does not fit max_len={max_len}")
        ids = np.full(max_len, PAD_ID, np.int32)
        ids[0] = START_ID
        ids[1:len(words) + 1] = [self.stoi.get(w, UNK_ID) for w in words]
        ids[len(words) + 1] = END_ID
        return ids, len(words) + 2

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words up to the first <end>, without <start>/<pad> (what BLEU compares)."""
        out = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (PAD_ID, START_ID):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return out

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"words": self.itos[len(SPECIALS):], "sha": self.sha}, f, indent=0)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "Vocab":
        try:
            with open(path) as f:
                data = json.load(f)
            vocab = cls(data["words"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise VocabularyError(f"cannot read vocabulary {path}: {type(e).__name__}: {e}") from None
        if data.get("sha") not in (None, vocab.sha):
            raise VocabularyError(f"vocabulary {path} was modified (fingerprint {vocab.sha}, file says "
                                  f"{data['sha']})")
        return vocab
