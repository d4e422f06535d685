"""PixelDA: Bousmalis et al., "Unsupervised Pixel-Level Domain Adaptation with Generative Adversarial Networks" (2016).

A generator translates labelled source images (MNIST) into the unlabelled target domain (MNIST-M) at the pixel
level; a discriminator learns real target images from translated ones; a task classifier learns the digit from the
translated images (and the source images), so it works on the target domain without ever seeing a target label.

Networks (PyTorch-GAN ``implementations/pixelda/pixelda.py``): G takes the source image and a noise image
(Linear(z -> C s^2), z ~ U(-1, 1)^10) stacked on the channels, conv3 64 -> ReLU, ``n_residual_blocks`` residual
blocks (conv3 -> BN -> ReLU -> conv3 -> BN, + x), conv3 C -> tanh. D is a PatchGAN (four [conv3 stride 2 -> LeakyReLU
0.2 -> InstanceNorm (not the first)] blocks of 64..512 filters, then conv3 -> one score per s/16 patch,
:mod:`gan_jax.nets.patchgan`); the classifier is the same four blocks and a Linear to ``n_classes``. Losses: G and
the classifier together minimise MSE(D(G(x, z)), 1) + 0.1 * (CE(C(G(x, z)), y) + CE(C(x), y)) / 2; D minimises the
least-squares loss on target images vs translated ones. Init: ``weights_init_normal`` (convolutions N(0, 0.02), BN
scale N(1, 0.02)); Linear layers keep PyTorch's default. Adam(2e-4, 0.5, 0.999), batch 64, 32x32 RGB.

Deviations from PyTorch-GAN:
- the classifier emits logits; the script ends it in Softmax and then applies CrossEntropyLoss (a second softmax,
  the ACGAN bug of DESIGN.md's list).
- G and the classifier keep one Adam state each (the script chains them into one Adam: the same update).
- the noise image is the Linear's output reshaped NHWC (the script views it NCHW): a permutation of the Linear's
  rows, the same family of functions.
- ``translate`` runs G's BatchNorm on its running averages (the script only ever runs G in train mode).

Run:    python -m gan_jax.train --model pixelda   (data: MNIST -> MNIST-M built offline, gan_jax/data/kinds/mnistm.py)
Result: ``python -m benchmarks.domain --models pixelda``: the task classifier's accuracy on the MNIST-M test set
        against a source-only classifier's (PyTorch-GAN reports ~95% vs ~55%; the paper 98.2% vs 63.6%); see
        benchmarks/out/domain.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, patchgan
from gan_jax.nets import state as netstate

DATA = "mnistm"
DEFAULT_DATASET = "mnistm"
DESCRIPTION = "PixelDA (Bousmalis 2016): MNIST -> MNIST-M pixel-level domain adaptation with a task classifier"
DEFAULT_STEPS = 150  # the quick CPU run (about 5 minutes on 2 cores: ~2 s a step); --n_epochs 200 is PyTorch-GAN's
N_SAMPLES = 8  # grid rows: source | translated | target examples
GRID_COLS = 8
LAMBDA_ADV = 1.0  # pixelda.py's loss weights (not flags there)
LAMBDA_TASK = 0.1


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    n_residual_blocks: int = 6
    latent_dim: int = 10
    img_size: int = 32
    channels: int = 3
    n_classes: int = 10
    sample_interval: int = 300

    def validate(self):
        patchgan.check_input_size(self.img_size, (2, 2, 2, 2), "img_size")  # 32 at least
        if self.n_residual_blocks < 0:
            raise ValueError(f"--n_residual_blocks must be >= 0, got {self.n_residual_blocks}")


class ResidualBlock(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        # nn.BatchNorm2d(64): PyTorch's default momentum 0.1 (Flax 0.9)
        y = layers.dcgan_conv(64, 3, padding=1)(x)
        y = nn.relu(layers.batch_norm(train, momentum=0.9, scale_init=layers.bn_scale_normal)(y))
        y = layers.dcgan_conv(64, 3, padding=1)(y)
        return x + layers.batch_norm(train, momentum=0.9, scale_init=layers.bn_scale_normal)(y)


class Generator(nn.Module):
    """(source image, z) -> translated image."""

    n_residual_blocks: int

    @nn.compact
    def __call__(self, img, z, train: bool):
        n, h, w, c = img.shape
        noise = layers.Dense(h * w * c, name="fc")(z).reshape((n, h, w, c))
        x = nn.relu(layers.dcgan_conv(64, 3, padding=1)(jnp.concatenate([img, noise], axis=-1)))
        for _ in range(self.n_residual_blocks):
            x = ResidualBlock()(x, train)
        return jnp.tanh(layers.dcgan_conv(c, 3, padding=1)(x))


class Classifier(nn.Module):
    """Image -> class logits (pixelda.py's four conv blocks and a Linear; its Softmax is left to the loss)."""

    n_classes: int

    @nn.compact
    def __call__(self, img, train: bool = True):
        x = patchgan.ConvStack(strides=(2, 2, 2, 2), norm_first=False)(img)
        return layers.Dense(self.n_classes)(x.reshape((x.shape[0], -1)))


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    c: netstate.Net  # the task classifier
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return Generator(config.n_residual_blocks), Classifier(config.n_classes), patchgan.pixelda_discriminator()


def init(rng: jax.Array, config: Config) -> State:
    gen, clf, disc = _nets(config)
    tx = netstate.adam(config)
    g_key, c_key, d_key = jax.random.split(rng, 3)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    z = jnp.zeros((2, config.latent_dim))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, img, z),
                 c=netstate.create(clf, tx, c_key, img), d=netstate.create(disc, tx, d_key, img), config=config)


