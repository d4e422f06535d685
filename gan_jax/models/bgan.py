"""BGAN: Hjelm et al., "Boundary-Seeking Generative Adversarial Networks" (ICLR 2018).

Networks (PyTorch-GAN ``implementations/bgan/bgan.py``): gan.py's MLP generator and discriminator
(``gan_jax/nets/mlp.py``). The discriminator trains with binary cross-entropy; the generator with the boundary-seeking
loss 1/2 mean((log D(G(z)) - log(1 - D(G(z))))^2) = 1/2 mean(logit(G(z))^2), which pulls generated samples to D's
decision boundary (``losses.boundary_seeking_g_loss``). Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 28x28
MNIST.

Deviations from PyTorch-GAN: its script loops over an undefined ``mnist_loader`` (it never ran as written): we port
the intent, its ``dataloader``. Its discriminator ends in Sigmoid and the G loss takes logs of the probabilities
(infinite once D saturates); ours emits logits and both losses are computed on them, exactly and stably.

Run:    python -m gan_jax.train --model bgan
Result: see README.md's model table.
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
DESCRIPTION = "Boundary-seeking GAN (Hjelm 2018): MLP G and D, boundary-seeking G loss, BCE for D"
# The quick CPU run: ~2 minutes on a 2-core CPU (~15 ms/step measured); --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 8000


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
        return losses.boundary_seeking_g_loss(logits), (fake, g_stats)

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
