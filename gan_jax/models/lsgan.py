"""LSGAN: Mao et al., "Least Squares Generative Adversarial Networks" (2016).

Networks (PyTorch-GAN ``implementations/lsgan/lsgan.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` without
the BatchNorm before the first upsampling, and the DCGAN discriminator with a linear (unbounded) output.
Loss: least squares with the 0-1 coding, D: 1/2 [(D(x) - 1)^2 + D(G(z))^2], G: (D(G(z)) - 1)^2 (means over the
batch). Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN: ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).

Run:    python -m gan_jax.train --model lsgan
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax import losses
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets

DATA = "images"
DESCRIPTION = "Least Squares GAN (Mao 2016): DCGAN networks, least-squares loss on D's linear output"
# Clear digits: FD 550 -> 30 (18x) at 6,000 steps, 133 (4.1x) at 3,000 (benchmarks/RESULTS.md, measured on an H200,
# where the run takes ~30 s; ~30 min on an idle 2-core CPU at 0.28 s/step). --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 6000


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 1000

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


State = alternating.State


def _nets(config: Config):
    return dcgan_nets.Generator(config.img_size, config.channels, first_bn=False), dcgan_nets.Discriminator()


def g_loss(f: alternating.Forward):
    loss = losses.least_squares_g_loss(f.d_fake)
    return loss, {"g_loss": loss}


def d_loss(f: alternating.Forward):
    loss = losses.least_squares_d_loss(f.d_real, f.d_fake)
    return loss, {"d_loss": loss}


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *_nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update then one D update on the images G made before its update (PyTorch-GAN's order)."""
    return alternating.step(state, batch, rng, *_nets(state.config), g_loss, d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
