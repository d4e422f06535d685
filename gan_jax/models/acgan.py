"""ACGAN: Odena et al., "Conditional Image Synthesis With Auxiliary Classifier GANs" (2016).

Networks (PyTorch-GAN ``implementations/acgan/acgan.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` on
embedding(label) * z (``nn.Embedding(n_classes, latent_dim)``, an elementwise product); the DCGAN discriminator
trunk with two heads (:class:`gan_jax.nets.conditional.HeadsDiscriminator`): a validity logit and n_classes class
logits. Loss: G 1/2 [BCE(D(G(z, y')), 1) + CE(C(G(z, y')), y')]; D 1/2 of the real term 1/2 [BCE(D(x), 1) +
CE(C(x), y)] and the fake term 1/2 [BCE(D(G), 0) + CE(C(G), y')]: D learns to classify both real and generated
images, G to make images of the asked class y'. Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999)
for both, batch 64, 32x32 MNIST. Logged: ``d_acc``, the class head's accuracy on the real and fake batch (as the
script prints).

Deviations from PyTorch-GAN (DESIGN.md's bug list): its class head ends in Softmax and its loss is CrossEntropyLoss,
a second softmax; here the head emits logits and ``losses.classification_loss`` applies the softmax once (likewise
D's Sigmoid + BCELoss is one BCE on the logit). ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5.

Run:    python -m gan_jax.train --model acgan
        python -m gan_jax.sample --run runs/acgan --labels 0,1,2,3,4,5,6,7,8,9 --n 100 --cols 10
Result: ``python -m benchmarks.conditional --models acgan`` (benchmarks/out/conditional.md): the project classifier's
        accuracy on samples of each requested class, and the Frechet distance at start and end.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_jax import losses
from gan_jax.nets import alternating, conditional
from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import state as netstate

DATA = "labelled"
DESCRIPTION = "Auxiliary Classifier GAN (Odena 2016): DCGAN nets, D also classifies real and generated digits"
DEFAULT_STEPS = 1500  # the quick CPU run (every class readable); --n_epochs 200 is PyTorch-GAN's length
GRID_COLS = 10  # sample grids: one row per class
N_SAMPLES = 100


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    n_classes: int = 10
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 400

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


State = alternating.State


class Generator(nn.Module):
    n_classes: int
    latent_dim: int
    img_size: int
    channels: int

    @nn.compact
    def __call__(self, z, labels, train: bool):
        gen_input = conditional.embedding(self.n_classes, self.latent_dim)(labels) * z
        return dcgan_nets.Generator(self.img_size, self.channels)(gen_input, train)


def _nets(config: Config):
    gen = Generator(config.n_classes, config.latent_dim, config.img_size, config.channels)
    return gen, conditional.HeadsDiscriminator((config.n_classes,))


def _inputs(key: jax.Array, n: int, config: Config) -> dict:
    return conditional.z_and_labels(key, n, config.latent_dim, config.n_classes)


def g_loss(f: conditional.Forward):
    validity, class_logits = f.d_fake
    loss = 0.5 * (losses.nonsaturating_g_loss(validity) + losses.classification_loss(class_logits, f.inputs["labels"]))
    return loss, {"g_loss": loss}


def d_loss(f: conditional.Forward):
    (real_validity, real_logits), (fake_validity, fake_logits) = f.d_real, f.d_fake
    labels, gen_labels = f.batch["label"], f.inputs["labels"]
    real_loss = 0.5 * (losses.bce_with_logits(real_validity, 1.0) + losses.classification_loss(real_logits, labels))
    fake_loss = 0.5 * (losses.bce_with_logits(fake_validity, 0.0)
                       + losses.classification_loss(fake_logits, gen_labels))
    correct = jnp.concatenate([jnp.argmax(real_logits, -1) == labels, jnp.argmax(fake_logits, -1) == gen_labels])
    return 0.5 * (real_loss + fake_loss), {"d_loss": 0.5 * (real_loss + fake_loss), "d_acc": jnp.mean(correct)}


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    g_key, d_key = jax.random.split(rng)
    tx = netstate.adam(config)
    g = netstate.create(gen, tx, g_key, z=jnp.zeros((2, config.latent_dim)), labels=jnp.zeros((2,), jnp.int32))
    d = netstate.create(disc, tx, d_key, jnp.zeros((2, config.img_size, config.img_size, config.channels)))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update on uniform labels, then one D update on the real batch (with its labels) and G's images."""
    config = state.config
    return conditional.step(state, batch, rng, *_nets(config), lambda k, n: _inputs(k, n, config), g_loss, d_loss)


def generate(state: State, rng: jax.Array, n: int, labels=None) -> jax.Array:
    """``n`` images in [-1, 1], NHWC, of the classes ``labels`` (int or ints [n] in [0, n_classes); default uniform).
    """
    config = state.config
    inputs = _inputs(rng, n, config)
    if labels is not None:
        inputs["labels"] = conditional.check_labels(labels, n, config.n_classes)
    return conditional.generate(_nets(config)[0], state.g, inputs)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The training grid: one row per class, ``GRID_COLS`` samples each."""
    labels = conditional.class_rows(state.config.n_classes, GRID_COLS)
    return generate(state, rng, len(labels), labels=labels)
