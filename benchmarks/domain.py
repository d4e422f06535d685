"""What the domain and inpainting models exist for, measured after a fixed training budget through gan_jax.engine.fit.

    python -m benchmarks.domain [--models aae,cogan,pixelda,context_encoder,ccgan] [--preset cpu|full] [--steps N]

- aae: reconstruction error on test digits, prior samples (Frechet distance in the project MNIST classifier's
  features, vs 1,000 real digits), and how close the aggregate code q(z) of the 4,500 train digits is to the prior
  N(0, I): |mean|, ||cov - I||_F and the mean Kolmogorov-Smirnov statistic per dimension (reference: the same
  statistics of 4,500 true N(0, I) draws). Each at initialisation and at the end.
- cogan: pairs from one code show the same digit? The domain-A image is read by the project's MNIST classifier, the
  domain-B image by an MNIST-M classifier trained here (same CNN reading colour, offline MNIST-M train split);
  agreement over 1,000 pairs, against the agreement of independent draws with the same class frequencies (chance),
  among the pairs both classifiers read with probability >= 0.9, and both classifiers on the same generated MNIST
  image (the most the pair agreement can show with these readers); ``--curve K`` reads the pairs every K steps too.
  Without any classifier: how often an MNIST image's partner is found among 500 MNIST-M images by the shape of their
  edges (``shape_match``), against real MNIST digits and their own MNIST-M renderings.
- pixelda: accuracy on the MNIST-M test split of pixelda's task classifier (trained on MNIST and translated MNIST,
  never a target label) against the same classifier architecture trained on MNIST alone for the same steps and
  batch (source only); both on the same 500 target test digits.
- context_encoder, ccgan: PSNR and L1 inside centred holes of the test images (offline set), against filling the hole
  with the mean colour of its context; for ccgan also against the bicubic upsampling of the low-resolution copy it
  is given (the hole's content at a quarter of the resolution).

``--preset cpu`` (default) sizes each run for a shared 2-core CPU (a few minutes; smaller images or fewer residual
blocks where the script's defaults are too slow there, listed in the table's config column); ``--preset full``
trains the scripts' defaults for longer (meant for an accelerator). Writes benchmarks/out/domain.md (after every
model, so a cut-short run keeps what it measured) and the final sample grids to benchmarks/out/grids/domain_NAME.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
from gan_jax import data, engine, registry
from gan_jax.evaluate import generate_batched, real_images
from gan_jax.metrics import Classifier, frechet_distance, load_classifier
from gan_jax.metrics.classifier import init_params, preprocess
from gan_jax.metrics.train_classifier import make_train_step
from gan_jax.nets import masks
from gan_jax.nets import state as netstate

MODELS = ("aae", "cogan", "pixelda", "context_encoder", "ccgan")
# model: (Config overrides, steps)
PRESETS = {
    "cpu": {"aae": ({}, 5000), "cogan": ({}, 400), "pixelda": ({"batch_size": 32, "n_residual_blocks": 2}, 100),
            "context_encoder": ({"img_size": 32, "mask_size": 16}, 100),
            "ccgan": ({"img_size": 64, "mask_size": 16}, 40)},
    "full": {"aae": ({}, 10000), "cogan": ({}, 10000), "pixelda": ({}, 6000), "context_encoder": ({}, 3000),
             "ccgan": ({}, 3000)},
}
COLUMNS = ["model", "config", "steps", "epochs", "wall_s", "measure", "result", "reference"]


# --------------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Trained:
    model: object
    config: object
    state: object
    init_state: object
    steps: int
    epochs: float
    wall_s: float
    overrides: dict
    curve: list = dataclasses.field(default_factory=list)  # (step, measures) logged along the way (--curve)


def train(name: str, overrides: dict, steps: int, max_minutes: float | None = None, hooks=()) -> Trained:
    model = registry.get(name)
    config = model.Config(**overrides)
    if hasattr(config, "validate"):
        config.validate()
    source = data.load(getattr(model, "DEFAULT_DATASET", "mnist"), getattr(model, "DATA", "images"),
                       img_size=config.img_size, channels=config.channels, config=config)
    loader = data.Loader(source, config.batch_size, seed=0)
    init_key, _, _ = engine.run_keys(0)
    init_state = engine.loop.init_state(model, config, init_key, engine.make_mesh(1))  # the state fit starts from
    state, steps, wall = common.fit(model, config, loader, steps, f"domain_{name}", f"domain_{name}",
                                    max_minutes=max_minutes, log_interval=100, hooks=hooks)
    return Trained(model, config, state, init_state, steps, steps * config.batch_size / len(source), wall, overrides)


def batched(fn, *arrays, size: int = 250):
    """``fn`` over the leading axis in chunks (one compile per chunk shape), concatenated as numpy."""
    n = len(arrays[0])
    return np.concatenate([np.asarray(fn(*(a[i:i + size] for a in arrays))) for i in range(0, n, size)])


# --------------------------------------------------------------------------------------------------------------------
# aae
# --------------------------------------------------------------------------------------------------------------------

def latent_stats(z_NxD: np.ndarray) -> dict:
    from scipy import stats

    d = z_NxD.shape[1]
    cov = np.cov(z_NxD, rowvar=False)
    ks = np.mean([stats.kstest(z_NxD[:, j], "norm").statistic for j in range(d)])
    return {"mean": float(np.linalg.norm(z_NxD.mean(0))), "cov": float(np.linalg.norm(cov - np.eye(d))),
            "ks": float(ks)}


def eval_aae(t: Trained) -> list[tuple[str, str, str]]:
    model, config = t.model, t.config
    test = data.load("mnist", img_size=config.img_size, channels=config.channels, split="test")
    test_x = test.get(np.arange(len(test)))["image"]
    train_src = data.load("mnist", img_size=config.img_size, channels=config.channels)
    train_x = train_src.get(np.arange(len(train_src)))["image"]
    key = jax.random.key(7)
    clf = load_classifier()
    real = clf.features(real_images("mnist", config, 1000))
    out = {}
    for label, state in (("init", t.init_state), ("end", t.state)):
        recon = jax.jit(model.reconstruct)
        l1 = float(np.mean(np.abs(batched(lambda x: recon(state, x, key), test_x) - test_x)))
        codes = batched(lambda x: jax.jit(model.encode)(state, x, key), train_x)
        fd = frechet_distance(real, clf.features(generate_batched(model, state, key, 1000)))
        out[label] = {"l1": l1, "fd": fd, **latent_stats(codes)}
    prior = latent_stats(np.asarray(jax.random.normal(key, (len(train_x), config.latent_dim))))
    i, e = out["init"], out["end"]
    return [
        ("reconstruction L1 (test, [-1,1] units)", f"{e['l1']:.3f} (init {i['l1']:.3f})", "500 test digits"),
        ("prior samples FD (1000 vs 1000 real)", f"{e['fd']:.1f} (init {i['fd']:.0f})", "decoder(z), z ~ N(0, I)"),
        ("q(z) |mean|", f"{e['mean']:.3f} (init {i['mean']:.3f})", f"N(0,I) draws: {prior['mean']:.3f}"),
        ("q(z) ||cov - I||_F", f"{e['cov']:.3f} (init {i['cov']:.3f})", f"N(0,I) draws: {prior['cov']:.3f}"),
        ("q(z) mean KS statistic per dim", f"{e['ks']:.3f} (init {i['ks']:.3f})", f"N(0,I) draws: {prior['ks']:.3f}"),
    ]


# --------------------------------------------------------------------------------------------------------------------
# cogan
# --------------------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def mnistm_judge(steps: int = 900, batch: int = 100, channels: int = 3) -> tuple[Classifier, float]:
    """The project's MNIST CNN trained on the offline MNIST-M train split: (classifier, its accuracy on the MNIST-M
    test split). ``channels=3`` reads colour; ``channels=1`` reads gray like the MNIST judge, which loses digits
    whose inverted colours have the background's brightness."""
    from gan_jax.data.kinds.mnistm import offline_mnistm

    def prep(images_uint8):
        return np.asarray(preprocess(images_uint8.astype(np.float32) / 127.5 - 1.0, channels))

    x, y = offline_mnistm("train")
    x = prep(x)
    tx = optax.adam(optax.cosine_decay_schedule(2e-3, steps))
    params = init_params(jax.random.key(0), channels)
    opt_state = tx.init(params)
    step = make_train_step(tx, max_shift=2)
    order_key = jax.random.key(1)
    for i in range(steps):
        idx = np.asarray(jax.random.choice(jax.random.fold_in(order_key, i), len(y), (batch,), replace=False))
        params, opt_state, _ = step(params, opt_state, x[idx], y[idx], jax.random.fold_in(order_key, 10_000 + i))
    clf = Classifier(params)
    x_test, y_test = offline_mnistm("test")
    return clf, float(np.mean(clf.predict(x_test.astype(np.float32) / 127.5 - 1.0) == y_test))


