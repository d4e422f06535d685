"""Pre-trained word vectors: word2vec binary (GoogleNews-vectors-negative300.bin) and text formats, GloVe text.

Files are streamed: only the vectors of the words asked for (the vocabulary) are kept, so the 3M-word, 3.6 GB
GoogleNews file costs memory for the vocabulary alone. The format is sniffed from the first line: ``COUNT DIM``
(two integers) is word2vec, binary or text by what follows; a line ``word v1 ... vD`` is GloVe (no header).
Words are matched byte for byte (UTF-8) and case-sensitively, as Kim looked them up.

Kim's initialisation of the words the file lacks: U[-a, a], with ``a`` chosen so that they have the variance of the
pre-trained vectors (a^2 / 3 = var; he fixed a = 0.25 for GoogleNews, which is what this gives there).

    found = load_vectors("GoogleNews-vectors-negative300.bin", vocab.words)
    matrix, info = embedding_matrix(vocab, found, seed=0)
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterable

import numpy as np

MAX_WORD_BYTES = 1000  # a longer "word" in a binary file means the header's dimension is wrong
CHUNK = 1 << 20


class VectorsError(ValueError):
    """A word-vector file that cannot be read as word2vec or GloVe (bad header, wrong dimension, truncated)."""


@dataclasses.dataclass
class Vectors:
    dim: int
    vectors: dict[str, np.ndarray]  # only the words asked for
    total: int  # words in the file
    format: str  # 'word2vec-binary' | 'word2vec-text' | 'glove'
    path: str


def _is_int(token: bytes) -> bool:
    try:
        int(token)
        return True
    except ValueError:
        return False


def _is_float(token: bytes) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def sniff(path: str) -> tuple[str, int, int | None]:
    """(format, dim, count or None) from the first line(s) of ``path``."""
    if not os.path.isfile(path):
        raise VectorsError(f"no word-vector file at {path}")
    with open(path, "rb") as f:
        first = f.readline(1 << 16).rstrip(b"\r\n")
        parts = first.split()
        if not parts:
            raise VectorsError(f"{path} is empty" if not f.read(1) else f"{path}: the first line is blank")
        header = len(parts) == 2 and _is_int(parts[0]) and _is_int(parts[1])
        second = f.readline(64 * int(parts[1]) + 4096) if header and int(parts[1]) > 0 else b""
    if header:
        count, dim = int(parts[0]), int(parts[1])
        if count <= 0 or dim <= 0:
            raise VectorsError(f"{path}: word2vec header {first.decode('latin-1')!r} must give COUNT > 0 and DIM > 0")
        # Text: the next line is "word v1 ... vDIM" in ASCII numbers. Binary: the raw float32 bytes after "word ".
        line = second.split(b"\n", 1)[0].split()
        if len(line) == dim + 1 and all(_is_float(t) for t in line[1:]):
            return "word2vec-text", dim, count
        return "word2vec-binary", dim, count
    if len(parts) >= 2 and all(_is_float(t) for t in parts[1:]):
        return "glove", len(parts) - 1, None
    raise VectorsError(f"{path}: first line {first[:80].decode('latin-1')!r} is neither a word2vec header "
                       f"'COUNT DIM' nor a GloVe line 'word v1 ... vD'")


def load_vectors(path: str, words: Iterable[str] | None = None, *, chunk: int = CHUNK) -> Vectors:
    """The vectors of ``words`` (all words when None) found in ``path``; the file is streamed in ``chunk`` bytes."""
    fmt, dim, count = sniff(path)
    wanted = None if words is None else {w.encode("utf-8") for w in words}
    with open(path, "rb") as f:
        if fmt == "word2vec-binary":
            f.readline()
            found, total = _read_binary(f, path, count, dim, wanted, chunk)
        else:
            if fmt == "word2vec-text":
                f.readline()
            found, total = _read_text(f, path, fmt, count, dim, wanted)
    vectors = {w.decode("utf-8", "replace"): v for w, v in found.items()}
    return Vectors(dim=dim, vectors=vectors, total=total, format=fmt, path=path)


def _read_binary(f, path, count, dim, wanted, chunk):
    size = 4 * dim
    buf, pos, found = b"", 0, {}
    for i in range(count):
        while True:
            space = buf.find(b" ", pos)
            if space != -1 and len(buf) >= space + 1 + size:
                break
            if len(buf) - pos > MAX_WORD_BYTES + size + chunk:
                space = -1
                break
            more = f.read(chunk)
            if not more:
                raise VectorsError(f"{path}: the file ends inside vector {i + 1} of the {count} its header "
                                   f"announces (truncated, or the header's dimension {dim} is wrong)")
            buf, pos = buf[pos:] + more, 0
        word = buf[pos:space].lstrip(b"\n")  # some writers end each vector with a newline
        if space == -1 or len(word) > MAX_WORD_BYTES or b"\n" in word or not word:
            raise VectorsError(f"{path}: entry {i + 1} is not 'word<space><{dim} float32>': the header's "
                               f"dimension {dim} does not match the data")
        if wanted is None or word in wanted:
            vec = np.frombuffer(buf, "<f4", dim, space + 1).astype(np.float32)
            if not np.all(np.isfinite(vec)):
                raise VectorsError(f"{path}: vector of {word.decode('utf-8', 'replace')!r} (entry {i + 1}) holds "
                                   f"NaN/inf: the header's dimension {dim} does not match the data")
            found[word] = vec
        pos = space + 1 + size
    rest = (buf[pos:] + f.read(chunk)).strip()
    if rest:
        raise VectorsError(f"{path}: data continues after the {count} vectors its header announces (the header's "
                           f"count or dimension {dim} is wrong)")
    return found, count


def _read_text(f, path, fmt, count, dim, wanted):
    found, total = {}, 0
    first = 2 if fmt == "word2vec-text" else 1
    for lineno, line in enumerate(f, first):
        line = line.rstrip()
        if not line:
            continue
        total += 1
        n_tokens = line.count(b" ") + 1
        if n_tokens < dim + 1 and len(line.split()) < dim + 1:
            raise VectorsError(f"{path}: line {lineno} has {len(line.split()) - 1} values, expected {dim} "
                               f"(inconsistent dimension)")
        space = line.find(b" ")
        word = line[:space]
        parts = None
        if n_tokens > dim + 1:
            parts = line.split()
            if len(parts) > dim + 1:
                # GloVe's 840B file has words with spaces in them (". . ."); a number in second place is instead
                # a line with too many values.
                if fmt == "word2vec-text" or _is_float(parts[1]):
                    raise VectorsError(f"{path}: line {lineno} has {len(parts) - 1} values, expected {dim} "
                                       f"(inconsistent dimension)")
                word = b" ".join(parts[:-dim])
        if wanted is None or word in wanted:
            parts = parts or line.split()
            try:
                vec = np.asarray([float(t) for t in parts[-dim:]], np.float32)
            except ValueError:
                raise VectorsError(f"{path}: line {lineno} has a value that is not a number") from None
            found[word] = vec
    if count is not None and total != count:
        raise VectorsError(f"{path}: header announces {count} vectors, the file has {total}")
    if total == 0:
        raise VectorsError(f"{path} holds no vectors")
    return found, total


def embedding_matrix(words: list[str], found: dict[str, np.ndarray], dim: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, dict]:
    """[len(words), dim] float32: the file's vector where it has the word, else U[-a, a] (Kim) with ``a`` matching
    the variance of the known vectors; row 0 (padding) is zero. Returns (matrix, info)."""
    known_ids = [i for i, w in enumerate(words) if i > 0 and w in found]
    if dim is None:
        dim = len(next(iter(found.values())))
    if not known_ids:
        raise VectorsError(f"none of the {len(words) - 1} vocabulary words has a vector (wrong file, or words "
                           f"cased differently?)")
    known = np.stack([found[words[i]] for i in known_ids]).astype(np.float32)
    if known.shape[1] != dim:
        raise VectorsError(f"vectors have dimension {known.shape[1]}, expected {dim}")
    a = math.sqrt(3.0 * float(known.var()))
    matrix = np.random.default_rng(seed).uniform(-a, a, (len(words), dim)).astype(np.float32)
    matrix[known_ids] = known
    matrix[0] = 0.0
    return matrix, {"known": len(known_ids), "unknown": len(words) - 1 - len(known_ids), "a": a,
                    "var_known": float(known.var())}


def random_matrix(n_words: int, dim: int, seed: int = 0, a: float = 0.25) -> np.ndarray:
    """Kim's 'rand' initialisation: every word U[-0.25, 0.25], padding zero."""
    matrix = np.random.default_rng(seed).uniform(-a, a, (n_words, dim)).astype(np.float32)
    matrix[0] = 0.0
    return matrix


def write_word2vec(path: str, words: list[str], matrix: np.ndarray, binary: bool = True) -> None:
    """Write vectors in word2vec's format (what ``load_vectors`` and gensim read), binary or text."""
    matrix = np.asarray(matrix, np.float32)
    if len(words) != len(matrix):
        raise ValueError(f"{len(words)} words but {len(matrix)} vectors")
    with open(path, "wb") as f:
        f.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for w, v in zip(words, matrix):
            if not w or any(c.isspace() for c in w):
                raise ValueError(f"word {w!r} cannot be written in word2vec format (empty or has whitespace)")
            if binary:
                f.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")
            else:
                f.write((w + " " + " ".join(f"{x:.6f}" for x in v) + "\n").encode("utf-8"))
