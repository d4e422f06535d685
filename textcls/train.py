"""Train TextCNN: ``python -m textcls.train --variant VARIANT --dataset SPEC [--vectors FILE] [flags]``.

The model's flags are generated from ``textcls.model.Config`` (Kim's hyperparameters are the defaults: windows
3,4,5 x 100 maps, dropout 0.5, max-norm 3, batch 50, Adadelta, 25 epochs); the run's flags are gan_jax.train's
(``--out --resume --seed --steps --devices``). The data decide the vocabulary, the padded length and the classes.
Training runs on gan_jax.engine; a hook scores the dev split about once an epoch and keeps the best-scoring
weights in ``RUN/best`` (Kim's early stopping: the reported test accuracy is the one at the best dev accuracy).

Run directory: config.json, metrics.jsonl (loss, dev_acc, test_acc, sentences/s as ``images_per_s``),
vocab.json, embeddings.npy (initial vectors, for variants that use them), checkpoints/, best/, results.json.

    python -m textcls.train                                   # rand, on the offline tweets
    python -m textcls.word2vec --dataset offline --out vecs.bin && \\
    python -m textcls.train --variant multichannel --vectors vecs.bin
    python -m textcls.train --variant static --dataset mr:rt-polaritydata --fold 3 \\
        --vectors GoogleNews-vectors-negative300.bin
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import typing

import jax
import numpy as np

from gan_jax import cli
from textcls import data, model
from textcls.text import Vocab, encode

EVAL_BATCH = 500


def flag_fields():
    hints = typing.get_type_hints(model.Config)
    return [(f.name, hints[f.name], dataclasses.field(default=f.default)) for f in dataclasses.fields(model.Config)
            if f.name not in model.Config.DATA_FIELDS]


# The flags: Config's fields less those the data set.
Flags = dataclasses.make_dataclass("Flags", flag_fields(), frozen=True)
Flags.__module__ = model.Config.__module__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m textcls.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="offline", help="offline | mr:DIR | sst1:DIR | sst2:DIR | trec:DIR | "
                   "subj:DIR | cr:DIR | mpqa:DIR | file:TRAIN[,TEST] | tfds:imdb_reviews | tfds:glue/sst2 | tfds:trec")
    p.add_argument("--data_dir", default=None, help="tensorflow-datasets data_dir")
    p.add_argument("--vectors", default=None, help="word vectors: word2vec .bin / .txt or GloVe .txt "
                   "(needed by static, non-static, multichannel)")
    p.add_argument("--fold", type=int, default=0, help="test fold, for the cross-validated sets (MR, Subj, CR, MPQA)")
    p.add_argument("--folds", type=int, default=None, help="number of folds (default the paper's: 10)")
    p.add_argument("--dev_fraction", type=float, default=0.1, help="held out of train when the set has no dev split")
    p.add_argument("--vocab_from", choices=("all", "train"), default="all",
                   help="words of every split's text (Kim; no labels are used) or of the training split only")
    p.add_argument("--max_tokens", type=int, default=None, help="cut sentences to this many tokens (long reviews)")
    p.add_argument("--out", default=None, help="run directory (default runs/textcnn-VARIANT)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="total steps (default n_epochs epochs)")
    p.add_argument("--devices", type=int, default=None)
    p.add_argument("--checkpoint_interval", type=int, default=None, help="steps (default 5 epochs)")
    p.add_argument("--keep", type=int, default=1, help="checkpoints kept (the best dev weights are kept apart)")
    p.add_argument("--log_interval", type=int, default=10)
    p.add_argument("--no_progress", action="store_true")
    cli.add_config_flags(p, Flags)
    return p


@dataclasses.dataclass
class Prepared:
    config: model.Config
    vocab: Vocab
    train: data.TextSource
    dev: data.TextSource
    test: data.TextSource
    info: dict


def prepare(dataset: data.Dataset, hyper: model.Config, run_dir: str, *, vectors=None, fold: int = 0,
            folds: int | None = None, dev_fraction: float = 0.1, seed: int = 0, vocab_from: str = "all",
            max_tokens: int | None = None, log=None) -> Prepared:
    """Splits, vocabulary, padded ids and the initial vectors (written to ``run_dir/embeddings.npy``).

    ``vectors``: a word-vector file, or a :class:`textcls.vectors.Vectors` already read for this vocabulary (the
    vocabulary does not depend on the fold when it comes from every split, so cross-validation reads a file once).
    """
    from textcls import vectors as vec

    train, dev, test = data.splits(dataset, fold, folds, dev_fraction, seed)
    if hyper.variant == "rand" and vectors:
        raise ValueError("--variant rand starts from random vectors: drop --vectors, or choose static, non-static "
                         "or multichannel")
    if hyper.variant != "rand" and not vectors:
        raise ValueError(f"--variant {hyper.variant} needs pre-trained vectors: --vectors FILE (word2vec .bin/.txt "
                         f"or GloVe .txt; python -m textcls.word2vec trains some on your data)")
    texts = train.tokens + (dev.tokens + test.tokens if vocab_from == "all" else [])
    vocab = Vocab.build(texts)
    max_len = max(len(t) for t in texts)
    if max_tokens:
        max_len = min(max_len, max_tokens)
    os.makedirs(run_dir, exist_ok=True)
    info = {"dataset": dataset.name, "classes": dataset.classes, "cleaner": dataset.cleaner, "fold": fold,
            "folds": folds or dataset.cv or 0, "dev_fraction": dev_fraction, "vocab_from": vocab_from,
            "n_train": len(train), "n_dev": len(dev), "n_test": len(test), "vocab": len(vocab), "max_len": max_len}
    config = dataclasses.replace(hyper, vocab_size=len(vocab), max_len=max_len, n_classes=len(dataset.classes),
                                 vectors="")
    if vectors:
        t0 = time.perf_counter()
        found = vectors if isinstance(vectors, vec.Vectors) else vec.load_vectors(vectors, vocab.words)
        matrix, stats = vec.embedding_matrix(vocab.words, found.vectors, found.dim, seed=seed)
        path = os.path.join(os.path.abspath(run_dir), "embeddings.npy")
        np.save(path, matrix)
        config = dataclasses.replace(config, embed_dim=found.dim, vectors=path)
        info["vectors"] = {"file": os.path.abspath(found.path), "format": found.format, "dim": found.dim,
                           "words_in_file": found.total, "a": stats["a"], "known": stats["known"],
                           "unknown": stats["unknown"]}
        if log:
            log(f"vectors: {stats['known']} of {len(vocab) - 1} words found in {found.path} ({found.format}, "
                f"{found.dim}-d, {found.total} words, {time.perf_counter() - t0:.1f}s); the other {stats['unknown']}"
                f" U[-{stats['a']:.3f}, {stats['a']:.3f}]")
    vocab.save(os.path.join(run_dir, "vocab.json"))

    def source(split):
        return data.TextSource(encode(split.tokens, vocab, max_len, config.filter_sizes), split.labels)

    return Prepared(config, vocab, source(train), source(dev), source(test), info)


def accuracy(weights, source: data.TextSource, logits_fn=None) -> float:
    """Accuracy of ``weights`` (a State, or anything with params/frozen/config) on a whole source."""
    return float(np.mean(predict_ids(weights, source.tokens, logits_fn) == source.labels))


def logits_batched(weights, tokens_NxL: np.ndarray, logits_fn=None) -> np.ndarray:
    """Logits for any number of sentences, in fixed-size batches (one compile)."""
    logits_fn = logits_fn or jax.jit(model.logits)
    n = len(tokens_NxL)
    size = min(EVAL_BATCH, n)
    padded = np.zeros((math.ceil(n / size) * size, tokens_NxL.shape[1]), np.int32)
    padded[:n] = tokens_NxL
    out = [np.asarray(logits_fn(weights, padded[i:i + size])) for i in range(0, len(padded), size)]
    return np.concatenate(out)[:n]


def predict_ids(weights, tokens_NxL: np.ndarray, logits_fn=None) -> np.ndarray:
    return logits_batched(weights, tokens_NxL, logits_fn).argmax(-1)


PREDICTIONS = "test_predictions.npy"


def save_predictions(directory: str, labels) -> None:
    """The best-dev weights' test-set predictions, RUN/test_predictions.npy (written atomically), for paired
    comparisons with other classifiers on the same sentences (benchmarks.textcls_offline)."""
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{PREDICTIONS}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, np.asarray(labels, np.int32))
    os.replace(tmp, os.path.join(directory, PREDICTIONS))


class BestDev:
    """The engine hook of Kim's early stopping: scores dev (and test) and keeps the best dev weights in RUN/best,
    with their test predictions (``PREDICTIONS``)."""

    def __init__(self, run_dir: str, dev: data.TextSource, test: data.TextSource):
        from gan_jax.engine import Checkpointer

        self.dev, self.test, self.run_dir = dev, test, run_dir
        self.ckpt = Checkpointer(os.path.join(run_dir, "best"), keep=1)
        self.logits = jax.jit(model.logits)
        self.best = {"dev_acc": -1.0, "test_acc": float("nan"), "step": 0}
        latest = self.ckpt.latest_step()
        if latest is not None:  # a resumed run keeps its best so far
            self.best = {k: self.ckpt.read_meta(latest)[k] for k in ("dev_acc", "test_acc", "step")}

    def __call__(self, step: int, state) -> dict:
        dev_acc = accuracy(state, self.dev, self.logits)
        test_pred = predict_ids(state, self.test.tokens, self.logits)
        test_acc = float(np.mean(test_pred == self.test.labels))
        if dev_acc > self.best["dev_acc"]:
            self.best = {"dev_acc": dev_acc, "test_acc": test_acc, "step": step}
            weights = jax.tree.map(lambda x: np.array(x, copy=True), {"params": state.params, "frozen": state.frozen})
            self.ckpt.save(step, weights, {"step": step, "dev_acc": dev_acc, "test_acc": test_acc})
            save_predictions(self.run_dir, test_pred)
        return {"dev_acc": dev_acc, "test_acc": test_acc, "best_dev_acc": self.best["dev_acc"]}

    def close(self):
        self.ckpt.close()


def fit(prepared: Prepared, run_dir: str, *, seed: int = 0, steps: int | None = None, devices: int | None = None,
        checkpoint_interval: int | None = None, keep: int = 1, log_interval: int = 10, progress: bool = True,
        resume: bool = False, tensorboard: bool = True, extra: dict | None = None) -> dict:
    """Train on gan_jax.engine; returns (and writes to RUN/results.json) the best-dev result."""
    from gan_jax import engine
    from gan_jax.data import Loader

    config = prepared.config
    loader = Loader(prepared.train, config.batch_size, seed=seed)
    epoch = loader.steps_per_epoch
    steps = steps or config.n_epochs * epoch
    eval_interval = max(1, math.ceil(epoch / log_interval)) * log_interval  # the engine runs hooks on log steps
    options = engine.RunOptions(steps=steps, seed=seed, devices=devices, sample_interval=steps,
                                checkpoint_interval=checkpoint_interval or 5 * epoch, keep=keep,
                                log_interval=log_interval, progress=progress, tensorboard=tensorboard)
    hook = BestDev(run_dir, prepared.dev, prepared.test)
    t0 = time.perf_counter()
    try:
        engine.fit(model, config, loader, run_dir, options, resume=resume,
                   hooks=(engine.Hook(eval_interval, hook),), extra={**prepared.info, **(extra or {})})
    finally:
        hook.close()
    results = {"variant": config.variant, **prepared.info, "steps": steps, "epochs": steps / epoch,
               "best_step": hook.best["step"], "dev_acc": hook.best["dev_acc"], "test_acc": hook.best["test_acc"],
               "wall_s": time.perf_counter() - t0}
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def run(args, log=None) -> dict:
    log = log or (lambda m: print(m, file=sys.stderr))
    out = args.out or os.path.join("runs", f"textcnn-{args.variant or 'rand'}")
    for name in ("steps", "devices", "checkpoint_interval", "keep", "log_interval", "max_tokens"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be > 0, got {value}")
    if args.resume:
        return _resume(args, out, log)
    hyper = model.Config(**{k: v for k, v in dataclasses.asdict(cli.config_from_args(Flags, args)).items()})
    from gan_jax import engine

    engine.prepare_run_dir(out)
    ckpt_dir = os.path.join(out, "checkpoints")
    if os.path.isdir(ckpt_dir) and any(name.isdigit() for name in os.listdir(ckpt_dir)):
        raise engine.RunDirError(f"{os.path.abspath(out)} already holds a run: pass --resume to continue it, or "
                                 f"choose another --out")
    dataset = data.load(args.dataset, args.data_dir)
    prepared = prepare(dataset, hyper, out, vectors=args.vectors, fold=args.fold, folds=args.folds,
                       dev_fraction=args.dev_fraction, seed=args.seed, vocab_from=args.vocab_from,
                       max_tokens=args.max_tokens, log=log)
    info = prepared.info
    log(f"textcnn-{hyper.variant}: {info['dataset']} ({len(info['classes'])} classes) train {info['n_train']} / dev "
        f"{info['n_dev']} / test {info['n_test']}, vocabulary {info['vocab']}, padded length "
        f"{prepared.config.seq_len} -> {os.path.abspath(out)}")
    results = fit(prepared, out, seed=args.seed, steps=args.steps, devices=args.devices,
                  checkpoint_interval=args.checkpoint_interval, keep=args.keep, log_interval=args.log_interval,
                  progress=not args.no_progress, extra={"spec": args.dataset, "data_dir": args.data_dir,
                                                        "seed": args.seed, "max_tokens": args.max_tokens})
    log(f"best dev accuracy {results['dev_acc']:.4f} at step {results['best_step']}: test accuracy "
        f"{results['test_acc']:.4f}")
    return results


def _resume(args, out: str, log) -> dict:
    """Continue a run with its saved config and data settings (flags that differ are refused)."""
    from gan_jax.engine import config_from_dict
    from gan_jax.runs import saved_run

    saved = saved_run(out, "nothing to resume: {} has no config.json")
    config = config_from_dict(model.Config, saved["config"])
    for name, _, _ in flag_fields():
        given = getattr(args, name, None)
        if given is not None and given != getattr(config, name):
            raise ValueError(f"--{name} {given} differs from the resumed run's {getattr(config, name)}")
    if config.vectors and not os.path.exists(config.vectors):  # the run directory was moved
        config = dataclasses.replace(config, vectors=os.path.join(os.path.abspath(out), "embeddings.npy"))
    dataset = data.load(saved["spec"], saved.get("data_dir"))
    train, dev, test = data.splits(dataset, saved["fold"], saved["folds"] or None, saved["dev_fraction"],
                                   saved["seed"])
    vocab = Vocab.load(os.path.join(out, "vocab.json"))

    def source(split):
        return data.TextSource(encode(split.tokens, vocab, config.max_len, config.filter_sizes), split.labels)

    info = {k: saved[k] for k in ("dataset", "classes", "cleaner", "fold", "folds", "dev_fraction", "vocab_from",
                                  "n_train", "n_dev", "n_test", "vocab", "max_len") if k in saved}
    if "vectors" in saved:
        info["vectors"] = saved["vectors"]
    prepared = Prepared(config, vocab, source(train), source(dev), source(test), info)
    run = saved["run"]
    return fit(prepared, out, seed=saved["seed"], steps=args.steps or run["steps"], devices=args.devices,
               checkpoint_interval=run["checkpoint_interval"], keep=run["keep"], log_interval=run["log_interval"],
               progress=not args.no_progress, resume=True,
               extra={k: saved.get(k) for k in ("spec", "data_dir", "seed", "max_tokens")})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    cli.quiet_logs()
    return cli.run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
