"""What bicyclegan, munit, unit and stargan exist for, measured on held-out offline data after a short training run.

    python -m benchmarks.multimodal [--models bicyclegan,munit,unit,stargan] [--preset cpu|full] [--dataset NAME]
                                    [--steps N] [--curve K]   # K: also measure every K steps of the same run
    python -m benchmarks.multimodal --memory      # unit's compiled train-step memory at 256 px, with/without remat

- bicyclegan, munit: several outputs for one input differ: mean pairwise L1 ([-1, 1] units) between the
  translations of each test input under K = 4 random styles / codes, at initialisation and at the end; and they land
  in the target domain: Frechet distance between translations and real target-domain test images (random styles:
  the mean over STYLE_DRAWS draws, one style per input, and their range), next to the
  distance of the untranslated inputs (the "do nothing" baseline). Both also translate with styles taken from
  real B images (the papers' example-guided translation: munit's style encoder, bicyclegan's encoder mean), each
  test input with the style of one *training* B image (other photos), and with the style of one of half the B test
  images (other crops of the same photos) measured against the other half; the same two measures. On the offline
  unpaired set (munit, unit) also where the translations' colours land: mean distance of every channel value to
  the nearest of the four flat levels that every offline B image takes (0 for real B, about 0.13 for photos,
  whatever their content; B -> A translations beside it as the check that it follows the direction). The Frechet
  distance here sees sharpness more than this style: real B test images blurred by a 1 px Gaussian are farther from
  real B (0.078 at 64 px) than the untranslated photos are (0.068), so that row also gives real B blurred as a
  reference.
- unit: cycle error (L1 between A and its A -> B -> A reconstruction on test images) at initialisation and at the
  end; Frechet distance of A -> B translations to real B, next to the inputs' distance.
- stargan: does a requested attribute change show? Each test image is translated with one attribute flipped (every
  selected attribute in turn); success = the model's own auxiliary classifier (D's second head) reads the flipped
  value. Reference: the same classifier on the unchanged images (how often the flip is already "there", about
  1 - its accuracy) and its accuracy on real test images (is the judge competent?).
Frechet distances are computed on globally pooled VGG19 relu3_4 features (gan_jax/nets/vgg.py): random VGG features
unless --vgg_weights gives real ones, so compare them only within this table.

``--preset cpu`` (default) is sized for a shared 2-core CPU (smaller images and widths, a few minutes per model);
``full`` trains the scripts' defaults longer (an accelerator). Speed at PyTorch-GAN's defaults:
``python -m benchmarks.speed --models bicyclegan,munit,unit,stargan``. Writes benchmarks/out/multimodal.md.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common, memory
from gan_jax import data, registry
from gan_jax.data.kinds import unpaired
from gan_jax.metrics import frechet_distance
from gan_jax.nets import vgg

MODELS = ("bicyclegan", "munit", "unit", "stargan")
PRESETS = {  # model: (Config overrides, steps)
    "cpu": {"bicyclegan": ({"img_height": 64, "img_width": 64, "batch_size": 4, "d_scales": 2}, 200),
            "munit": ({"img_height": 64, "img_width": 64, "dim": 32, "d_scales": 2, "batch_size": 2}, 200),
            "unit": ({"img_height": 64, "img_width": 64, "dim": 32, "batch_size": 2}, 200),
            "stargan": ({"img_height": 32, "img_width": 32, "n_strided": 4, "residual_blocks": 3,
                         "batch_size": 16}, 200)},
    "full": {"bicyclegan": ({}, 5000), "munit": ({}, 5000), "unit": ({}, 5000), "stargan": ({}, 5000)},
}
COLUMNS = ["model", "config", "steps", "wall_s", "measure", "result", "reference"]
K_STYLES = 4
N_TEST = 100
# Frechet distance of the random-style translations: averaged over this many draws of the styles (one per input).
# One draw is a noisy reading: munit at 500 CPU steps gave 0.072, 0.123 and 0.104 for three draws of the same
# checkpoint, which is the whole gap between "in the target domain" and "not" (the inputs: 0.068).
STYLE_DRAWS = 5


class Features:
    """Globally pooled VGG19 features[:18] (relu3_4), for Frechet distances between image sets."""

    def __init__(self, weights: str):
        self.params = vgg.params_for(weights, 18, "benchmarks.multimodal")
        self.fn = jax.jit(lambda p, x: jnp.mean(vgg.features(p, x, 18), axis=(1, 2)))

    def __call__(self, images) -> np.ndarray:
        return np.concatenate([np.asarray(self.fn(self.params, images[i:i + 50])) for i in range(0, len(images), 50)])


BLUR_SIGMA = 1.0  # px: the Frechet-distance reference "real B, a little soft"


def blurred(images_NxHxWxC, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Each image blurred by a Gaussian of ``sigma`` px (a translation as sharp as that loses nothing of its
    domain, yet its Frechet distance here can exceed the untranslated inputs': see the module docstring)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(images_NxHxWxC, np.float32), sigma=(0, sigma, sigma, 0))


def poster_levels() -> np.ndarray:
    """The flat levels ([-1, 1] units) every channel of an offline domain-B image takes: what
    ``gan_jax.data.translation.posterize`` makes of all 256 input values, in every channel."""
    from gan_jax.data import translation as offline_translation

    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, None, :, None], 3, axis=-1)
    return np.unique(offline_translation.posterize(ramp)).astype(np.float32) / 127.5 - 1.0


def poster_distance(images) -> float:
    """Mean distance of each pixel's channel values to the nearest poster level: 0 for every real offline B image
    (they take those values only), about a quarter of the level spacing for photos (domain A), whatever their
    content. Read with the untranslated inputs and real B beside it: where a translation's colours land."""
    x = np.asarray(images, np.float32)[..., None]
    return float(np.abs(x - poster_levels()).min(axis=-1).mean())


