"""Classify sentences with a trained run: ``python -m textcls.predict --run DIR "some sentence" ["another" ...]``.

Prints each sentence's label and the probability of every class (``--json`` for one JSON object per line); ``-``
reads sentences from standard input, one per line. Uses the best-dev weights (``RUN/best``; ``--last`` for the last
checkpoint). The text goes through the run's cleaning and vocabulary; words the vocabulary lacks are ignored (as in
Kim's code). Refused, with a one-line error: empty text, text with no word in the vocabulary, input that is not
valid UTF-8. Sentences longer than the longest training sentence are cut to its length.

    from textcls.predict import Classifier
    clf = Classifier("runs/textcnn-rand")
    clf.predict(["what a great movie"])   # [{'label': 'positive', 'probabilities': {...}}]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from typing import Sequence

import jax
import numpy as np
from flax import struct

from textcls import model
from textcls.text import TextError, Vocab, as_text, pad_ids, tokenize


@struct.dataclass
class Weights:
    """What inference needs: the trained parameters and the fixed vectors (no optimizer state)."""

    params: dict
    frozen: dict
    config: model.Config = struct.field(pytree_node=False)


def read_run(run_dir: str) -> tuple[dict, model.Config]:
    from gan_jax.engine import config_from_dict
    from gan_jax.runs import saved_run

    saved = saved_run(run_dir, "{} is not a textcls run directory (no config.json)", model=model.NAME)
    return saved, config_from_dict(model.Config, saved["config"])


def load_weights(run_dir: str, config: model.Config, last: bool = False) -> tuple[Weights, dict]:
    """(weights, checkpoint meta): the best-dev weights, or the last checkpoint's with ``last``."""
    from gan_jax.engine import Checkpointer, CheckpointError, make_mesh, replicated

    repl = replicated(make_mesh(1))
    # Shapes only: random initial vectors have the shapes of the saved ones (the .npy is not needed).
    shapes = jax.eval_shape(functools.partial(model.init, config=dataclasses.replace(config, vectors="")),
                            jax.random.key(0))
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), shapes)
    best_dir = os.path.join(run_dir, "best")
    if not last and os.path.isdir(best_dir) and os.listdir(best_dir):
        ckpt = Checkpointer(best_dir, read_only=True)
        try:
            restored, meta = ckpt.restore({"params": abstract.params, "frozen": abstract.frozen})
        finally:
            ckpt.close()
        return Weights(restored["params"], restored["frozen"], config), meta
    if not os.path.isdir(os.path.join(run_dir, "checkpoints")):
        raise CheckpointError(f"{os.path.abspath(run_dir)} has no checkpoint")
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"), read_only=True)
    try:
        state, meta = ckpt.restore(abstract)
    finally:
        ckpt.close()
    return Weights(state.params, state.frozen, config), meta


class Classifier:
    """A trained run, ready to classify raw text."""

    def __init__(self, run_dir: str, last: bool = False):
        self.saved, self.config = read_run(run_dir)
        self.classes = list(self.saved["classes"])
        self.cleaner = self.saved["cleaner"]
        self.vocab = Vocab.load(os.path.join(run_dir, "vocab.json"))
        if len(self.vocab) != self.config.vocab_size:
            raise ValueError(f"{run_dir}/vocab.json has {len(self.vocab)} words, the model {self.config.vocab_size}")
        self.weights, self.meta = load_weights(run_dir, self.config, last)
        self._logits = jax.jit(model.logits)

    def tokens(self, text: str | bytes) -> list[str]:
        return tokenize(as_text(text), self.cleaner)

    def encode(self, text: str | bytes) -> np.ndarray:
        """Padded ids of one text; TextError when it is empty or has no word of the vocabulary."""
        text = as_text(text)
        if not text.strip():
            raise TextError("the text is empty")
        tokens = tokenize(text, self.cleaner)
        ids = self.vocab.ids(tokens)
        if not ids:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise TextError(f"no word of {shown!r} is in the model's vocabulary of {len(self.vocab) - 1} words "
                            f"(after cleaning: {' '.join(tokens) or 'nothing left'})")
        return pad_ids(ids, self.config.max_len, self.config.filter_sizes)

    def probabilities(self, texts: Sequence[str | bytes]) -> np.ndarray:
        """float32 [N, n_classes]."""
        from textcls.train import logits_batched

        if isinstance(texts, (str, bytes)):
            raise TypeError("pass a list of texts")
        if not texts:
            return np.zeros((0, len(self.classes)), np.float32)
        ids = np.stack([self.encode(t) for t in texts])
        logits = logits_batched(self.weights, ids, self._logits)
        return np.asarray(jax.nn.softmax(logits, axis=-1))

    def predict(self, texts: Sequence[str | bytes]) -> list[dict]:
        probs = self.probabilities(texts)
        return [{"label": self.classes[int(p.argmax())],
                 "probabilities": {c: float(x) for c, x in zip(self.classes, p)}} for p in probs]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m textcls.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run directory of textcls.train")
    p.add_argument("--last", action="store_true", help="the last checkpoint instead of the best dev weights")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    p.add_argument("texts", nargs="+", help="sentences to classify ('-': read lines from standard input)")
    args = p.parse_args(argv)
    from gan_jax import cli

    cli.quiet_logs()
    texts = []
    for t in args.texts:
        if t == "-":
            texts += [line.rstrip("\r\n") for line in sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
                      .splitlines() if line.strip()]
        else:
            texts.append(t)
    def predict():
        for text, r in zip(texts, Classifier(args.run, last=args.last).predict(texts)):
            if args.json:
                print(json.dumps({"text": text, **r}))
            else:
                probs = "  ".join(f"{c}={x:.3f}" for c, x in r["probabilities"].items())
                print(f"{r['label']}\t{probs}\t{text}")

    return cli.run_main(predict)


if __name__ == "__main__":
    sys.exit(main())
