"""What pix2pix, cyclegan, discogan and dualgan exist for, measured on held-out offline data after a short run;
their speed at PyTorch-GAN's defaults; and their memory with and without remat.

    python -m benchmarks.translation [--models pix2pix,cyclegan,discogan,dualgan] [--preset cpu|full]
    python -m benchmarks.translation --speed     # ms per iteration at PyTorch-GAN's defaults (idle machine only)
    python -m benchmarks.translation --memory    # compiled train-step memory, 256 px batch 1, with/without remat

- pix2pix: L1 (in [-1, 1] units) between translations and targets on the held-out offline pairs (sketch -> photo,
  photos never seen in training), at initialisation and at the end, against the input-copy baseline (L1 between the
  input and the target).
- cyclegan, discogan, dualgan: cycle error (L1 between held-out A images and A -> B -> A) at initialisation and at
  the end; Frechet distance of A -> B translations to real held-out B images, at initialisation, at the end, and of
  the untranslated A images (the "do nothing" baseline) and of real B blurred by 1 px (what softness alone costs).
  Features: globally pooled VGG19 relu3_4 (random weights unless --vgg_weights; compare within this table only), as
  benchmarks/multimodal.py. On the offline set also where the translations' colours land: their distance to the
  posterized B domain's levels (``multimodal.poster_distance``: real B 0, photos about 0.13).
Writes benchmarks/out/translation.md (translation_speed.md, translation_memory.md).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from benchmarks.multimodal import BLUR_SIGMA, Features, blurred, chunked, poster_distance
from gan_jax import data, registry
from gan_jax.data.kinds import unpaired
from gan_jax.train import loader_batch_size

MODELS = ("pix2pix", "cyclegan", "discogan", "dualgan")
PRESETS = {  # model: (Config overrides, steps); cpu: a few minutes each on a shared 2-core CPU
    "cpu": {"pix2pix": ({"img_height": 64, "img_width": 64, "unet_depth": 6, "batch_size": 4}, 300),
            "cyclegan": ({"img_height": 64, "img_width": 64, "n_residual_blocks": 6, "batch_size": 2}, 300),
            "discogan": ({"batch_size": 16}, 300),
            "dualgan": ({"img_size": 64, "unet_depth": 6, "batch_size": 4, "n_critic": 5}, 150)},
    "full": {name: ({}, 5000) for name in MODELS},
}
COLUMNS = ["model", "config", "steps", "wall_s", "measure", "init", "end", "baseline"]
N_TEST = 100


def train(model, config, steps: int, max_minutes: float | None = None):
    source = data.load(model.DEFAULT_DATASET, model.DATA, img_size=config.img_size, channels=config.channels,
                       config=config)
    loader = data.Loader(source, loader_batch_size(model, config), seed=0, prefetch=0)
    init_state = model.init(jax.random.key(0), config)
    state = jax.tree.map(jnp.copy, init_state)
    step = jax.jit(model.train_step, donate_argnums=0)
    key = jax.random.key(1)
    t, deadline, done = time.perf_counter(), common.Deadline(max_minutes), 0
    for i in range(steps):
        if deadline.passed():
            break
        # the training augmentation (random flips / crops) as the loader will apply it once it passes an rng
        batch = source.get(loader.indices(i), rng=np.random.default_rng([0, i]))
        state, metrics = step(state, batch, jax.random.fold_in(key, i))
        done = i + 1
    jax.block_until_ready(metrics)
    return init_state, state, done, time.perf_counter() - t


def rows_for(name: str, overrides: dict, steps: int, feats, max_minutes: float | None = None) -> list[dict]:
    model = registry.get(name)
    config = model.Config(**overrides)
    config.validate()
    init_state, state, steps, wall = train(model, config, steps, max_minutes)
    test = data.load(model.DEFAULT_DATASET, model.DATA, img_size=config.img_size, channels=config.channels,
                     split="test", config=config).get(np.arange(N_TEST))
    a, b = test["image_a"], test["image_b"]
    base = {"model": name, "config": common.shown(overrides), "steps": steps,
            "wall_s": wall}
    translate_fn = jax.jit(model.translate)  # one wrapper for every chunk
    translate = lambda s: chunked(lambda x: translate_fn(s, x, jax.random.key(0)), a)
    l1 = lambda x, y: float(np.mean(np.abs(x - y)))
    if name == "pix2pix":
        return [{**base, "measure": "held-out L1 to target", "init": l1(translate(init_state), b),
                 "end": l1(translate(state), b), "baseline": f"input copy {l1(a, b):.3g}"}]
    reconstruct_fn = jax.jit(model.reconstruct)
    cycle = lambda s: l1(chunked(lambda x: reconstruct_fn(s, x), a), a)
    fb = feats(b)
    fd = lambda x: common_fd(feats(x), fb)
    fake_init, fake = translate(init_state), translate(state)
    rows = [{**base, "measure": "cycle L1 A->B->A", "init": cycle(init_state), "end": cycle(state), "baseline": ""},
            {**base, "measure": "FD(A->B, B)", "init": fd(fake_init), "end": fd(fake),
             "baseline": f"untranslated A {fd(a):.3g}; real B blurred (sigma {BLUR_SIGMA:g} px) {fd(blurred(b)):.3g}"}]
    if model.DEFAULT_DATASET in unpaired.OFFLINE_SETS:  # offline B domains are posterized: where do colours land?
        rows.append({**base, "measure": "A->B colours: distance to the B poster levels",  # as multimodal's row
                     "init": poster_distance(fake_init), "end": poster_distance(fake),
                     "baseline": f"untranslated A {poster_distance(a):.3f}, real B {poster_distance(b):.3f}"})
    return rows


def common_fd(x, y) -> float:
    from gan_jax.metrics import frechet_distance

    return float(frechet_distance(x, y))


def speed(names) -> list[dict]:
    """ms per iteration (one train_step: all D and G updates) at PyTorch-GAN's default config, after compiling."""
    rows = []
    for name in names:
        model = registry.get(name)
        config = model.Config()
        n = loader_batch_size(model, config)
        rng = np.random.default_rng(0)
        shape = (n, config.img_height, config.img_width, config.channels)
        batch = {k: rng.uniform(-1, 1, shape).astype(np.float32) for k in ("image_a", "image_b")}
        state = model.init(jax.random.key(0), config)
        step = jax.jit(model.train_step, donate_argnums=0)
        state, m = step(state, batch, jax.random.key(0))
        jax.block_until_ready(m)
        times = []
        for i in range(3):
            t = time.perf_counter()
            state, m = step(state, batch, jax.random.key(i + 1))
            jax.block_until_ready(m)
            times.append(time.perf_counter() - t)
        rows.append({"model": name, "batch": config.batch_size, "img": config.img_height,
                     "ms_per_iter": 1000 * common.median(times)})
    return rows


