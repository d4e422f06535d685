"""The MLP generator and discriminator of PyTorch-GAN's gan.py, shared verbatim by its MLP siblings
(wgan, wgan_gp, wgan_div, bgan, softmax_gan).

Generator: latent -> 128 -> 256 -> 512 -> 1024 -> image (LeakyReLU 0.2, BatchNorm after every hidden layer but the
first, tanh output). Discriminator: image -> 512 -> 256 -> 1 (LeakyReLU 0.2), emitting a raw score: a logit where the
script ends in Sigmoid (gan, bgan: the sigmoid is fused into the loss for stability), a critic value or an energy
elsewhere.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from gan_jax.nets import alternating, layers


class Generator(nn.Module):
    img_shape: tuple[int, int, int]

    @nn.compact
    def __call__(self, z, train: bool):
        x = z
        for i, width in enumerate((128, 256, 512, 1024)):
            x = layers.Dense(width)(x)
            if i > 0:
                x = layers.batch_norm(train)(x)
            x = nn.leaky_relu(x, 0.2)
        x = jnp.tanh(layers.Dense(int(np.prod(self.img_shape)))(x))
        return x.reshape((z.shape[0], *self.img_shape))


class Discriminator(nn.Module):
    @nn.compact
    def __call__(self, img, train: bool):
        x = img.reshape((img.shape[0], -1))
        x = nn.leaky_relu(layers.Dense(512)(x), 0.2)
        x = nn.leaky_relu(layers.Dense(256)(x), 0.2)
        return layers.Dense(1)(x)[:, 0]  # one raw score per image, shape (N,)


def nets(config) -> tuple[Generator, Discriminator]:
    """The pair for a config with ``img_size`` and ``channels``."""
    return Generator((config.img_size, config.img_size, config.channels)), Discriminator()


def create(rng, config, g_tx, d_tx=None):
    """Initialised (generator, discriminator) train states; ``d_tx`` defaults to ``g_tx``."""
    return alternating.init_nets(rng, config, *nets(config), g_tx, d_tx)


def generate(state, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC, from ``state.g`` (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, nets(state.config)[0])