@functools.lru_cache(maxsize=2)
def _pairs_fn(model):
    return jax.jit(model.generate_pairs, static_argnums=2)


def read_pairs(model, state, n: int = 1000) -> dict:
    """cogan's pairs read by the two judges: the domain-A image by the project's MNIST classifier, the domain-B image
    by the colour MNIST-M judge. ``agree``: same digit; ``chance``: the agreement of independent draws with the same
    class frequencies; ``sure`` / ``sure_agree``: the pairs both read with p >= SURE and the agreement among them;
    ``ceiling``: both judges on the *same* generated MNIST image: where they disagree the digit itself is ambiguous,
    so this is the most the pair agreement could show with these readers, however well G pairs its domains."""
    judge_b, _ = mnistm_judge()
    clf_a = load_classifier()
    images_a, images_b = (np.asarray(x) for x in _pairs_fn(model)(state, jax.random.key(11), n))
    logits_a, logits_b = clf_a.logits(images_a), judge_b.logits(images_b)
    pred_a, pred_b = logits_a.argmax(-1), logits_b.argmax(-1)
    chance = float(np.sum(np.bincount(pred_a, minlength=10) * np.bincount(pred_b, minlength=10))) / len(pred_a)**2
    sure, sure_agree = confident_agreement(logits_a, logits_b)
    shape_top1, shape_auc = shape_match(images_a[:SHAPE_N], images_b[:SHAPE_N])
    return {"agree": float(np.mean(pred_a == pred_b)), "chance": chance, "sure": sure, "sure_agree": sure_agree,
            "ceiling": float(np.mean(pred_a == judge_b.logits(images_a).argmax(-1))), "shape_top1": shape_top1,
            "shape_auc": shape_auc}


