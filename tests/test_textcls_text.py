"""Kim's string cleaning, the vocabulary, his padding rule, and text that cannot be used."""

import numpy as np
import pytest

from textcls.text import TextError, Vocab, as_text, clean_str, clean_str_sst, encode, pad_ids, padded_length, \
    tokenize


@pytest.mark.parametrize("raw, cleaned", [
    ("I can't believe it's not butter!", "i ca n't believe it 's not butter !"),
    ('He said: (really?) "yes", she\'d\'ve gone.', "he said ( really ? ) yes , she 'd 've gone"),
    ("We're sure you'll LOVE it...", "we 're sure you 'll love it"),
    ("the film's `best' moments -- 10/10", "the film 's `best' moments 10 10"),
    ("café naïve 😀 résumé", "caf na ve r sum"),  # every non-ASCII character becomes a space
    ("   ", ""),
])
def test_clean_str_matches_kims(raw, cleaned):
    assert clean_str(raw) == cleaned


def test_trec_keeps_case_and_sst_only_filters():
    assert clean_str("What is the capital of France?", lower=False) == "What is the capital of France ?"
    # SST's text is tokenized already: only the character filter, spaces and lower case
    assert clean_str_sst("It 's a -LRB- great -RRB- film , is n't it ?") == "it 's a lrb great rrb film , is n't it ?"
    assert tokenize("Don't panic!") == ["do", "n't", "panic", "!"]


def test_padding_rule():
    # Kim's get_idx_from_sent: max(window) - 1 zeros, the words, zeros up to max_len + 2 * (max(window) - 1)
    assert padded_length(10, (3, 4, 5)) == 18
    np.testing.assert_array_equal(pad_ids([7, 8, 9], 5, (3, 4, 5)), [0, 0, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0])
    # a one-word sentence is still longer than the largest window
    assert len(pad_ids([4], 1, (3, 4, 5))) == 9 >= 5
    # too long: cut to max_len
    np.testing.assert_array_equal(pad_ids([1, 2, 3, 4], 2, (2,)), [0, 1, 2, 0])


def test_vocab_and_encode(tmp_path):
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.words == ["<pad>", "b", "a", "c"]  # by count, ties alphabetical; 0 is padding
    assert vocab.ids(["a", "zzz", "c"]) == [2, 3]  # unknown words dropped, as Kim
    ids = encode([["a", "c"], ["zzz"]], vocab, max_len=3, filter_sizes=(2, 3))
    np.testing.assert_array_equal(ids, [[0, 0, 2, 3, 0, 0, 0], [0] * 7])
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").words == vocab.words


def test_text_that_is_not_utf8_is_refused():
    assert as_text("héllo".encode()) == "héllo"
    with pytest.raises(TextError, match="not valid UTF-8: byte 0xff at position 2"):
        as_text(b"ok\xff")
    # what Python makes of undecodable bytes in sys.argv (surrogateescape)
    with pytest.raises(TextError, match="not valid UTF-8: byte 0xe9 at position 3"):
        as_text(b"caf\xe9".decode("utf-8", "surrogateescape"))
