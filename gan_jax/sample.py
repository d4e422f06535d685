"""Images from a run's checkpoint: ``python -m gan_jax.sample --run DIR [--n 64] [--seed 0] [--out FILE]``.

Conditional models take their conditions: ``--labels 0,1,2`` (one per image, repeated to fill ``--n``),
``--code 0.5,-1`` (InfoGAN-style codes, one vector used for every image) and ``--domain 1`` (models with several
output domains, e.g. cogan); the model checks them (range, size).

Models that transform real images instead of generating them (no ``generate``: pixelda, context_encoder, ccgan)
get ``--n`` examples of the run's dataset (``--split``, default test) and write the grid of their ``samples`` (e.g.
masked | in-painted | original rows); inpainting models take ``--mask center|random``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import jax
import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_jax.sample", description=__doc__)
    p.add_argument("--run", required=True, help="run directory (as written by gan_jax.train)")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default latest)")
    p.add_argument("--cols", type=int, default=None, help="grid columns (default square)")
    p.add_argument("--out", default=None, help="PNG path (default RUN/samples/sample_STEP_seedS.png)")
    p.add_argument("--labels", default=None, help="comma-separated class labels (conditional models)")
    p.add_argument("--code", default=None, help="comma-separated latent code values (models with codes)")
    p.add_argument("--domain", type=int, default=None, help="output domain (models with several, e.g. cogan)")
    p.add_argument("--mask", default=None, choices=("center", "random"), help="hole placement (inpainting models)")
    p.add_argument("--split", default="test", help="dataset split the real inputs come from (models without "
                                                   "generate)")
    p.add_argument("--data_dir", default=None, help="tensorflow-datasets data_dir (models without generate)")
    args = p.parse_args(argv)
    if args.n <= 0:
        p.error(f"--n must be > 0, got {args.n}")
    from gan_jax import cli

    cli.quiet_logs()
    from gan_jax.engine import images
    from gan_jax.runs import load_run

    def sample():
        model, config, state, meta = load_run(args.run, args.step)
        if hasattr(model, "generate"):
            conditions = parse_conditions(args, model)
            if args.mask is not None:
                raise ValueError(f"model {model.__name__.rsplit('.', 1)[-1]} takes no --mask")
            imgs = np.asarray(model.generate(state, jax.random.key(args.seed), args.n, **conditions))
            cols = args.cols or math.ceil(math.sqrt(args.n))
        else:
            imgs, cols = transformed_samples(model, config, state, args)
        out = args.out or os.path.join(args.run, "samples", f"sample_{meta['step']:06d}_seed{args.seed}.png")
        images.save_grid(imgs, out, args.cols or cols)
        print(out)

    return cli.run_main(sample, cli.RUN_ERRORS)


def transformed_samples(model, config, state, args) -> tuple[np.ndarray, int]:
    """(grid images, columns): ``model.samples`` on the first ``--n`` examples of the run's dataset ``--split``."""
    import inspect

    from gan_jax import data
    from gan_jax.runs import saved_run

    name = model.__name__.rsplit(".", 1)[-1]
    if not hasattr(model, "samples"):
        raise ValueError(f"model {name} has neither generate nor samples")
    for flag in ("labels", "code", "domain"):
        if getattr(args, flag) is not None:
            raise ValueError(f"model {name} takes no --{flag}")
    options = {}
    if args.mask is not None:
        if "mask" not in inspect.signature(model.samples).parameters:
            raise ValueError(f"model {name} takes no --mask")
        options["mask"] = args.mask
    dataset = saved_run(args.run).get("dataset") or getattr(model, "DEFAULT_DATASET", "mnist")
    source = data.load(dataset, getattr(model, "DATA", "images"), img_size=config.img_size, channels=config.channels,
                       split=args.split, data_dir=args.data_dir, config=config)
    n = min(args.n, len(source))
    batch = source.get(np.arange(n))
    imgs = np.asarray(jax.jit(lambda s, k, b: model.samples(s, k, b, **options))(state, jax.random.key(args.seed),
                                                                               batch))
    return imgs, n  # samples stacks rows of n images (inputs | outputs | ...)


def parse_conditions(args, model) -> dict:
    """``--labels``/``--code``/``--domain`` -> keyword arguments of ``model.generate`` (only those its signature
    takes)."""
    import inspect

    accepted = inspect.signature(model.generate).parameters
    conditions = {}
    if args.domain is not None:
        if "domain" not in accepted:
            raise ValueError(f"model {model.__name__.rsplit('.', 1)[-1]} takes no --domain")
        conditions["domain"] = args.domain
    for flag in ("labels", "code"):
        text = getattr(args, flag)
        if text is None:
            continue
        if flag not in accepted:
            raise ValueError(f"model {model.__name__.rsplit('.', 1)[-1]} takes no --{flag}")
        try:
            values = [float(v) if flag == "code" else int(v) for v in text.split(",")]
        except ValueError:
            raise ValueError(f"--{flag} {text!r}: expected comma-separated "
                             f"{'numbers' if flag == 'code' else 'integers'}") from None
        if flag == "labels":
            conditions["labels"] = np.resize(np.asarray(values, np.int32), args.n)
        else:
            conditions["code"] = np.asarray(values, np.float32)
    return conditions


if __name__ == "__main__":
    sys.exit(main())
