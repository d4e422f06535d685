"""WGAN-div: Wu et al., "Wasserstein Divergence for GANs" (ECCV 2018).

Networks (PyTorch-GAN ``implementations/wgan_div/wgan_div.py``): gan.py's MLP generator and discriminator
(``gan_jax/nets/mlp.py``), the discriminator a critic with a raw score. Critic loss
mean(C(G(z))) - mean(C(x)) + k * mean(||grad C(x_hat)||_2^p), k = 2, p = 6, x_hat = eps x + (1 - eps) G(z) with one
eps ~ U[0, 1) per sample (``losses.wgan_div_penalty``); generator loss -mean(C(G(z))). ``n_critic`` = 5 critic
updates, each on its own batch, per generator update (``gan_jax/nets/wasserstein.py``: one train_step takes
``batch_size * n_critic`` images, see ``loader_batch_size``). Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64,
28x28 MNIST.

Deviation from PyTorch-GAN that changes the algorithm, on purpose (DESIGN.md: follow the paper): the script takes the
penalty at the real and at the generated samples separately, k/2 * mean(||grad C(x)||^p + ||grad C(G(z))||^p); we
take it at the interpolates of the paper's Algorithm 1. (The paper writes the critic with the opposite sign; the
penalty does not depend on it.) Deviations that do not: every G update follows n_critic critic updates, where the
script also updates G after the first critic update of each epoch; G gets fresh noise instead of reusing the z of
the critic step before it; one train_step (and ``sample_interval``) counts generator updates, not batches; ``k`` and
``p`` (constants in the script) are flags.

Run:    python -m gan_jax.train --model wgan_div
Result: see README.md's model table.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import struct

from gan_jax import losses
from gan_jax.nets import mlp
from gan_jax.nets import state as netstate
from gan_jax.nets import wasserstein

DATA = "images"
DESCRIPTION = "WGAN-div (Wu 2018): MLP critic with the Wasserstein-divergence penalty, n_critic updates"
# The quick CPU run, in generator updates (each after n_critic critic updates on their own batches): ~3
# minutes on a 2-core CPU (~55 ms/step measured); --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 3000


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
    n_critic: int = 5
    clip_value: float = 0.01  # a flag of the script that it never uses (no clipping in WGAN-div); kept for its CLI
    sample_interval: int = 400
    k: float = 2.0  # penalty weight and power: the script's (and the paper's) constants k = 2, p = 6
    p: float = 6.0


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


loader_batch_size = wasserstein.loader_batch_size  # the CLI sizes the loader batch with it: batch_size * n_critic


def init(rng: jax.Array, config: Config) -> State:
    g, d = mlp.create(rng, config, netstate.adam(config))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def critic_loss(critic, real, fake, key, *, k: float, p: float):
    penalty = losses.wgan_div_penalty(critic, real, fake, key, k=k, p=p)  # already weighted by k
    loss = losses.wasserstein_critic_loss(critic(real), critic(fake)) + penalty
    return loss, {"div_penalty": penalty}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """n_critic critic updates with the W-div penalty, then one G update (PyTorch-GAN's order)."""
    tx = netstate.adam(state.config)
    loss = functools.partial(critic_loss, k=state.config.k, p=state.config.p)
    return wasserstein.train_step(state, batch, rng, g_tx=tx, d_tx=tx, critic_loss=loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