def train(name: str, overrides: dict, steps: int, dataset: str, max_minutes: float | None = None,
          every: int = 0, measure=None):
    """Train ``name`` for ``steps`` steps (or ``max_minutes``); with ``every`` > 0, call ``measure(step, model,
    init_state, state, test_batch)`` every ``every`` steps before the last (the curve: the same run read along the
    way; it draws nothing from training's keys, so the run and its final figures are those of a run without it).
    Returns (model, config, init_state, state, test_batch, steps done, training seconds without the measuring)."""
    model = registry.get(name)
    config = model.Config(**overrides)
    config.validate()
    source = data.load(dataset, model.DATA, img_size=config.img_size, channels=config.channels, config=config)
    batch_size = model.loader_batch_size(config) if hasattr(model, "loader_batch_size") else config.batch_size
    loader = data.Loader(source, batch_size, seed=0, prefetch=0)
    test = data.load(dataset, model.DATA, img_size=config.img_size, channels=config.channels, config=config,
                     split="test")
    batch = test.get(np.arange(min(N_TEST, len(test))))
    if "image_b" in batch:  # styles to copy, for example-guided translation: training B images, not the test ones
        batch["reference_b"] = source.get(np.arange(min(N_TEST, len(source))))["image_b"]
    init_state = model.init(jax.random.key(0), config)
    state = jax.tree.map(jnp.copy, init_state)
    step = jax.jit(model.train_step, donate_argnums=0)
    key = jax.random.key(1)
    t, deadline, done, measuring = time.perf_counter(), common.Deadline(max_minutes), 0, 0.0
    for i in range(steps):
        if deadline.passed():
            break
        state, metrics = step(state, loader.batch(i), jax.random.fold_in(key, i))
        done = i + 1
        if every and done % every == 0 and done < steps:
            m = time.perf_counter()
            measure(done, model, init_state, state, batch)
            measuring += time.perf_counter() - m
    jax.block_until_ready(metrics)
    return model, config, init_state, state, batch, done, time.perf_counter() - t - measuring


def chunked(fn, x, size=25):
    return np.concatenate([np.asarray(fn(x[i:i + size])) for i in range(0, len(x), size)])