SHAPE_N = 500  # candidates for shape_match: the offline MNIST test split's size, so real pairs are the reference


def edge_maps(images: np.ndarray) -> np.ndarray:
    """[N, H*W]: the gradient magnitude (central differences) of each image's mean over channels, zero mean and
    unit norm per image, so a dot product of two rows is the correlation of their edges."""
    lum = np.asarray(images, np.float64).mean(-1)
    gy, gx = np.zeros_like(lum), np.zeros_like(lum)
    gy[:, 1:-1] = lum[:, 2:] - lum[:, :-2]
    gx[:, :, 1:-1] = lum[:, :, 2:] - lum[:, :, :-2]
    e = np.sqrt(gx ** 2 + gy ** 2).reshape(len(lum), -1)
    e -= e.mean(1, keepdims=True)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def shape_match(images_a: np.ndarray, images_b: np.ndarray) -> tuple[float, float]:
    """Do pair i's two images draw the same shape, without reading a digit? (top-1, AUC): how often B image i is the
    best edge correlate of A image i among all the B images, and the chance that it correlates better than another
    B image drawn at random. MNIST-M draws an MNIST digit over a photo by inverting the photo's colours under the
    strokes, so a real digit and its own MNIST-M rendering share their stroke edges (the photo adds edges of its own).
    Chance: top-1 1/N, AUC 0.5."""
    s = edge_maps(images_a) @ edge_maps(images_b).T
    n = len(s)
    diag = np.diag(s)
    top1 = float(np.mean(s.argmax(1) == np.arange(n)))
    auc = float((np.sum(diag[:, None] > s)) / (n * (n - 1)))  # the diagonal never counts (not > itself)
    return top1, auc


