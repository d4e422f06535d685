"""Does each model learn? Train it on the offline MNIST for a fixed budget and measure the Frechet distance (in the
project's MNIST classifier's feature space) of its samples at initialisation, along the way, and at the end, and at
the end which digits it draws (``classes``: digits making up at least a quarter of their real share of the samples;
``class_kl``: KL of the samples' digit histogram from the real one, by the same classifier; mode collapse shows here).

    python -m benchmarks.quality [--models gan,began] [--steps N] [--n 1000] [--max_minutes M] [--set K=V,...] [--seed S]

The budget defaults to each model's DEFAULT_STEPS: exactly what ``python -m gan_jax.train --model NAME`` runs, except
where BUDGETS says otherwise.
Each run's final sample grid is copied to benchmarks/out/grids/NAME.png (look at them).
"""

from __future__ import annotations

import argparse
import functools
import sys

import jax

from benchmarks import common
from gan_jax import engine, registry
from gan_jax.evaluate import generate_batched, real_images
from gan_jax.metrics import class_coverage, feature_metrics, frechet_distance, load_classifier

# began's DEFAULT_STEPS (1,200) is the quickstart, sized to finish in ~10 minutes on a 2-core laptop CPU with readable
# digits; its >= 5x Frechet-distance target is checked at 6,000 steps (FD 550 -> 77 there, measured on an H200).
BUDGETS = {"began": 6000}
UNCONDITIONAL = ("gan", "dcgan", "lsgan", "wgan", "wgan_gp", "wgan_div", "dragan", "began", "ebgan", "bgan",
                 "softmax_gan", "relativistic_gan")


@functools.lru_cache(maxsize=None)
def real_reference(img_size: int, channels: int, n: int):
    """(classifier features, predicted digits) of ``n`` real offline-MNIST train images at this size."""
    class Cfg:  # only the sizes matter for the real images
        pass

    Cfg.img_size, Cfg.channels = img_size, channels
    logits, feats = load_classifier().logits_and_features(real_images("mnist", Cfg, n))
    return feats, logits.argmax(-1)


def run(name: str, steps: int | None, n: int, checkpoints: int = 4, max_minutes: float | None = None,
        overrides: dict | None = None, seed: int = 0) -> dict:
    """``overrides``: Config fields (``--set``); ``seed``: the run's seed (``--seed``: init, data order, noise). The
    evaluation (real images, evaluation noise) is the same for every seed."""
    model = registry.get(name)
    config = model.Config(**(overrides or {}))
    steps = steps or BUDGETS.get(name, model.DEFAULT_STEPS)
    clf = load_classifier()
    real, real_classes = real_reference(config.img_size, config.channels, n)
    eval_key = jax.random.key(1234)

    def fd(state) -> float:
        return frechet_distance(real, clf.features(generate_batched(model, state, eval_key, n)))

    mesh = engine.make_mesh(1)
    init_key, _, _ = engine.run_keys(seed)
    fd_start = fd(engine.loop.init_state(model, config, init_key, mesh))  # the state fit starts from
    curve = {0: fd_start}

    def hook(step, state):
        curve[step] = fd(state)
        print(f"{name} step {step}: FD {curve[step]:.1f}", file=sys.stderr, flush=True)
        return {"fd": curve[step]}

    loader = common.default_loader(model, config, seed=seed)
    tag = common.tag(name, overrides or {}, seed)
    state, steps, wall = common.fit(model, config, loader, steps, tag, tag, max_minutes=max_minutes, seed=seed,
                                    hooks=(engine.Hook(max(1, steps // checkpoints), hook),))
    logits, feats = clf.logits_and_features(generate_batched(model, state, eval_key, n))
    final = feature_metrics(real, feats, kid_subset_size=min(1000, n))
    coverage = class_coverage(logits.argmax(-1), real_classes)
    return {"model": tag, "steps": steps, "epochs": steps * loader.batch_size / len(loader.source),
            "fd_start": fd_start, "fd_end": final["fd"], "fd_ratio": fd_start / final["fd"],
            "curve": " ".join(f"{curve[s]:.0f}" for s in sorted(curve)), "kid_end": final["kid"],
            "precision": final["precision"], "recall": final["recall"], "classes": coverage["classes"],
            "class_kl": coverage["class_kl"], "n": n, "wall_s": wall}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=None, help=f"comma-separated (default: {','.join(UNCONDITIONAL)})")
    p.add_argument("--steps", type=int, default=None, help="override every model's budget (DEFAULT_STEPS or BUDGETS)")
    p.add_argument("--n", type=int, default=1000, help="generated and real images per Frechet distance")
    p.add_argument("--checkpoints", type=int, default=4, help="FD evaluations along the way (the curve)")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--set", default="", metavar="KEY=VALUE,...", help="Config overrides for every model named")
    p.add_argument("--seed", type=int, default=0, help="the runs' seed (initialisation, data order, noise)")
    p.add_argument("--out", default="quality.md")
    args = p.parse_args(argv)
    names = common.names(p, args.models, UNCONDITIONAL) if args.models else list(UNCONDITIONAL)
    cols = ["model", "steps", "epochs", "fd_start", "fd_end", "fd_ratio", "curve", "kid_end", "precision", "recall",
            "classes", "class_kl", "n", "wall_s"]
    rows = []
    for name in names:
        overrides = common.config_overrides(registry.get(name).Config, args.set)
        rows.append(run(name, args.steps, args.n, args.checkpoints, args.max_minutes, overrides, args.seed))
        r = rows[-1]
        print(f"{name}: FD {r['fd_start']:.0f} -> {r['fd_end']:.1f} ({r['fd_ratio']:.1f}x) in {r['steps']} steps, "
              f"{r['wall_s']:.0f} s", file=sys.stderr)
        text = (f"Machine: {common.machine()}\n\nFrechet distance in the project classifier's feature space, "
                f"{args.n} generated vs {args.n} real (offline MNIST train) images; curve = FD at 0, "
                f"1/{args.checkpoints}, ... of the budget; classes / class_kl: the digits drawn at the end (module "
                f"docstring).\n\n" + common.table(rows, cols))
        common.write(args.out, text)  # after every model: a cut-short run keeps what it measured
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
