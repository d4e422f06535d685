"""Train the metrics classifier (gan_jax.metrics.classifier.MnistCNN) on the offline MNIST train split.

    python -m gan_jax.metrics.train_classifier [--seed 0] [--out PATH] [--epochs 20]

Adam with a cosine-decayed learning rate, random shifts of up to 2 pixels, dropout before the last layer. All
randomness (init, shuffling, shifts, dropout) comes from `jax.random.key(seed)`, so the same seed on the same device
rebuilds the same weights. Writes msgpack weights (default: the shipped
gan_jax/metrics/weights/mnist_classifier.msgpack).

Measured (seed 0, defaults: 20 epochs, 900 steps, 188,234 params, 1-2 minutes on a 2-core CPU): test accuracy
0.9800 (490/500) on the 500 held-out digits; rerunning it on the same machine writes the same bytes
(753 kB).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data.offline import mnist
from gan_jax.metrics.classifier import DEFAULT_WEIGHTS, MnistCNN, init_params, load_classifier, save_params


def random_shift(rng: jax.Array, x_BxHxWxC: jax.Array, max_shift: int) -> jax.Array:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift], filling with background (-1)."""
    b, h, w, c = x_BxHxWxC.shape
    padded = jnp.pad(x_BxHxWxC, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)),
                     constant_values=-1.0)
    offsets_Bx2 = jax.random.randint(rng, (b, 2), 0, 2 * max_shift + 1)
    crop = lambda img, off: jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, c))
    return jax.vmap(crop)(padded, offsets_Bx2)


def make_train_step(tx: optax.GradientTransformation, max_shift: int):
    module = MnistCNN()

    @jax.jit
    def train_step(params, opt_state, x_BxHxWx1, y_B, rng):
        shift_rng, dropout_rng = jax.random.split(rng)
        x = random_shift(shift_rng, x_BxHxWx1, max_shift)

        def loss_fn(p):
            logits, _ = module.apply({"params": p}, x, train=True, rngs={"dropout": dropout_rng})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y_B).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step


def train(seed: int = 0, epochs: int = 20, batch_size: int = 100, lr: float = 2e-3, max_shift: int = 2,
          log=print) -> dict:
    images, labels = mnist("train")
    x_Nx28x28x1 = images.astype(np.float32) / 127.5 - 1.0
    steps_per_epoch = len(labels) // batch_size
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps_per_epoch))
    init_rng, shuffle_rng, step_rng = jax.random.split(jax.random.key(seed), 3)
    params = init_params(init_rng)
    opt_state = tx.init(params)
    train_step = make_train_step(tx, max_shift)
    step = 0
    for epoch in range(epochs):
        start, losses = time.time(), []
        order = np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_rng, epoch), len(labels)))
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            params, opt_state, loss = train_step(params, opt_state, x_Nx28x28x1[idx], labels[idx],
                                                 jax.random.fold_in(step_rng, step))
            losses.append(loss)
            step += 1
        log(f"epoch {epoch + 1}/{epochs}: loss {float(np.mean(losses)):.4f} ({time.time() - start:.1f}s)")
    return params


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_WEIGHTS, help="where to write the msgpack weights")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args(argv)

    params = train(seed=args.seed, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    save_params(params, args.out)
    clf = load_classifier(args.out)  # read back what was written, so the reported accuracy is the file's
    images, labels = mnist("test")
    accuracy = float(np.mean(clf.predict(images.astype(np.float32) / 127.5 - 1.0) == labels))
    print(f"params: {clf.num_params:,}; test accuracy {accuracy:.4f} "
          f"({int(round(accuracy * len(labels)))}/{len(labels)}); wrote {args.out}")


if __name__ == "__main__":
    main()