def diversity(model, state, images, references=None) -> float:
    """Mean pairwise L1 between the K translations of each input: K random styles, or (``references``, K target-domain
    images) the styles of those images."""
    translate = jax.jit(model.translate, static_argnums=(3, 4))  # one wrapper for every chunk
    n_styles = None if references is not None else K_STYLES
    many = chunked(lambda x: translate(state, x, jax.random.key(5), "AtoB", n_styles, references).swapaxes(0, 1),
                   images)
    return float(np.mean([np.abs(many[:, i] - many[:, j]).mean()
                          for i, j in itertools.combinations(range(K_STYLES), 2)]))


def translation_rows(model, init, state, batch, feats, dataset: str) -> list[tuple[str, str, str]]:
    a, b = batch["image_a"], batch["image_b"]
    translate = jax.jit(model.translate, static_argnums=3)

    def translated(s, x, direction="AtoB", draw=0):
        return chunked(lambda y: translate(s, y, jax.random.key(6 + draw), direction), x)

    fake = translated(state, a)
    fb = feats(b)
    soft_b = blurred(b)  # the same test images, softened: what blur alone costs
    draws = [frechet_distance(feats(translated(state, a, draw=d) if d else fake), fb) for d in range(STYLE_DRAWS)]
    rows = [(f"FD(A->B, real B), pooled VGG relu3_4; mean of {STYLE_DRAWS} random draws (range)",
             f"{np.mean(draws):.3g} ({min(draws):.3g}-{max(draws):.3g})",
             f"untranslated A: {frechet_distance(feats(a), fb):.3g}; real B blurred (sigma {BLUR_SIGMA:g} px): "
             f"{frechet_distance(feats(soft_b), fb):.3g}")]
    if dataset in unpaired.OFFLINE_SETS and model.DATA == "unpaired":
        rows.append(poster_row(translated, init, state, a, b, fake))
    if model.__name__.endswith("unit") and not model.__name__.endswith("munit"):
        cycle = jax.jit(model.cycle)
        cyc = lambda s: float(np.mean(np.abs(chunked(lambda x: cycle(s, x, jax.random.key(7)), a) - a)))
        rows.insert(0, ("cycle L1 A->B->A (test)", f"{cyc(state):.3f}", f"at init {cyc(init):.3f}"))
    else:
        rows.insert(0, (f"mean pairwise L1 of {K_STYLES} styles per input", f"{diversity(model, state, a):.3f}",
                        f"at init {diversity(model, init, a):.3f}"))
    if "references" in inspect.signature(model.translate).parameters:
        rows += guided_rows(model, state, a, b, batch["reference_b"], feats)
    return rows


def guided_rows(model, state, a, b, refs, feats) -> list[tuple[str, str, str]]:
    """Example-guided translation, each test input i with the style of one B image: (1) of the training split
    (``refs``, other photos: their palettes) against the B test images; (2) of the even-numbered B test images (other
    crops of the test photos) against the odd-numbered ones, beside the untranslated inputs against those. And how
    much K references' styles make one input's translations differ."""
    guided = jax.jit(lambda s, x, r: model.translate(s, x, jax.random.key(0), "AtoB", None, r)[0])

    def styled(styles_from):
        return np.concatenate([np.asarray(guided(state, a[i:i + 1], styles_from[i % len(styles_from)][None]))
                               for i in range(len(a))])

    fb, f_odd = feats(b), feats(b[1::2])
    return [("FD(A->B, real B), styles of training B images (example-guided)",
             f"{frechet_distance(feats(styled(refs)), fb):.3g}",
             f"untranslated A: {frechet_distance(feats(a), fb):.3g}"),
            ("FD(A->B, odd B test images), styles of the even ones (example-guided)",
             f"{frechet_distance(feats(styled(b[0::2])), f_odd):.3g}",
             f"untranslated A: {frechet_distance(feats(a), f_odd):.3g}; even B test images: "
             f"{frechet_distance(feats(b[0::2]), f_odd):.3g}"),
            (f"mean pairwise L1 of {K_STYLES} reference styles per input",
             f"{diversity(model, state, a, refs[:K_STYLES]):.3f}", "")]


