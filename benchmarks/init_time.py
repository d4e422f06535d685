"""How long initialising a model takes before training starts: the engine's init (``gan_jax.engine.batched_init``)
against ``jax.jit(model.init)``, each compiled from scratch and run once (seconds, at the models' defaults, one
process, so both see the same machine), and whether the two states are equal.

    python -m benchmarks.init_time [--models dcgan,cyclegan,srgan,esrgan] [--out init_time.md]

Leave the persistent compilation cache unset (``JAX_COMPILATION_CACHE_DIR``): a cache hit measures nothing.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import jax
import numpy as np

from benchmarks import common
from gan_jax import engine, registry
from gan_jax.engine import loop

MODELS = ("dcgan", "cyclegan", "srgan", "esrgan")


def seconds(fn, *args):
    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t


def largest_difference(a, b) -> float:
    """Largest absolute difference over the float leaves of two states (inf if their structures differ)."""
    if jax.tree.structure(a) != jax.tree.structure(b):
        return float("inf")
    floats = [(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)) if np.issubdtype(x.dtype, np.floating)]
    return max((float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0)) for x, y in floats), default=0.0)


def row(name: str) -> dict:
    model = registry.get(name)
    config = model.Config()
    mesh = engine.make_mesh(1)
    key = jax.random.key(0)
    batched, t_batched = seconds(loop.init_state, model, config, key, mesh)
    plain, t_plain = seconds(jax.jit(functools.partial(model.init, config=config),
                                     out_shardings=engine.replicated(mesh)), key)
    return {"model": name, "leaves": len(jax.tree.leaves(plain)), "jax.jit(init) s": t_plain,
            "engine init s": t_batched, "faster": t_plain / t_batched,
            "largest difference": largest_difference(batched, plain)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--out", default="init_time.md")
    args = p.parse_args(argv)
    rows = []
    for name in common.names(p, args.models, registry.names()):
        rows.append(row(name))
        print(rows[-1], file=sys.stderr, flush=True)
    text = f"Machine: {common.machine()}\n\n" + common.table(
        rows, ["model", "leaves", "jax.jit(init) s", "engine init s", "faster", "largest difference"])
    common.write(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
