"""Do the conditional and auxiliary-head models do what they exist for? Train each on the offline MNIST for a fixed
budget (through ``gan_jax.engine.fit``, exactly as ``python -m gan_jax.train``) and measure:

- cgan, acgan: the project classifier's accuracy on 1,000 generated samples per requested class (target >= 90%),
  and the Frechet distance (classifier features, 1,000 vs 1,000 train digits) at start and end (target: falls >= 5x);
- infogan: the best-permutation accuracy of the categorical code against the classifier's label of the generated
  digit (``scipy.optimize.linear_sum_assignment``; target >= 80%), and grids of each continuous code varying;
- sgan: the test accuracy of D's class head trained with ``n_labelled`` labels (+ the unlabelled rest and G's
  samples) against the same network trained on those labelled examples alone, as long;
- cluster_gan: purity / NMI / ARI of the real test digits clustered by the encoder (argmax of z_c, and k-means on its
  whole code [z_n, softmax(z_c)] as the ClusterGAN authors evaluate) against k-means on raw pixels
  (scikit-learn, fitted on the train split), in the same run.

infogan's code accuracy and cluster_gan's argmax purity are also recorded along the way (every steps // 5 steps),
so a long run shows its curve, and a run cut short by ``--max_minutes`` still shows where it was going.

    python -m benchmarks.conditional [--models cgan,acgan,infogan,sgan,cluster_gan] [--steps N]
    python -m benchmarks.conditional --models infogan --set arch=paper     (Config overrides, as train's flags)

Each model's result is kept in benchmarks/out/conditional/NAME.json, and the markdown table (stdout and
benchmarks/out/conditional.md) holds every model measured so far, so one model can be rerun alone. Grids in
benchmarks/out/grids/ (look at them).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from gan_jax import data, engine, losses, registry
from gan_jax.engine import images as image_io
from gan_jax.evaluate import generate_batched, real_images
from gan_jax.metrics import frechet_distance, load_classifier
from gan_jax.nets import conditional
from gan_jax.nets import state as netstate

MODELS = ("cgan", "acgan", "infogan", "sgan", "cluster_gan")
GRIDS = os.path.join(common.OUT, "grids")
RESULTS = os.path.join(common.OUT, "conditional")
CURVE_PER = 200  # infogan's accuracy along the way: samples per code value (the final figure uses 1,000)
CURVE_POINTS = 5  # how often along the way: every steps // CURVE_POINTS steps


def curve_metric(name: str, model, config):
    """(metric name, state -> float) recorded along the way for the models with a cheap one, else None: infogan's
    code accuracy, cluster_gan's argmax purity on the test digits."""
    if name == "infogan":
        return "code_accuracy", lambda state: code_accuracy(model, state, config, per=CURVE_PER)[0]
    if name == "cluster_gan":
        images, labels = digits(config, "test")
        return "purity", lambda state: cluster_scores(np.asarray(model.cluster(state, images)), labels)["purity"]
    return None


