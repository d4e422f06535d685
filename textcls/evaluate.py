"""Accuracy of a trained run: ``python -m textcls.evaluate --run DIR [--split test|dev|train] [--file LABELLED]``.

Without ``--file``: the split of the run's own dataset (rebuilt as in training: same fold, dev hold-out and seed).
With ``--file``: "label<TAB or space>text" lines whose labels are the run's class names (a label the run was not
trained on is an error). Every sentence is scored, as in Kim's evaluation: one with no word of the vocabulary is
classified from padding alone and counted in ``no_known_words``. Prints (and with ``--out`` writes) JSON with the
accuracy, the confusion matrix (rows: true class) and per-class precision / recall.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from textcls import data
from textcls.text import encode, tokenize


def score(clf, tokens: list[list[str]], labels: np.ndarray) -> dict:
    from textcls.train import predict_ids

    k = len(clf.classes)
    ids = encode(tokens, clf.vocab, clf.config.max_len, clf.config.filter_sizes)
    pred = predict_ids(clf.weights, ids, clf._logits)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    tp = np.diag(confusion)
    return {"n": int(len(labels)), "accuracy": float(np.mean(pred == labels)),
            "no_known_words": int(sum(1 for t in tokens if not clf.vocab.ids(t))),
            "classes": clf.classes, "confusion": confusion.tolist(),
            "precision": (tp / np.maximum(confusion.sum(0), 1)).round(4).tolist(),
            "recall": (tp / np.maximum(confusion.sum(1), 1)).round(4).tolist()}


def labelled_file(clf, path: str) -> tuple[list[list[str]], np.ndarray]:
    texts, names = data.read_label_text(path)
    index = {c: i for i, c in enumerate(clf.classes)}
    for lineno, name in enumerate(names, 1):
        if name not in index:
            raise data.DatasetError(f"{path}: label {name!r} (line {lineno}) is not one of the classes the run was "
                                    f"trained on: {clf.classes}")
    return [tokenize(t, clf.cleaner) for t in texts], np.asarray([index[n] for n in names], np.int32)


def evaluate_run(run_dir: str, split: str = "test", file: str | None = None, last: bool = False) -> dict:
    from textcls.predict import Classifier

    clf = Classifier(run_dir, last=last)
    if file:
        tokens, labels = labelled_file(clf, file)
        where = file
    else:
        s = clf.saved
        dataset = data.load(s["spec"], s.get("data_dir"))
        if dataset.classes != clf.classes:
            raise data.DatasetError(f"{s['spec']} now has classes {dataset.classes}, the run {clf.classes}")
        parts = dict(zip(("train", "dev", "test"),
                         data.splits(dataset, s["fold"], s["folds"] or None, s["dev_fraction"], s["seed"])))
        tokens, labels = parts[split].tokens, parts[split].labels
        where = f"{s['spec']} {split}" + (f" (fold {s['fold']})" if s["folds"] else "")
    return {"run": run_dir, "data": where, "step": clf.meta.get("step"), "variant": clf.config.variant,
            **score(clf, tokens, labels)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m textcls.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--split", choices=("test", "dev", "train"), default="test")
    p.add_argument("--file", default=None, help="labelled sentences: 'label<TAB or space>text' lines")
    p.add_argument("--last", action="store_true", help="the last checkpoint instead of the best dev weights")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    from gan_jax import cli

    cli.quiet_logs()

    def report():
        text = json.dumps(evaluate_run(args.run, args.split, args.file, args.last), indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")

    return cli.run_main(report)


if __name__ == "__main__":
    sys.exit(main())