def cogan_curve_hook(model, interval: int, curve: list) -> engine.Hook:
    """``--curve``: read 1,000 pairs every ``interval`` steps (appended to ``curve``; agreement logged)."""
    mnistm_judge()  # trained now, not inside the timed training run

    def fn(step, state):
        r = read_pairs(model, state)
        curve.append((step, r))
        return {"pair_agreement": r["agree"], "readers_ceiling": r["ceiling"]}

    return engine.Hook(interval, fn)


def eval_cogan(t: Trained) -> list[tuple[str, str, str]]:
    judge_b, judge_acc = mnistm_judge()
    clf_a = load_classifier()
    start, end = read_pairs(t.model, t.init_state), read_pairs(t.model, t.state)
    real = real_images("mnist", t.config, 1000)
    same_real = float(np.mean(clf_a.predict(real) == judge_b.predict(real)))
    real_top1, real_auc = shape_match(*real_pairs(t.config))
    fd = frechet_distance(clf_a.features(real),
                          clf_a.features(generate_batched(t.model, t.state, jax.random.key(12), 1000)))
    rows = [("pairs showing the same digit (1000 pairs)", f"{end['agree']:.1%} (init {start['agree']:.1%})",
             f"chance {end['chance']:.1%} (init {start['chance']:.1%}); MNIST-M judge {judge_acc:.1%} on its test "
             "split"),
            (f"same digit where both readers are sure (p >= {SURE})",
             f"{end['sure_agree']:.1%} of {end['sure']:.1%} of the pairs",
             "separates what G pairs from what the MNIST-M judge can read"),
            ("the two readers agree on the same generated MNIST image", f"{end['ceiling']:.1%}",
             f"on real MNIST digits {same_real:.1%}: the ceiling of the pair agreement with these readers, set by "
             "how ambiguous G's digits are"),
            (f"no reader: partner found by its edges among {SHAPE_N} (top-1 / AUC)",
             f"{end['shape_top1']:.1%} / {end['shape_auc']:.3f} (init {start['shape_top1']:.1%} / "
             f"{start['shape_auc']:.3f})",
             f"real MNIST digits and their own MNIST-M renderings {real_top1:.1%} / {real_auc:.3f}; chance "
             f"{1 / SHAPE_N:.1%} / 0.5"),
            ("domain A (MNIST) samples FD", f"{fd:.1f}", "1000 vs 1000 real digits")]
    if t.curve:
        rows.append((f"pairs showing the same digit at steps {' / '.join(f'{s:,}' for s, _ in t.curve)}",
                     " / ".join(f"{r['agree']:.1%}" for _, r in t.curve),
                     "readers' ceiling " + " / ".join(f"{r['ceiling']:.1%}" for _, r in t.curve)))
    return rows


SURE = 0.9


def real_pairs(config) -> tuple[np.ndarray, np.ndarray]:
    """The offline MNIST test digits and their own MNIST-M renderings (same index, same digit) at cogan's size and
    channels, in [-1, 1]: the reference for ``shape_match``."""
    from gan_jax.data import offline
    from gan_jax.data.kinds.mnistm import offline_mnistm
    from gan_jax.data.pipeline import resize_uint8, to_model_range

    digits, _ = offline.mnist("test")
    rendered, _ = offline_mnistm("test")
    a, b = (to_model_range(resize_uint8(x[:SHAPE_N], config.img_size, config.channels)) for x in (digits, rendered))
    return a, b


