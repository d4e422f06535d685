"""Images from a run's checkpoint: ``python -m gan_jax.sample --run DIR [--n 64] [--seed 0] [--out FILE]``.

Conditional models take their conditions: ``--labels 0,1,2`` (one per image, repeated to fill ``--n``) and
``--code 0.5,-1`` (InfoGAN-style codes, one vector used for every image); the model checks them (range, size).
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
    args = p.parse_args(argv)
    if args.n <= 0:
        p.error(f"--n must be > 0, got {args.n}")
    from gan_jax import cli

    cli.quiet_logs()
    from gan_jax.engine import images
    from gan_jax.runs import load_run

    try:
        model, config, state, meta = load_run(args.run, args.step)
    except (OSError, RuntimeError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        conditions = parse_conditions(args, model)
        imgs = np.asarray(model.generate(state, jax.random.key(args.seed), args.n, **conditions))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = args.out or os.path.join(args.run, "samples", f"sample_{meta['step']:06d}_seed{args.seed}.png")
    images.save_grid(imgs, out, args.cols or math.ceil(math.sqrt(args.n)))
    print(out)
    return 0


def parse_conditions(args, model) -> dict:
    """``--labels``/``--code`` -> keyword arguments of ``model.generate`` (only those its signature takes)."""
    import inspect

    accepted = inspect.signature(model.generate).parameters
    conditions = {}
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
