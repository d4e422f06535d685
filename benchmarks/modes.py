"""Which digits does an MLP GAN draw as it trains, and how does its discriminator score the real digits of each kind?

    python -m benchmarks.modes [--models gan,bgan] [--steps 18000] [--every 3000] [--n 2000] [--seed 0]

Trains each model as ``python -m gan_jax.train`` would (offline MNIST, its defaults) and every ``--every`` steps
reports: the Frechet distance ratio (start / now, as benchmarks.quality), the share of each digit among ``--n``
samples (by the project's MNIST classifier), and D's mean logit on the real test digits of each kind. For a model
that drops digits, the correlation between the two rows says whether D still tells G where the missing ones are:
D scores a digit G no longer draws far above the boundary (logit 0). The standard GAN's G loss moves every sample
uphill in D's logit, towards what D calls real. The boundary-seeking loss (bgan), 1/2 logit^2, has the gradient
logit * grad(logit): it moves a sample uphill only where the logit is negative and *downhill* where it is
positive, i.e. away from the digits D calls real; a digit G has stopped drawing has no sample near it to pull, so
nothing brings it back. Writes benchmarks/out/modes.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np

from benchmarks import common
from benchmarks.quality import real_reference
from gan_jax import data, engine, registry
from gan_jax.evaluate import generate_batched
from gan_jax.metrics import class_coverage, frechet_distance, load_classifier
from gan_jax.nets import mlp
from gan_jax.nets import state as netstate

MODELS = ("gan", "bgan")  # PyTorch-GAN's MLP pair with a logit-emitting D, differing only in G's loss


def run(name: str, steps: int, every: int, n: int, seed: int = 0) -> list[dict]:
    model = registry.get(name)
    config = model.Config()
    clf = load_classifier()
    real_feats, real_classes = real_reference(config.img_size, config.channels, 1000)
    test = data.load("mnist", img_size=config.img_size, channels=config.channels, split="test")
    test = test.get(np.arange(min(len(test), 2000)))
    disc = mlp.nets(config)[1]
    d_logits = jax.jit(lambda d, x: netstate.apply(disc, d, x, train=False)[0])
    eval_key = jax.random.key(1234)
    init_key, _, step_key = engine.run_keys(seed)
    state = engine.loop.init_state(model, config, init_key, engine.make_mesh(1))
    fd_start = frechet_distance(real_feats, clf.features(generate_batched(model, state, eval_key, 1000)))
    loader = common.default_loader(model, config, seed=seed)
    step = jax.jit(model.train_step)
    rows, t = [], time.perf_counter()
    for i in range(1, steps + 1):
        state, _ = step(state, next(loader), jax.random.fold_in(step_key, i))
        if i % every and i != steps:
            continue
        logits, feats = clf.logits_and_features(generate_batched(model, state, eval_key, n))
        cov = class_coverage(logits.argmax(-1), real_classes)
        d_real = np.asarray(d_logits(state.d, test["image"]))
        by_digit = np.array([d_real[test["label"] == c].mean() for c in range(10)])
        rows.append({"model": name, "step": i, "fd_ratio": fd_start / frechet_distance(real_feats, feats[:1000]),
                     "classes": cov["classes"], "class_kl": cov["class_kl"],
                     "share %": " ".join(f"{100 * s:.0f}" for s in cov["shares"]),
                     "D logit on real": " ".join(f"{v:.1f}" for v in by_digit),
                     "corr": float(np.corrcoef(cov["shares"], by_digit)[0, 1])})
        print(f"{name} step {i} ({time.perf_counter() - t:.0f} s): {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--steps", type=int, default=18000)
    p.add_argument("--every", type=int, default=3000, help="steps between reports")
    p.add_argument("--n", type=int, default=2000, help="samples whose digits are counted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="modes.md")
    args = p.parse_args(argv)
    if args.steps < 1 or args.every < 1 or args.n < 1:
        p.error("--steps, --every and --n must be positive")
    rows = []
    for name in common.names(p, args.models, MODELS):
        rows += run(name, args.steps, args.every, args.n, args.seed)
        text = (f"Machine: {common.machine()}\n\nshare %: digits 0-9 among {args.n} samples (project classifier); "
                "D logit on real: D's mean logit on 2,000 real test digits of each kind; corr: their correlation."
                "\n\n" + common.table(rows, ["model", "step", "fd_ratio", "classes", "class_kl", "share %",
                                             "D logit on real", "corr"]))
        common.write(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