def confident_agreement(logits_a: np.ndarray, logits_b: np.ndarray, sure: float = SURE) -> tuple[float, float]:
    """(fraction of pairs both classifiers read with probability >= ``sure``, agreement among those pairs; nan if
    there are none): a weak MNIST-M judge on generated images pulls the plain agreement down; this does not."""
    from scipy.special import softmax

    keep = (softmax(logits_a, -1).max(-1) >= sure) & (softmax(logits_b, -1).max(-1) >= sure)
    agree = float(np.mean(logits_a[keep].argmax(-1) == logits_b[keep].argmax(-1))) if keep.any() else float("nan")
    return float(np.mean(keep)), agree


# --------------------------------------------------------------------------------------------------------------------
# pixelda
# --------------------------------------------------------------------------------------------------------------------

def source_only_classifier(t: Trained) -> netstate.Net:
    """pixelda's Classifier trained on MNIST (domain A) alone: the same steps, batch and Adam as pixelda."""
    model, config = t.model, t.config
    clf = model.Classifier(config.n_classes)
    tx = netstate.adam(config)
    source = data.load("mnistm", "mnistm", img_size=config.img_size, channels=config.channels)
    net = netstate.create(clf, tx, jax.random.key(0), jnp.zeros((2, config.img_size, config.img_size,
                                                                  config.channels)))

    @jax.jit
    def step(net, x, y):
        def loss_fn(p):
            from gan_jax import losses

            return losses.classification_loss(netstate.apply(clf, net, x, train=True, params=p)[0], y)

        return netstate.update(net, tx, jax.grad(loss_fn)(net.params))

    loader = data.Loader(source, config.batch_size, seed=0)
    try:
        for _ in range(t.steps):
            batch = next(loader)
            net = step(net, batch["image_a"], batch["label_a"])
    finally:
        loader.close()
    return net


def eval_pixelda(t: Trained) -> list[tuple[str, str, str]]:
    model, config = t.model, t.config
    test = data.load("mnistm", "mnistm", img_size=config.img_size, channels=config.channels, split="test")
    batch = test.get(np.arange(len(test)))
    acc = lambda logits, y: float(np.mean(np.argmax(logits, -1) == y))
    classify = jax.jit(model.classify)
    adapted_b = acc(batched(lambda x: classify(t.state, x), batch["image_b"]), batch["label_b"])
    adapted_a = acc(batched(lambda x: classify(t.state, x), batch["image_a"]), batch["label_a"])
    naive = source_only_classifier(t)
    state_naive = t.state.replace(c=naive)
    naive_b = acc(batched(lambda x: classify(state_naive, x), batch["image_b"]), batch["label_b"])
    naive_a = acc(batched(lambda x: classify(state_naive, x), batch["image_a"]), batch["label_a"])
    project_b = float(np.mean(load_classifier().predict(batch["image_b"]) == batch["label_b"]))
    n = len(batch["label_b"])
    return [("MNIST-M test accuracy: pixelda's classifier", f"{adapted_b:.1%}", f"MNIST test {adapted_a:.1%}"),
            ("MNIST-M test accuracy: source-only classifier", f"{naive_b:.1%}",
             f"MNIST test {naive_a:.1%}; same net, steps, batch; project MNIST CNN: {project_b:.1%} on MNIST-M"),
            ("(PyTorch-GAN reports / paper)", "~95% vs ~55% / 98.2% vs 63.6%", f"{n} target test digits here")]


# --------------------------------------------------------------------------------------------------------------------
# context_encoder, ccgan
# --------------------------------------------------------------------------------------------------------------------

def hole_metrics(filled: np.ndarray, images: np.ndarray, offsets: np.ndarray, mask_size: int) -> tuple[float, float]:
    """(mean per-image PSNR in dB, mean L1) inside the holes, on the [0, 1] pixel scale."""
    a = np.asarray(masks.crop(jnp.asarray(filled), offsets, mask_size)) * 0.5 + 0.5
    b = np.asarray(masks.crop(jnp.asarray(images), offsets, mask_size)) * 0.5 + 0.5
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))), float(np.mean(np.abs(a - b)))


