"""Train-iteration speed of each model at PyTorch-GAN's default batch and image size.

    python -m benchmarks.speed [--models gan,began] [--repeats 5] [--iters 20]

One iteration = one train_step = what one PyTorch-GAN loop iteration does (one D and one G update; for the
n_critic models n_critic critic updates and one G update, also reported per critic step, PyTorch-GAN's unit).
Compile time (first call) is reported separately; the figure is the median over ``--repeats`` timed runs of
``--iters`` steps. ``TORCH_MS`` holds PyTorch-GAN's own scripts measured on the reference 2-core CPU
(torch 2.13 CPU, 2 threads; the lower of two runs), from the project's issues: whole scripts, their data loading
included. ``--torch_json`` adds the same scripts' loop bodies timed on this machine on synthetic batches
(``benchmarks/torch_side_by_side.py``), the fair comparison with our step, which also excludes data loading.

Where that comparison is close, the question is whether anything is left to win: each row also gives the step's
floating-point work as XLA counts it in our program (``gflop_per_iter``: convolutions and products, 2 per
multiply-add) and the rate it ran at, beside a reference measured in the same run: a 2,048-square float32 matrix
product compiled with the train steps' options (``matmul_gflops``, the header line), about the most this machine's
arithmetic gives. A step near that rate can only get faster by doing less work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp

from benchmarks import common
from gan_jax import engine, registry
from gan_jax.engine import xla_options

# PyTorch-GAN scripts, ms per iteration (per critic step for n_critic models), reference 2-core CPU.
TORCH_MS = {
    "gan": 16, "wgan": 7.6, "wgan_gp": 16, "wgan_div": 21, "bgan": 18, "softmax_gan": 20, "dcgan": 450,
    "lsgan": 410, "dragan": 480, "relativistic_gan": 400, "began": 615, "ebgan": 630,
    "cgan": 39, "acgan": 490, "infogan": 830, "sgan": 430, "aae": 14, "cluster_gan": 139, "cogan": 270,
    "pixelda": 1380, "ccgan": 980, "context_encoder": 830,
    "pix2pix": 760, "cyclegan": 12400, "discogan": 7250, "dualgan": 1570, "bicyclegan": 3600, "munit": 2560,
    "unit": 9140, "stargan": 6960, "srgan": 8860, "esrgan": 33000,
}


def critic_steps(model, config) -> int:
    """Critic updates per train_step (1 unless the model consumes n_critic batches per step)."""
    return config.n_critic if hasattr(model, "loader_batch_size") else 1


def matmul_gflops(repeats: int = 7, n: int = 2048) -> float:
    """The rate of an ``n``-square float32 matrix product compiled as the train steps are (GFLOP/s, best of
    ``repeats``): the reference for the steps' own rates."""
    options = xla_options.train_step_options(jax.devices()[0].platform)
    product = jax.jit(jnp.matmul, compiler_options=options)
    a = jax.random.normal(jax.random.key(0), (n, n))
    jax.block_until_ready(product(a, a))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(product(a, a))
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def step_gflop(step, state, batch, key) -> float | None:
    """The floating-point operations of one call of the jitted ``step`` as XLA counts them (GFLOP; None where the
    backend gives no count)."""
    cost = step.lower(state, batch, key).cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per computation
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return None if flops is None else flops / 1e9


def measure(name: str, repeats: int, iters: int, torch_side: dict | None = None) -> dict:
    model = registry.get(name)
    config = model.Config()
    loader = common.default_loader(model, config)
    mesh = engine.make_mesh(1)
    init_key, step_key, _ = engine.run_keys(0)
    state = engine.loop.init_state(model, config, init_key, mesh)
    step = engine.compile_step(model, mesh)
    batch = engine.shard_batch(loader.batch(0), mesh)
    step_key = jax.device_put(step_key, engine.replicated(mesh))
    t = time.perf_counter()
    state, metrics = step(state, batch, step_key)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t
    for _ in range(2):  # warm-up
        state, metrics = step(state, batch, step_key)
    jax.block_until_ready(metrics)
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            state, metrics = step(state, batch, step_key)
        jax.block_until_ready(metrics)
        runs.append((time.perf_counter() - t) / iters * 1000)
    ms = common.median(runs)
    k = critic_steps(model, config)
    gflop = step_gflop(step, state, batch, step_key)
    row = {"model": name, "batch": config.batch_size, "img_size": config.img_size, "compile_s": compile_s,
           "ms_per_iter": ms, "critic_steps": k, "ms_per_unit": ms / k,
           "images_per_s": loader.batch_size / (ms / 1000), "gflop_per_iter": gflop,
           "gflops": None if gflop is None else gflop / (ms / 1000),
           "torch_ms": TORCH_MS.get(name)}
    if row["torch_ms"]:
        row["speedup_vs_torch"] = row["torch_ms"] / row["ms_per_unit"]
    side = (torch_side or {}).get(name, {})
    if "mean_ms" in side:
        row["torch_same_machine_ms"] = side["mean_ms"]
        row["speedup_same_machine"] = side["mean_ms"] / row["ms_per_unit"]
    return row


def load_torch_side(path: str | None) -> dict:
    """``benchmarks/torch_side_by_side.py --out FILE``'s results by model ({} without a file)."""
    if path is None:
        return {}
    with open(path) as f:
        return json.load(f)["results"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=None, help="comma-separated (default: all)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--out", default="speed.md")
    p.add_argument("--torch_json", default=None,
                   help="PyTorch-GAN's scripts timed on this machine by benchmarks/torch_side_by_side.py --out: "
                        "adds their time and our speed-up over it")
    args = p.parse_args(argv)
    torch_side = load_torch_side(args.torch_json)
    names = common.names(p, args.models, registry.names()) if args.models else registry.names()
    cols = ["model", "batch", "img_size", "compile_s", "ms_per_iter", "critic_steps", "ms_per_unit", "images_per_s",
            "gflop_per_iter", "gflops", "torch_ms", "speedup_vs_torch"]
    cols += ["torch_same_machine_ms", "speedup_same_machine"] if torch_side else []
    rows, reference = [], matmul_gflops()
    header = (f"Machine: {common.machine()}\n\nA 2,048-square float32 matrix product, compiled as the steps are: "
              f"{reference:.0f} GFLOP/s (the `gflops` column's reference)\n\n")
    for name in names:
        rows.append(measure(name, args.repeats, args.iters, torch_side))
        print(f"{name}: {rows[-1]['ms_per_unit']:.2f} ms per unit, compile {rows[-1]['compile_s']:.1f} s",
              file=sys.stderr)
        text = header + common.table(rows, cols)
        common.write(args.out, text)  # after every model: a cut-short run keeps what it measured
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