def digits(config, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the labelled offline MNIST split at the model's size."""
    src = data.load("mnist", "labelled", img_size=config.img_size, channels=config.channels, split=split)
    return src.images, src.labels


def train(name: str, steps: int | None, max_minutes: float | None = None, overrides: dict | None = None,
          curve: dict | None = None):
    """Train with the engine; returns (model, config, initial state, final state, steps, epochs, wall seconds).
    ``curve``: filled with {step: metric} along the way, for the models that have a cheap one (:func:`curve_metric`)."""
    model = registry.get(name)
    config = model.Config(**(overrides or {}))
    steps = steps or model.DEFAULT_STEPS
    loader = common.default_loader(model, config)
    init_key, _, _ = engine.run_keys(0)
    start = engine.loop.init_state(model, config, init_key, engine.make_mesh(1))  # the state fit starts from
    hooks = ()
    along = curve_metric(name, model, config) if curve is not None else None
    if along is not None:
        metric, measure = along

        def hook(step, state):
            curve[step] = measure(state)
            print(f"{name} step {step}: {metric} {curve[step]:.3f}", file=sys.stderr, flush=True)
            return {metric: curve[step]}

        hooks = (engine.Hook(max(1, steps // CURVE_POINTS), hook),)
    state, steps, wall = common.fit(model, config, loader, steps, name, name, max_minutes=max_minutes, hooks=hooks)
    epochs = steps * loader.batch_size / len(loader.source)
    return model, config, start, state, steps, epochs, wall


def fd_start_end(model, config, start, state, n: int) -> dict:
    clf = load_classifier()
    real = clf.features(real_images("mnist", config, n))
    key = jax.random.key(1234)
    fds = [frechet_distance(real, clf.features(generate_batched(model, s, key, n))) for s in (start, state)]
    return {"fd_start": fds[0], "fd_end": fds[1], "fd_ratio": fds[0] / fds[1]}


def per_class(model, state, n_classes: int, per: int, batch: int = 500):
    """``per`` images of each class/code value (generated ``batch`` at a time), and their labels."""
    images, labels = [], []
    for k in range(n_classes):
        images.append(generate_batched(model, state, jax.random.key(100 + k), per, batch=batch,
                                       labels=jnp.full((batch,), k, jnp.int32)))
        labels.append(np.full(per, k))
    return np.concatenate(images), np.concatenate(labels)


def eval_class_conditional(model, config, start, state, n: int) -> dict:
    images, labels = per_class(model, state, config.n_classes, 1000)
    predicted = load_classifier().predict(images)
    per = [float(np.mean(predicted[labels == k] == k)) for k in range(config.n_classes)]
    acc = float(np.mean(predicted == labels))
    return {"result": f"classifier accuracy on {len(labels):,} samples (1,000 per class): {acc:.1%} "
                      f"(worst class {int(np.argmin(per))}: {min(per):.1%})",
            "target": "accuracy >= 90%; FD falls >= 5x", "value": acc,
            **fd_start_end(model, config, start, state, n)}


def best_permutation_accuracy(codes: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Accuracy of the best one-to-one map code -> label, and the map (Hungarian algorithm on the confusion matrix)."""
    from scipy.optimize import linear_sum_assignment

    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (codes, labels), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return float(confusion[rows, cols].sum() / len(codes)), cols


def code_accuracy(model, state, config, per: int = 1000) -> tuple[float, np.ndarray, int]:
    """infogan: best-permutation accuracy of the categorical code against the classifier's label of ``per`` samples
    of each code value; (accuracy, the code -> digit map, samples)."""
    images, codes = per_class(model, state, config.n_classes, per, batch=min(per, 500))
    predicted = load_classifier().predict(images)
    acc, mapping = best_permutation_accuracy(codes, predicted, config.n_classes)
    return acc, mapping, len(codes)


def eval_infogan(model, config, start, state, n: int, curve: dict) -> dict:
    acc, mapping, n_codes = code_accuracy(model, state, config)
    # Continuous codes: rows = categorical code values, columns = c_i from -1 to 1 (the other code 0); one z per row
    # (the same rng and n give the same z in every column).
    values = np.linspace(-1, 1, 10)
    rows = jnp.arange(config.n_classes)
    for i in range(config.code_dim):
        columns = []
        for v in values:
            code = np.zeros((config.code_dim,), np.float32)
            code[i] = v
            columns.append(np.asarray(model.generate(state, jax.random.key(7), config.n_classes, labels=rows,
                                                     code=code)))
        grid = np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])  # row-major: code value, then c_i
        image_io.save_grid(grid, os.path.join(GRIDS, f"infogan_c{i + 1}.png"), len(values))
    along = " ".join(f"{curve[s]:.0%}" for s in sorted(curve))
    if along:
        along = f"; along the way ({CURVE_PER * config.n_classes:,} samples, every {min(curve)} steps): {along}"
    return {"result": f"categorical code vs classifier label, best permutation: {acc:.1%} on {n_codes:,} samples "
                      f"(code -> digit {dict(enumerate(mapping.tolist()))}){along}",
            "target": "accuracy >= 80%", "value": acc, **fd_start_end(model, config, start, state, n)}


def eval_sgan(model, config, start, state, n: int, steps: int) -> dict:
    test = data.load("mnist", "labelled", img_size=config.img_size, channels=config.channels, split="test")
    test_images, test_labels = test.images, test.labels
    source = common.default_loader(model, config).source
    labelled = source.base.get(source.labelled_indices)
    # The training digits whose labels were withheld: SGAN saw them unlabelled, the baseline never saw them. 4,400
    # of them measure the difference ~3x more precisely than the 500 test digits (the transductive accuracy of
    # semi-supervised learning papers); the test split stays the headline.
    unlabelled = source.base.get(np.flatnonzero(~source.is_labelled))
    sgan_acc, sgan_unl = (float(np.mean(np.asarray(model.classify(state, x)).argmax(-1) == y))
                          for x, y in ((test_images, test_labels), (unlabelled["image"], unlabelled["label"])))
    curve, base_unl = supervised_baseline(config, labelled["image"], labelled["label"], test_images, test_labels,
                                          (unlabelled["image"], unlabelled["label"]), steps)
    base_final, base_best = curve[-1], max(curve)
    return {"result": f"test accuracy ({len(test_labels)} digits), {len(labelled['label'])} labels: SGAN D "
                      f"{sgan_acc:.1%} vs the same D trained on the labels alone {base_final:.1%} "
                      f"(its best along the way {base_best:.1%}); on the {len(unlabelled['label'])} unlabelled "
                      f"training digits {sgan_unl:.1%} vs {base_unl:.1%}",
            "target": "SGAN > labels alone", "value": sgan_acc, **fd_start_end(model, config, start, state, n)}


def supervised_baseline(config, images, labels, test_images, test_labels, also: tuple, steps: int,
                        evals: int = 10) -> tuple[list, float]:
    """sgan's D (trunk + num_classes + 1 logits) trained with cross-entropy on the labelled examples only: the same
    optimizer, batch size (at most the number of labels) and number of updates. Returns (test accuracy at ``evals``
    points, the final accuracy on ``also`` = (images, labels))."""
    disc = conditional.HeadsDiscriminator((config.num_classes + 1,))
    tx = netstate.adam(config)
    net = netstate.create(disc, tx, jax.random.key(0), jnp.zeros((2, *images.shape[1:])))
    batch = min(config.batch_size, len(labels))

    @jax.jit
    def step(net, x, y, key):
        def loss_fn(params):
            (_, logits), stats = netstate.apply(disc, net, x, train=True, params=params, rngs={"dropout": key})
            return losses.classification_loss(logits, y), stats

        (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(net.params)
        return netstate.update(net, tx, grads, stats)

    @jax.jit
    def predict(net, x):
        return jnp.argmax(netstate.apply(disc, net, x, train=False)[0][1][:, :config.num_classes], -1)

    rng, curve = np.random.default_rng(0), []
    for i in range(steps):
        idx = rng.choice(len(labels), batch, replace=False)
        net = step(net, images[idx], labels[idx], jax.random.key(i))
        if (i + 1) % max(1, steps // evals) == 0 or i + 1 == steps:
            curve.append(float(np.mean(np.asarray(predict(net, test_images)) == test_labels)))
    return curve, float(np.mean(np.asarray(predict(net, also[0])) == also[1]))


def cluster_scores(clusters: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    purity = sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters)) / len(labels)
    return {"purity": float(purity), "nmi": float(normalized_mutual_info_score(labels, clusters)),
            "ari": float(adjusted_rand_score(labels, clusters))}


def eval_cluster_gan(model, config, start, state, n: int, curve: dict) -> dict:
    from sklearn.cluster import KMeans

    def kmeans_scores(train_x, test_x):  # fitted on the train split, scored on the test split
        kmeans = KMeans(config.n_c, n_init=10, random_state=0).fit(train_x.reshape(len(train_x), -1))
        return cluster_scores(kmeans.predict(test_x.reshape(len(test_x), -1)), test_labels)

    def latent(images):  # the authors' evaluation clusters E's whole code [z_n, softmax(z_c)] with k-means
        zn, zc = model.encode(state, images)
        return np.concatenate([np.asarray(zn), np.asarray(zc)], axis=1)

    (train_images, _), (test_images, test_labels) = digits(config, "train"), digits(config, "test")
    encoder = cluster_scores(np.asarray(model.cluster(state, test_images)), test_labels)
    encoder_kmeans = kmeans_scores(latent(train_images), latent(test_images))
    pixels = kmeans_scores(train_images, test_images)
    fmt = lambda s: f"purity {s['purity']:.3f}, NMI {s['nmi']:.3f}, ARI {s['ari']:.3f}"
    along = " ".join(f"{curve[s]:.3f}" for s in sorted(curve))
    if along:
        along = f"; argmax purity along the way (every {min(curve)} steps): {along}"
    return {"result": f"{len(test_labels)} test digits: encoder argmax z_c {fmt(encoder)}; k-means on E's code "
                      f"(the authors' protocol) {fmt(encoder_kmeans)}; k-means on pixels {fmt(pixels)}{along}",
            "target": "encoder > k-means on pixels", "value": max(encoder["purity"], encoder_kmeans["purity"]),
            **fd_start_end(model, config, start, state, n)}


def run(name: str, steps: int | None, n: int, max_minutes: float | None = None, overrides: dict | None = None) -> dict:
    curve = {}
    model, config, start, state, steps, epochs, wall = train(name, steps, max_minutes, overrides, curve)
    curve.pop(steps, None)  # the final figure is measured in full below
    if name in ("cgan", "acgan"):
        row = eval_class_conditional(model, config, start, state, n)
    elif name == "infogan":
        row = eval_infogan(model, config, start, state, n, curve)
    elif name == "sgan":
        row = eval_sgan(model, config, start, state, n, steps)
    else:
        row = eval_cluster_gan(model, config, start, state, n, curve)
    label = name + "".join(f" {k}={v}" for k, v in (overrides or {}).items())
    return {"model": label, "steps": steps, "epochs": epochs, "wall_s": wall, **row}


def report() -> str:
    """The table of every model with a stored result (MODELS order)."""
    rows = []
    for name in MODELS:
        plain = os.path.join(RESULTS, f"{name}.json")
        for path in sorted(glob.glob(os.path.join(RESULTS, f"{name}*.json")), key=lambda p: (p != plain, p)):
            # NAME.json, then NAME-key=value.json; never another model whose name merely starts with NAME
            if os.path.basename(path)[len(name)] in ".-":
                with open(path) as f:
                    rows.append(json.load(f))
    cols = ["model", "steps", "epochs", "wall_s", "result", "target", "fd_start", "fd_end", "fd_ratio", "machine"]
    return ("Offline MNIST (4,500 train / 500 test digits), each model's default config; FD = Frechet distance in "
            "the project classifier's feature space, n generated vs n real train digits (n in the row's result). "
            "wall_s = training wall time (compile included) on the machine named, shared with other jobs: "
            "indicative only. Grids: benchmarks/out/grids/.\n\n" + common.table(rows, cols))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    p.add_argument("--steps", type=int, default=None, help="override every model's DEFAULT_STEPS")
    p.add_argument("--n", type=int, default=1000, help="generated and real images per Frechet distance")
    p.add_argument("--max_minutes", type=float, default=None,
                   help="stop each model's training after this long (the steps reached are reported)")
    p.add_argument("--set", default="", metavar="KEY=VALUE,...",
                   help="Config overrides for every model named (e.g. arch=paper for infogan); kept apart in the table")
    p.add_argument("--out", default="conditional.md")
    args = p.parse_args(argv)
    os.makedirs(RESULTS, exist_ok=True)
    for name in common.names(p, args.models, MODELS):
        overrides = common.config_overrides(registry.get(name).Config, args.set)
        r = {**run(name, args.steps, args.n, args.max_minutes, overrides), "machine": common.machine()}
        r["result"] += f"; FD n={args.n}"
        print(f"{name}: {r['result']}; FD {r['fd_start']:.0f} -> {r['fd_end']:.1f}; {r['steps']} steps, "
              f"{r['wall_s']:.0f} s", file=sys.stderr)
        with open(os.path.join(RESULTS, f"{common.tag(name, overrides)}.json"), "w") as f:
            json.dump(r, f, indent=2)
        text = report()
        common.write(args.out, text)  # after every model: a long run's finished rows are kept
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
