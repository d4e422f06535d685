"""GAN: Goodfellow et al., "Generative Adversarial Networks" (2014).

Networks (PyTorch-GAN ``implementations/gan/gan.py``): an MLP generator latent -> 128 -> 256 -> 512 -> 1024 -> image
(LeakyReLU 0.2, BatchNorm after every hidden layer but the first, tanh output) and an MLP discriminator
image -> 512 -> 256 -> 1 (LeakyReLU 0.2), both in ``gan_jax/nets/mlp.py`` (shared with wgan, wgan_gp, wgan_div, bgan,
softmax_gan). Loss: binary cross-entropy, the generator's in the non-saturating form.
Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 28x28 MNIST.

Run:    python -m gan_jax.train --model gan
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax.nets import alternating, mlp

DATA = "images"
DESCRIPTION = "Vanilla GAN (Goodfellow 2014): MLP generator and discriminator, BCE loss"
DEFAULT_STEPS = 20000  # the quick CPU run: about 2 minutes on a 2-core laptop (~6 ms a step); --n_epochs 200 is PyTorch-GAN's length


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    img_size: int = 28
    channels: int = 1
    sample_interval: int = 400


State = alternating.State


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *mlp.nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update then one D update, in PyTorch-GAN's order (D sees the images G made before its update)."""
    return alternating.step(state, batch, rng, *mlp.nets(state.config), alternating.nonsaturating_g_loss,
                            alternating.minimax_d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
