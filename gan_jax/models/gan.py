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
import jax.numpy as jnp
from flax import struct

from gan_jax import losses
from gan_jax.nets import mlp
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "Vanilla GAN (Goodfellow 2014): MLP generator and discriminator, BCE loss"
DEFAULT_STEPS = 3000  # the quick CPU run: about 2 minutes on a 2-core laptop; --n_epochs 200 is PyTorch-GAN's length


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


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def init(rng: jax.Array, config: Config) -> State:
    g, d = mlp.create(rng, config, netstate.adam(config))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update then one D update, in PyTorch-GAN's order (D sees the images G made before its update)."""
    config = state.config
    gen, disc = mlp.nets(config)
    tx = netstate.adam(config)
    real_BxHxWxC = batch["image"]
    z = netstate.latent(rng, real_BxHxWxC.shape[0], config.latent_dim)

    def g_loss_fn(g_params):
        fake, g_stats = netstate.apply(gen, state.g, z, train=True, params=g_params)
        logits, _ = netstate.apply(disc, state.d, fake, train=True)
        return losses.nonsaturating_g_loss(logits), (fake, g_stats)

    (g_loss, (fake, g_stats)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    fake = jax.lax.stop_gradient(fake)

    def d_loss_fn(d_params):
        real_logits, _ = netstate.apply(disc, state.d, real_BxHxWxC, train=True, params=d_params)
        fake_logits, _ = netstate.apply(disc, state.d, fake, train=True, params=d_params)
        return losses.minimax_d_loss(real_logits, fake_logits)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss}


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