def poster_row(translated, init, state, a, b, fake) -> tuple[str, str, str]:
    """Where the A -> B translations (``fake``, of ``a`` by ``state``) land, by their colours' distance to the
    offline B domain's poster levels (``poster_distance``), at the end and at initialisation; beside the untranslated
    inputs, real B, and the B -> A translations (which should stay away from the levels: a check that the measure
    follows the direction, not the generator's rendering). ``translated(state, images, direction)``."""
    return ("A->B colours: distance to the B poster levels",
            f"{poster_distance(fake):.3f} (init {poster_distance(translated(init, a)):.3f})",
            f"untranslated A {poster_distance(a):.3f}, real B {poster_distance(b):.3f}, B->A translations "
            f"{poster_distance(translated(state, b, 'BtoA')):.3f}")


def stargan_rows(model, state, batch) -> list[tuple[str, str, str]]:
    config = state.config
    images, attrs = batch["image"], jnp.asarray(batch["attrs"])
    classify = jax.jit(model.classify)
    translate = jax.jit(lambda x, c: model.translate(state, x, attrs=c))
    real_pred = chunked(lambda x: classify(state, x), images) > 0
    success, already = [], []
    for i in range(config.c_dim):
        target = np.asarray(model.flip(attrs, i, config.selected_attrs))
        out = np.concatenate([np.asarray(translate(images[j:j + 25], target[j:j + 25]))
                              for j in range(0, len(images), 25)])
        pred = chunked(lambda x: classify(state, x), out) > 0
        success.append(np.mean(pred[:, i] == (target[:, i] > 0.5)))
        already.append(np.mean(real_pred[:, i] == (target[:, i] > 0.5)))
    acc = np.mean(real_pred == (np.asarray(attrs) > 0.5))
    per_attr = ", ".join(f"{n} {s:.2f}" for n, s in zip(config.selected_attrs, success))
    return [("flipped attribute read by D's classifier", f"{np.mean(success):.2f} ({per_attr})",
             f"unchanged images: {np.mean(already):.2f}"),
            ("D's classifier accuracy on real test images", f"{acc:.2f}", "chance 0.5")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--vgg_weights", default="")
    p.add_argument("--memory", action="store_true", help="unit's compiled train-step memory with/without remat")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--dataset", default=None,
                   help="train and test on this dataset instead of each model's default; e.g. offline_tints for "
                        "munit (posters with a random colour cast each: a target domain with styles apart from "
                        "content)")
    p.add_argument("--curve", type=int, default=0, metavar="K",
                   help="also measure every K steps along the way (the same run: its final rows are unchanged)")
    p.add_argument("--out", default="multimodal.md")
    args = p.parse_args(argv)
    names = common.names(p, args.models, MODELS)
    if args.curve < 0:
        p.error(f"--curve must be a number of steps >= 1 (0: no curve), got {args.curve}")
    if args.memory:
        text = ("# unit: compiled train-step memory, batch 1, 256 px (XLA buffer assignment)\n\n"
                f"{common.machine()}\n\n" + common.table(memory.rows("unit"), ["model", "img_size",
                                                                           *common.MEMORY_COLUMNS]))
        print(common.write("multimodal_memory.md", text))
        return 0
    feats, rows = Features(args.vgg_weights), []

    def record(name, shown, steps, wall, found):
        for measure, result, reference in found:
            rows.append({"model": name, "config": shown, "steps": steps, "wall_s": wall, "measure": measure,
                         "result": result, "reference": reference})
            print(rows[-1], file=sys.stderr, flush=True)
        return common.write(args.out, f"# Multimodal / attribute translation, preset {args.preset}\n\n"
                            f"{common.machine()}\n\n" + common.table(rows, COLUMNS))

    for name in names:
        overrides, steps = PRESETS[args.preset][name]
        dataset = args.dataset or getattr(registry.get(name), "DEFAULT_DATASET", "offline")
        shown = ", ".join(filter(None, (common.shown(overrides), f"dataset {dataset}")))  # the set actually used

        def measures(model, init, state, batch):
            return (stargan_rows(model, state, batch) if name == "stargan"
                    else translation_rows(model, init, state, batch, feats, dataset))

        along = lambda step, *run: record(name, shown, step, None, measures(*run))
        model, config, init, state, batch, steps, wall = train(name, overrides, args.steps or steps, dataset,
                                                               args.max_minutes, args.curve, along)
        path = record(name, shown, steps, wall, measures(model, init, state, batch))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
