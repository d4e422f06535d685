"""Skip-gram word vectors with negative sampling (Mikolov et al. 2013), in JAX, for corpora without pre-trained ones.

Kim's static / non-static / multichannel variants start from word2vec's GoogleNews vectors, which cannot be
downloaded here. This trains word2vec-style vectors on a dataset's *training* sentences and writes them in word2vec's
binary format, so they reach the model through the same loader (``textcls.vectors``) a GoogleNews file would.

    python -m textcls.word2vec --dataset offline --out runs/vectors/offline-300d.bin --dim 300

The algorithm is word2vec's: frequent-word subsampling (``sample``), a dynamic window (each centre word draws a width
in 1..window), ``negative`` noise words per pair from the unigram distribution to the 3/4, input vectors
U[-0.5/dim, 0.5/dim] and output vectors zero, SGD with the learning rate falling linearly from ``lr`` to 1e-4 of it.
Pairs are processed in batches (summed gradients, one jitted step per batch) instead of one at a time.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class W2VConfig:
    dim: int = 300
    window: int = 5
    negative: int = 5
    min_count: int = 2
    sample: float = 1e-3
    epochs: int = 5
    batch_pairs: int = 2048
    lr: float = 0.025
    seed: int = 0


def build_vocab(sentences, min_count: int) -> tuple[list[str], np.ndarray]:
    counts = collections.Counter(w for s in sentences for w in s)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if not words:
        raise ValueError(f"no word occurs {min_count} times or more")
    return words, np.asarray([counts[w] for w in words], np.float64)


def pairs_for_epoch(sentences_ids: list[np.ndarray], counts: np.ndarray, config: W2VConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """int32 [P, 2] (centre, context) pairs of one epoch, shuffled."""
    total = counts.sum()
    threshold = config.sample * total
    keep_p = np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts) if config.sample > 0 else None
    flat = np.concatenate(sentences_ids)
    sent = np.repeat(np.arange(len(sentences_ids)), [len(s) for s in sentences_ids])
    if keep_p is not None:
        kept = rng.random(len(flat)) < keep_p[flat]
        flat, sent = flat[kept], sent[kept]
    width = rng.integers(1, config.window + 1, len(flat))
    out = []
    for d in range(1, config.window + 1):
        centre = np.arange(len(flat) - d)
        ok = (sent[centre] == sent[centre + d]) & (width[centre] >= d)
        out.append(np.stack([flat[centre[ok]], flat[centre[ok] + d]], 1))
        ok = (sent[centre] == sent[centre + d]) & (width[centre + d] >= d)
        out.append(np.stack([flat[centre[ok] + d], flat[centre[ok]]], 1))
    pairs = np.concatenate(out).astype(np.int32)
    return pairs[rng.permutation(len(pairs))]


def _step(params, pairs_Px2, lr, key, cdf_V, negative: int):
    centre, context = pairs_Px2[:, 0], pairs_Px2[:, 1]
    noise_PxK = jnp.searchsorted(cdf_V, jax.random.uniform(key, (pairs_Px2.shape[0], negative)))
    noise_PxK = jnp.minimum(noise_PxK, cdf_V.shape[0] - 1)

    def loss_fn(p):
        v_PxD = p["in"][centre]
        pos = jnp.sum(v_PxD * p["out"][context], -1)
        neg = jnp.einsum("pd,pkd->pk", v_PxD, p["out"][noise_PxK])
        return -(jnp.sum(jax.nn.log_sigmoid(pos)) + jnp.sum(jax.nn.log_sigmoid(-neg)))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
    return params, loss / pairs_Px2.shape[0]


def train_vectors(sentences: list[list[str]], config: W2VConfig = W2VConfig(),
                  log=None) -> tuple[list[str], np.ndarray]:
    """(words, float32 [V, dim] input vectors) trained on ``sentences`` (token lists)."""
    words, counts = build_vocab(sentences, config.min_count)
    index = {w: i for i, w in enumerate(words)}
    ids = [np.asarray([index[w] for w in s if w in index], np.int32) for s in sentences]
    ids = [s for s in ids if len(s) > 1]
    if not ids:
        raise ValueError("no sentence has two known words")
    rng = np.random.default_rng(config.seed)
    key = jax.random.key(config.seed)
    noise = counts ** 0.75
    cdf = jnp.asarray(np.cumsum(noise / noise.sum()), jnp.float32)
    v, d = len(words), config.dim
    params = {"in": jnp.asarray(rng.uniform(-0.5 / d, 0.5 / d, (v, d)), jnp.float32),
              "out": jnp.zeros((v, d), jnp.float32)}
    step = jax.jit(_step, static_argnames="negative", donate_argnums=0)
    epochs = [pairs_for_epoch(ids, counts, config, rng) for _ in range(config.epochs)]
    total = sum(len(p) // config.batch_pairs for p in epochs)
    done, t0 = 0, time.perf_counter()
    for epoch, pairs in enumerate(epochs):
        losses = []
        for b in range(len(pairs) // config.batch_pairs):
            lr = config.lr * max(1e-4, 1.0 - done / max(1, total))
            batch = pairs[b * config.batch_pairs:(b + 1) * config.batch_pairs]
            params, loss = step(params, batch, lr, jax.random.fold_in(key, done), cdf, config.negative)
            losses.append(loss)
            done += 1
        if log:
            log(f"word2vec epoch {epoch + 1}/{config.epochs}: {len(pairs)} pairs, loss "
                f"{float(jnp.mean(jnp.stack(losses))):.3f}, {time.perf_counter() - t0:.0f}s")
    matrix = np.asarray(params["in"], np.float32)
    if not np.all(np.isfinite(matrix)):
        raise FloatingPointError("word2vec training diverged (NaN vectors); lower --lr")
    return words, matrix


def nearest(words: list[str], matrix: np.ndarray, word: str, n: int = 5) -> list[str]:
    unit = matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-8)
    sims = unit @ unit[words.index(word)]
    return [words[i] for i in np.argsort(-sims)[1:n + 1]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m textcls.word2vec", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="offline", help="as in textcls.train; vectors learn from its train split")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--fold", type=int, default=0, help="for cross-validated sets: train on this fold's train part")
    p.add_argument("--out", required=True, help="output .bin (word2vec binary) or .txt (word2vec text)")
    for f in dataclasses.fields(W2VConfig):
        p.add_argument(f"--{f.name}", type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    import os

    from gan_jax import cli
    from textcls import data
    from textcls.vectors import write_word2vec

    def train_and_write():
        train, _, _ = data.splits(data.load(args.dataset, args.data_dir), fold=args.fold)
        config = W2VConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(W2VConfig)})
        words, matrix = train_vectors(train.tokens, config, log=lambda m: print(m, file=sys.stderr))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_word2vec(args.out, words, matrix, binary=not args.out.endswith(".txt"))
        print(f"{len(words)} vectors of dimension {config.dim} -> {args.out}")

    return cli.run_main(train_and_write)


if __name__ == "__main__":
    sys.exit(main())
