"""The word-vector loader on small synthetic files: word2vec binary and text, GloVe, streaming, bad files."""

import struct
import tracemalloc

import numpy as np
import pytest

from textcls import vectors as vec
from textcls.vectors import VectorsError, load_vectors

RNG = np.random.default_rng(0)
WORDS = ["</s>", "the", "movie", "good", "bad", "Ünïcode", "film"]
MATRIX = RNG.normal(0, 0.2, (len(WORDS), 4)).astype(np.float32)


def write_glove(path, words=WORDS, matrix=MATRIX):
    with open(path, "w", encoding="utf-8") as f:
        for w, v in zip(words, matrix):
            f.write(w + " " + " ".join(repr(float(x)) for x in v) + "\n")


@pytest.mark.parametrize("kind", ["binary", "text", "glove"])
def test_formats_read_the_same_vectors(tmp_path, kind):
    path = tmp_path / f"v.{kind}"
    if kind == "glove":
        write_glove(path)
    else:
        vec.write_word2vec(str(path), WORDS, MATRIX, binary=kind == "binary")
    found = load_vectors(str(path), ["movie", "Ünïcode", "absent"])
    assert found.format == {"binary": "word2vec-binary", "text": "word2vec-text", "glove": "glove"}[kind]
    assert found.dim == 4 and found.total == len(WORDS)
    assert sorted(found.vectors) == ["movie", "Ünïcode"]  # only the words asked for are kept
    tol = 0 if kind == "binary" else 1e-6
    np.testing.assert_allclose(found.vectors["movie"], MATRIX[2], atol=tol)
    np.testing.assert_allclose(found.vectors["Ünïcode"], MATRIX[5], atol=tol)


def test_googlenews_style_binary_without_newlines_and_tiny_chunks(tmp_path):
    # GoogleNews writes "word<space><floats>" back to back; parse it through 7-byte reads to cross every boundary
    path = tmp_path / "gn.bin"
    with open(path, "wb") as f:
        f.write(f"{len(WORDS)} 4\n".encode())
        for w, v in zip(WORDS, MATRIX):
            f.write(w.encode() + b" " + v.astype("<f4").tobytes())
    found = load_vectors(str(path), WORDS, chunk=7)
    for i, w in enumerate(WORDS):
        np.testing.assert_array_equal(found.vectors[w], MATRIX[i])


def test_only_the_vocabulary_is_held_in_memory(tmp_path):
    n, d = 20000, 50  # a 4 MB file; reading it whole would hold >= 4 MB
    words = [f"w{i}" for i in range(n)]
    vec.write_word2vec(str(tmp_path / "big.bin"), words, np.ones((n, d), np.float32))
    write_glove(tmp_path / "big.txt", words, np.ones((n, d), np.float32))
    for name in ("big.bin", "big.txt"):
        tracemalloc.start()
        found = load_vectors(str(tmp_path / name), ["w5", "w19999"], chunk=1 << 16)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert sorted(found.vectors) == ["w19999", "w5"] and found.total == n
        assert peak < 1_000_000, f"{name}: peak {peak} bytes"


def test_unknown_words_get_kims_uniform_with_the_known_variance():
    words = ["<pad>"] + [f"k{i}" for i in range(400)] + [f"u{i}" for i in range(400)]
    known = {f"k{i}": RNG.normal(0, 0.3, 50).astype(np.float32) for i in range(400)}
    matrix, info = vec.embedding_matrix(words, known, 50, seed=0)
    assert info["known"] == 400 and info["unknown"] == 400
    np.testing.assert_array_equal(matrix[1], known["k0"])
    assert not np.any(matrix[0])  # padding
    unknown = matrix[401:]
    assert np.abs(unknown).max() <= info["a"]  # U[-a, a]
    var_known = np.stack(list(known.values())).var()
    assert info["a"] == pytest.approx(np.sqrt(3 * var_known))
    assert unknown.var() == pytest.approx(var_known, rel=0.05)
    with pytest.raises(VectorsError, match="none of the 2 vocabulary words"):
        vec.embedding_matrix(["<pad>", "x", "y"], known, 50)


@pytest.mark.parametrize("content, message", [
    (b"3000000 300 extra\n", "neither a word2vec header"),
    (b"hello world\nfoo bar\n", "neither a word2vec header"),
    (b"0 300\n", "COUNT > 0 and DIM > 0"),
    (b"-5 300\n", "COUNT > 0 and DIM > 0"),
    (b"", "is empty"),
    (b"2 3\nthe 0.1 0.2 0.3\nmovie 0.4 0.5\n", "line 3 has 2 values, expected 3"),
    (b"2 3\nthe 0.1 0.2 0.3\nmovie 0.4 0.5 0.6 0.7\n", "line 3 has 4 values, expected 3"),
    (b"the 0.1 0.2 0.3\nmovie 0.4 0.5\n", "line 2 has 2 values, expected 3"),
    (b"the 0.1 0.2 0.3\nmovie 0.4 0.5 0.6 0.7\n", "line 2 has 4 values, expected 3"),
    (b"3 3\nthe 0.1 0.2 0.3\nmovie 0.4 0.5 0.6\n", "announces 3 vectors, the file has 2"),
    (b"the 0.1 0.2 0.3\nmovie 0.4 zero 0.6\n", "line 2 has a value that is not a number"),
])
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(VectorsError, match=message):
        load_vectors(str(path), ["the", "movie"])


def test_bad_binary_files(tmp_path):
    body = b"".join(w.encode() + b" " + v.astype("<f4").tobytes() for w, v in zip(WORDS, MATRIX))
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(f"{len(WORDS)} 4\n".encode() + body[:-5])
    with pytest.raises(VectorsError, match="ends inside vector 7 of the 7"):
        load_vectors(str(truncated), WORDS)
    wrong_dim = tmp_path / "dim.bin"  # the data is 4-d, the header says 3
    wrong_dim.write_bytes(f"{len(WORDS)} 3\n".encode() + body)
    with pytest.raises(VectorsError, match="dimension 3"):
        load_vectors(str(wrong_dim), WORDS)
    too_many = tmp_path / "count.bin"
    too_many.write_bytes(b"2 4\n" + body)
    with pytest.raises(VectorsError, match="continues after the 2 vectors"):
        load_vectors(str(too_many), WORDS)
    with pytest.raises(VectorsError, match="no word-vector file"):
        load_vectors(str(tmp_path / "missing.bin"), WORDS)


def test_glove_words_with_spaces(tmp_path):
    # GloVe's 840B file has a few "words" with spaces (". . ."); they are read, not errors
    path = tmp_path / "g.txt"
    path.write_text("the 0.1 0.2\n. . . 0.3 0.4\nfilm 0.5 0.6\n")
    found = load_vectors(str(path), ["film", ". . ."])
    assert found.dim == 2 and found.total == 3
    np.testing.assert_allclose(found.vectors[". . ."], [0.3, 0.4])


def test_struct_layout_is_little_endian_float32(tmp_path):
    path = tmp_path / "le.bin"
    path.write_bytes(b"1 2\nx " + struct.pack("<2f", 1.5, -2.0))
    np.testing.assert_array_equal(load_vectors(str(path)).vectors["x"], [1.5, -2.0])