def noise(rng: jax.Array, n: int, config: Config) -> jax.Array:
    """z ~ U(-1, 1)^latent_dim (pixelda.py's ``np.random.uniform(-1, 1, ...)``)."""
    return jax.random.uniform(rng, (n, config.latent_dim), jnp.float32, -1.0, 1.0)


def source_labels(batch: dict) -> jax.Array:
    if "label_a" not in batch:
        raise ValueError("pixelda trains its task classifier on labelled source images: the batch needs 'label_a' "
                         "(use a dataset of the 'mnistm' kind, whose source domain is labelled MNIST)")
    return batch["label_a"]


def generator_losses(state: State, params: tuple, images_a: jax.Array, labels_a: jax.Array, z: jax.Array):
    """The objective of G and the task classifier at ``params`` = (G params, classifier params).

    Returns ``(loss, aux)``: loss = LAMBDA_ADV * MSE(D(G(x, z)), 1) + LAMBDA_TASK * task, where task =
    (CE(C(G(x, z)), y) + CE(C(x), y)) / 2: the classifier sees the translated images, so the task loss depends on G.
    """
    gen, clf, disc = _nets(state.config)
    g_params, c_params = params
    fake_b, g_stats = netstate.apply(gen, state.g, images_a, z, train=True, params=g_params)
    logits_fake, _ = netstate.apply(clf, state.c, fake_b, train=True, params=c_params)
    logits_source, _ = netstate.apply(clf, state.c, images_a, train=True, params=c_params)
    task = 0.5 * (losses.classification_loss(logits_fake, labels_a)
                  + losses.classification_loss(logits_source, labels_a))
    adv = losses.least_squares_g_loss(netstate.apply(disc, state.d, fake_b, train=True)[0])
    loss = LAMBDA_ADV * adv + LAMBDA_TASK * task
    return loss, {"fake_b": fake_b, "g_stats": g_stats, "task": task, "adv": adv, "logits_fake": logits_fake}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of G and the classifier, then one D update (target images vs the translations of that update)."""
    config = state.config
    gen, clf, disc = _nets(config)
    tx = netstate.adam(config)
    images_a, labels_a, images_b = batch["image_a"], source_labels(batch), batch["image_b"]
    z = noise(rng, images_a.shape[0], config)

    (g_loss, aux), (g_grads, c_grads) = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, (state.g.params, state.c.params), images_a, labels_a, z)
    g = netstate.update(state.g, tx, g_grads, aux["g_stats"])
    c = netstate.update(state.c, tx, c_grads)
    fake_b = jax.lax.stop_gradient(aux["fake_b"])

    def d_loss_fn(d_params):
        real_scores, _ = netstate.apply(disc, state.d, images_b, train=True, params=d_params)
        fake_scores, _ = netstate.apply(disc, state.d, fake_b, train=True, params=d_params)
        return losses.least_squares_d_loss(real_scores, fake_scores)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    metrics = {"d_loss": d_loss, "g_loss": g_loss, "task_loss": aux["task"],
               "clf_acc": jnp.mean(jnp.argmax(aux["logits_fake"], -1) == labels_a)}
    if "label_b" in batch:  # the script's target accuracy (monitoring only: B's labels never reach a loss)
        logits_b, _ = netstate.apply(clf, c, images_b, train=True)
        metrics["target_acc"] = jnp.mean(jnp.argmax(logits_b, -1) == batch["label_b"])
    return state.replace(step=state.step + 1, g=g, c=c, d=d), metrics


def translate(state: State, images_a: jax.Array, rng: jax.Array) -> jax.Array:
    """Source images [N, s, s, C] in [-1, 1] -> their translations to the target domain (fresh noise from ``rng``)."""
    gen, _, _ = _nets(state.config)
    z = noise(rng, images_a.shape[0], state.config)
    return netstate.apply(gen, state.g, images_a, z, train=False)[0]


def classify(state: State, images: jax.Array) -> jax.Array:
    """The task classifier's logits [N, n_classes] (for target images: the adapted classifier)."""
    _, clf, _ = _nets(state.config)
    return netstate.apply(clf, state.c, images, train=False)[0]


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The engine's grid: a row of source images, their translations, and a row of real target images."""
    images_a = batch["image_a"]
    return jnp.concatenate([images_a, translate(state, images_a, rng), batch["image_b"]])