def peak_memory(names) -> list[dict]:
    rows = []
    for name in names:
        model = registry.get(name)
        for remat in (False, True):
            fields = {"batch_size": 1, "remat": remat}
            fields.update({"img_size": 256} if name == "dualgan" else {"img_height": 256, "img_width": 256})
            config = model.Config(**fields)
            n = loader_batch_size(model, config)
            img = jax.ShapeDtypeStruct((n, 256, 256, config.channels), jnp.float32)
            rows.append({"model": name, "img_size": 256,
                         **common.compiled_memory(model, config, {"image_a": img, "image_b": img})})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.translation", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--vgg_weights", default=None, help="VGG19 weights for the Frechet distances (see gan_jax.nets.vgg)")
    p.add_argument("--speed", action="store_true")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--out", default="translation.md")
    args = p.parse_args(argv)
    names = common.names(p, args.models, MODELS)
    if args.speed:
        text = (f"# Translation models: ms per iteration at PyTorch-GAN's defaults\n\n{common.machine()}\n\n"
                + common.table(speed(names), ["model", "batch", "img", "ms_per_iter"]))
        print(common.write("translation_speed.md", text))
        return 0
    if args.memory:
        text = (f"# Translation models: compiled train-step memory, batch 1, 256 px (XLA buffer assignment)\n\n"
                f"{common.machine()}\n\n"
                + common.table(peak_memory(names), ["model", "img_size", *common.MEMORY_COLUMNS]))
        print(common.write("translation_memory.md", text))
        return 0
    feats = Features(args.vgg_weights)
    rows = []
    for name in names:
        overrides, steps = PRESETS[args.preset][name]
        rows += rows_for(name, overrides, args.steps or steps, feats, args.max_minutes)
        print(common.table(rows[-2:], COLUMNS), file=sys.stderr)
        path = common.write(args.out, f"# Image-to-image translation, preset {args.preset}\n\n"
                            f"{common.machine()}\n\n" + common.table(rows, COLUMNS))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
