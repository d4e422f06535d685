"""What ``--remat`` saves: one train step of each model that offers it, compiled (nothing run) at PyTorch-GAN's
default image size and batch 1, with and without rematerialisation; XLA's buffer assignment gives the peak.

    python -m benchmarks.memory [--models pix2pix,cyclegan,...] [--out memory.md]

Columns (``common.compiled_memory``): temporaries and peak (arguments + outputs + temporaries - donated) in MiB, and
the convolutions in the program JAX lowers and in the one XLA compiles (recomputed blocks show as extra
convolutions; a backend that compiles the recomputation away shows the same count with and without remat).
Measure on the backend you train on: XLA:CPU removes the recomputation, so remat saves nothing there.
"""

from __future__ import annotations

import argparse
import sys

import jax

from benchmarks import common
from gan_jax import registry

MODELS = ("pix2pix", "cyclegan", "discogan", "dualgan", "bicyclegan", "munit", "unit", "stargan", "srgan", "esrgan")


def rows(name: str, overrides: dict | None = None) -> list[dict]:
    """Compiled memory of one train step of ``name`` with and without remat (Config ``overrides``, batch 1 unless
    they say otherwise); the batch has the shapes the default offline loader gives."""
    model = registry.get(name)
    overrides = {"batch_size": 1, **(overrides or {})}
    configs = [model.Config(**{**overrides, "remat": remat}) for remat in (False, True)]
    batch = common.default_loader(model, configs[0]).batch(0)  # remat changes no shape: one batch serves both
    spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), batch)
    return [{"model": name, "config": common.shown(overrides), "img_size": config.img_size,
             **common.compiled_memory(model, config, spec)} for config in configs]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS))
    p.add_argument("--out", default="memory.md")
    args = p.parse_args(argv)
    found = []
    for name in common.names(p, args.models, MODELS, "models with a remat flag"):
        found += rows(name)
        print(found[-2], found[-1], sep="\n", file=sys.stderr, flush=True)
    text = ("# Compiled train-step memory with and without --remat (batch 1, default image size)\n\n"
            f"{common.machine()}\n\n" + common.table(found, ["model", "config", "img_size", *common.MEMORY_COLUMNS]))
    print(common.write(args.out, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