def mean_fill(images: np.ndarray, offsets, mask_size: int) -> np.ndarray:
    """Each hole filled with its image's mean context colour (per channel)."""
    inside = np.asarray(masks.region(offsets, images.shape[1], mask_size))
    context = np.where(inside, 0.0, images).sum((1, 2), keepdims=True) / (~inside).sum((1, 2), keepdims=True)
    return np.where(inside, context, images)


def eval_inpainting(t: Trained) -> list[tuple[str, str, str]]:
    model, config = t.model, t.config
    test = data.load("offline", "inpainting", img_size=config.img_size, channels=config.channels, split="test",
                     config=config)
    images = test.get(np.arange(len(test)))["image"]
    offsets = masks.center_offsets(len(images), config.img_size, config.mask_size)
    inpaint = jax.jit(model.inpaint)
    filled = batched(lambda x, o: inpaint(t.state, x, o)[1], images, offsets, size=20)
    psnr, l1 = hole_metrics(filled, images, offsets, config.mask_size)
    b_psnr, b_l1 = hole_metrics(mean_fill(images, offsets, config.mask_size), images, offsets, config.mask_size)
    where = f"{len(images)} test images, centred {config.mask_size}px holes"
    rows = [("hole PSNR dB / L1 [0,1]", f"{psnr:.2f} / {l1:.3f}",
             f"mean-colour fill {b_psnr:.2f} / {b_l1:.3f}; {where}")]
    if hasattr(model, "low_resolution"):
        up = np.asarray(jax.image.resize(model.low_resolution(jnp.asarray(images)), images.shape, "bicubic"))
        u_psnr, u_l1 = hole_metrics(up, images, offsets, config.mask_size)
        rows.append(("(low-res input, upsampled)", f"{u_psnr:.2f} / {u_l1:.3f}", "bicubic x4 of what G is given"))
    return rows


EVALUATE = {"aae": eval_aae, "cogan": eval_cogan, "pixelda": eval_pixelda, "context_encoder": eval_inpainting,
            "ccgan": eval_inpainting}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    p.add_argument("--steps", type=int, default=None, help="override every model's steps")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--curve", type=int, default=None,
                   help="cogan: read 1,000 pairs every this many steps as well (a row of the table)")
    p.add_argument("--out", default="domain.md")
    args = p.parse_args(argv)
    names = common.names(p, args.models, MODELS)
    if args.curve is not None and args.curve < 1:
        p.error(f"--curve must be a number of steps >= 1, got {args.curve}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (f"Machine: {common.machine()}; load average at start {load:.1f}. Preset `{args.preset}`; seed 0; "
              f"wall_s = engine.fit (compile included). Offline data (MNIST / MNIST-M built offline / photo crops "
              f"+ LFW faces).\n\n")
    rows = []
    for name in names:
        overrides, steps = PRESETS[args.preset][name]
        curve = []
        hooks = (cogan_curve_hook(registry.get(name), args.curve, curve),) if args.curve and name == "cogan" else ()
        t = train(name, overrides, args.steps or steps, args.max_minutes, hooks)
        t.curve = curve
        config = common.shown(overrides) or "script defaults"
        for i, (measure, result, reference) in enumerate(EVALUATE[name](t)):
            rows.append({"model": name if i == 0 else "", "config": config if i == 0 else "",
                         "steps": t.steps if i == 0 else None, "epochs": round(t.epochs, 1) if i == 0 else None,
                         "wall_s": round(t.wall_s) if i == 0 else None, "measure": measure, "result": result,
                         "reference": reference})
        print(f"{name}: {t.steps} steps in {t.wall_s:.0f} s", file=sys.stderr)
        text = header + common.table(rows, COLUMNS)
        common.write(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
