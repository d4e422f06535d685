"""DCGAN: Radford et al., "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
Networks" (2015).

Networks (PyTorch-GAN ``implementations/dcgan/dcgan.py``, shared in :mod:`gan_jax.nets.dcgan`): G projects z to
128 x (s/4)^2, then BN, two [nearest upsample x2 -> conv3 -> BN -> LeakyReLU 0.2] blocks (128, 64 filters) and a conv3
to the image with tanh; D is four [conv3 stride 2 -> LeakyReLU 0.2 -> Dropout2d 0.25 -> BN (not the first)] blocks
(16, 32, 64, 128 filters) and one linear logit. Loss: binary cross-entropy, G's in the non-saturating form.
Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN: D emits a logit and the loss applies the sigmoid (its Sigmoid + BCELoss, fused for
stability); ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).

Run:    python -m gan_jax.train --model dcgan
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets

DATA = "images"
DESCRIPTION = "Deep Convolutional GAN (Radford 2015): conv G and D, BCE loss"
# The quick CPU run, about 12 min on an idle 2-core CPU (estimated, ~0.35 s/step): rough but recognizable digits.
# --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 2000


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
    sample_interval: int = 400

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


State = alternating.State


def _nets(config: Config):
    return dcgan_nets.Generator(config.img_size, config.channels), dcgan_nets.Discriminator()


g_loss = alternating.nonsaturating_g_loss
d_loss = alternating.minimax_d_loss


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *_nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update then one D update on the images G made before its update (PyTorch-GAN's order)."""
    return alternating.step(state, batch, rng, *_nets(state.config), g_loss, d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
