"""CGAN: Mirza & Osindero, "Conditional Generative Adversarial Nets" (2014).

Networks (PyTorch-GAN ``implementations/cgan/cgan.py``): the generator is gan.py's MLP (``gan_jax/nets/mlp.py``:
-> 128 -> 256 -> 512 -> 1024 -> image, LeakyReLU 0.2, BatchNorm after every hidden layer but the first, tanh) on
[embedding(label), z], the embedding ``nn.Embedding(n_classes, n_classes)``. The discriminator is an MLP on
[flattened image, embedding(label)] -> 512 -> 512 -> 512 -> 1 (LeakyReLU 0.2, Dropout 0.4 after the second and third
Linear), a raw score. Loss: least squares (the script's MSELoss against 1/0): G (D(G(z, y), y) - 1)^2, D
1/2 [(D(x, y) - 1)^2 + D(G(z, y'), y')^2], y the data's labels, y' uniform. PyTorch initialisation.
Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN: ``BatchNorm1d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list); the image
is flattened NHWC (PyTorch: NCHW), a permutation of D's first Linear rows (the same for 1 channel).

Run:    python -m gan_jax.train --model cgan
        python -m gan_jax.sample --run runs/cgan --labels 0,1,2,3,4,5,6,7,8,9 --n 100 --cols 10
Result: ``python -m benchmarks.conditional --models cgan`` (benchmarks/out/conditional.md): the project classifier's
        accuracy on samples of each requested class, and the Frechet distance at start and end.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_jax import losses
from gan_jax.nets import alternating, conditional, layers, mlp
from gan_jax.nets import state as netstate

DATA = "labelled"
DESCRIPTION = "Conditional GAN (Mirza 2014): MLP G and D on label embeddings, least-squares loss"
DEFAULT_STEPS = 10000  # the quick CPU run (an MLP: cheap steps); --n_epochs 200 is PyTorch-GAN's length
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


State = alternating.State


class Generator(nn.Module):
    n_classes: int
    img_shape: tuple[int, int, int]

    @nn.compact
    def __call__(self, z, labels, train: bool):
        gen_input = jnp.concatenate([conditional.embedding(self.n_classes, self.n_classes)(labels), z], axis=-1)
        return mlp.Generator(self.img_shape)(gen_input, train)


class Discriminator(nn.Module):
    n_classes: int

    @nn.compact
    def __call__(self, img, labels, train: bool):
        x = jnp.concatenate([img.reshape((img.shape[0], -1)),
                             conditional.embedding(self.n_classes, self.n_classes)(labels)], axis=-1)
        x = nn.leaky_relu(layers.Dense(512)(x), 0.2)
        for _ in range(2):
            x = nn.Dropout(0.4, deterministic=not train)(layers.Dense(512)(x))
            x = nn.leaky_relu(x, 0.2)
        return layers.Dense(1)(x)[:, 0]


def _nets(config: Config):
    img_shape = (config.img_size, config.img_size, config.channels)
    return Generator(config.n_classes, img_shape), Discriminator(config.n_classes)


def _inputs(key: jax.Array, n: int, config: Config) -> dict:
    return conditional.z_and_labels(key, n, config.latent_dim, config.n_classes)


def g_loss(f: conditional.Forward):
    loss = losses.least_squares_g_loss(f.d_fake)
    return loss, {"g_loss": loss}


def d_loss(f: conditional.Forward):
    loss = losses.least_squares_d_loss(f.d_real, f.d_fake)
    return loss, {"d_loss": loss}


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    g_key, d_key = jax.random.split(rng)
    tx = netstate.adam(config)
    labels = jnp.zeros((2,), jnp.int32)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    g = netstate.create(gen, tx, g_key, z=jnp.zeros((2, config.latent_dim)), labels=labels)
    d = netstate.create(disc, tx, d_key, img, labels)
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update on uniform labels, then one D update on (real image, its label) and (G's image, G's label)."""
    config = state.config
    return conditional.step(state, batch, rng, *_nets(config), lambda k, n: _inputs(k, n, config), g_loss, d_loss,
                            d_takes_label=True)


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
