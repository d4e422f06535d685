"""Metrics of a run's checkpoint: ``python -m gan_jax.evaluate --run DIR [--n 1000] [--step N]``.

Generates ``--n`` images and compares them with real images of the run's dataset in the feature space of the
project's MNIST classifier (``gan_jax.metrics``): Frechet distance, KID, precision/recall, with the sample counts;
on MNIST also which digits the model draws (``classes``, ``class_kl``, ``digit_shares``: ``metrics.class_coverage``).
Writes ``RUN/eval/step_XXXXXX.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import numpy as np


def generate_batched(model, state, rng, n: int, batch: int = 500, **conditions) -> np.ndarray:
    """``n`` generated images, ``batch`` at a time (one compile), as numpy."""
    gen = jax.jit(model.generate, static_argnames="n")
    parts = [np.asarray(gen(state, jax.random.fold_in(rng, i), n=batch, **conditions))
             for i in range((n + batch - 1) // batch)]
    return np.concatenate(parts)[:n]


def real_images(dataset: str, config, n: int, split: str = "train", data_dir: str | None = None) -> np.ndarray:
    from gan_jax import data

    src = data.load(dataset, img_size=config.img_size, channels=config.channels, split=split, data_dir=data_dir)
    idx = np.random.default_rng(0).permutation(len(src))[:n]
    return src.get(np.sort(idx))["image"]


# Models whose generate(state, rng, n) draws images of the training set's kind from noise (labels, if any, drawn
# uniformly): what --eval_interval and this module can score against real images.
SCORED_DATA = ("images", "labelled", "semi_supervised")


def check_scored(model) -> None:
    """A clear error for a model :data:`SCORED_DATA` leaves out (translation, inpainting, super-resolution...)."""
    from gan_jax import engine

    if getattr(model, "DATA", "images") not in SCORED_DATA:
        raise ValueError(f"--eval_interval: {engine.loop.model_name(model)} does not generate images from noise "
                         f"(its data: {model.DATA}); benchmarks/RESULTS.md says how its benchmark measures it")


def digits_drawn(dataset: str, fake_logits, real_logits) -> dict:
    """On MNIST, where the classifier's classes are digits, which ones the model draws (``metrics.class_coverage``:
    ``classes``, ``class_kl``, ``shares``); on any other dataset nothing."""
    from gan_jax.metrics import class_coverage

    if dataset != "mnist":
        return {}
    return class_coverage(np.argmax(fake_logits, -1), np.argmax(real_logits, -1))


def training_hook(model, config, dataset: str, interval: int, n: int = 500, data_dir: str | None = None):
    """``python -m gan_jax.train --eval_interval N``: every ``interval`` steps, the Frechet distance of ``n``
    samples to ``n`` real training images (and on MNIST the digits drawn: ``classes``, ``class_kl``), logged with
    the losses (metrics.jsonl, TensorBoard). The samples come from the same noise every time, so the curve compares
    like with like."""
    from gan_jax import engine
    from gan_jax.metrics import frechet_distance, load_classifier

    check_scored(model)
    clf = load_classifier()
    real_logits, real_feats = clf.logits_and_features(real_images(dataset, config, n, "train", data_dir))
    key = jax.random.key(4321)

    def score(step, state) -> dict:
        logits, feats = clf.logits_and_features(generate_batched(model, state, key, n))
        out = {"fd": frechet_distance(real_feats, feats)}
        digits = digits_drawn(dataset, logits, real_logits)
        if digits:
            out.update(classes=digits["classes"], class_kl=digits["class_kl"])
        return out

    return engine.Hook(interval, score)


def evaluate_run(run_dir: str, n: int = 1000, step: int | None = None, seed: int = 0, split: str = "train",
                 data_dir: str | None = None) -> dict:
    from gan_jax.metrics import feature_metrics, load_classifier
    from gan_jax.runs import load_run, saved_run

    model, config, state, meta = load_run(run_dir, step)
    dataset = saved_run(run_dir).get("dataset", "mnist")
    fake = generate_batched(model, state, jax.random.key(seed), n)
    real = real_images(dataset, config, n, split, data_dir)
    clf = load_classifier()
    real_logits, real_feats = clf.logits_and_features(real)
    fake_logits, fake_feats = clf.logits_and_features(fake)
    result = {"step": meta["step"], "model": meta["model"], "dataset": dataset, "split": split,
              **feature_metrics(real_feats, fake_feats, kid_subset_size=min(1000, len(real), len(fake)))}
    digits = digits_drawn(dataset, fake_logits, real_logits)
    if digits:
        result.update(classes=digits["classes"], class_kl=digits["class_kl"],
                      digit_shares=[round(float(x), 4) for x in digits["shares"]])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_jax.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--n", type=int, default=1000, help="generated (and at most as many real) images")
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="train", help="real images from this split of the run's dataset")
    p.add_argument("--data_dir", default=None)
    args = p.parse_args(argv)
    if args.n < 10:
        p.error(f"--n must be >= 10, got {args.n}")
    from gan_jax import cli

    cli.quiet_logs()

    def report():
        result = evaluate_run(args.run, args.n, args.step, args.seed, args.split, args.data_dir)
        out = os.path.join(args.run, "eval", f"step_{result['step']:06d}.json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
        print(json.dumps(result, indent=2))

    return cli.run_main(report, cli.RUN_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
