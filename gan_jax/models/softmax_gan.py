"""Softmax GAN: Min Lin, "Softmax GAN" (2017).

Networks (PyTorch-GAN ``implementations/softmax_gan/softmax_gan.py``): gan.py's MLP generator and discriminator
(``gan_jax/nets/mlp.py``), the discriminator emitting an energy D(x) (no sigmoid). Over the batch B = B+ u B-
(real and generated), with Z_B = sum_B exp(-D(x)): D minimizes mean_{B+} D(x) + log Z_B (softmax cross-entropy with
target 1/|B+| on the real samples), G minimizes mean_B D(x) + log Z_B (target 1/|B| on every sample)
(``losses.softmax_gan_d_loss`` / ``softmax_gan_g_loss``). Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64,
28x28 MNIST.

Order of updates, as the script's: D steps first, then G's loss goes through the D just updated. The script does
that by back-propagating G's loss through D's weights already changed in place (PyTorch of its time allowed it;
current PyTorch raises, DESIGN.md's bug list); we compute D's energies again with the updated D. This order
matters: updating both from the same pre-step networks (a simultaneous update, which this port first used) mode-
collapses on MNIST (FD 932 -> 376 in 20,000 steps, recall 0.002), the script's order does not (932 -> 111, recall
0.46; benchmarks/RESULTS.md).

Deviations from PyTorch-GAN: its G also received the gradient of D's loss (the generated images were not detached
and G's gradients were zeroed before D's backward pass); ours receives only its own loss's gradient (tried: with
both, FD 932 -> 472 in 8,000 steps). Its log(Z + 1e-8) is an exact logsumexp here. Its discriminator's input width
is img_size ** 2 (MNIST's one channel only); ours flattens all channels.

Run:    python -m gan_jax.train --model softmax_gan
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
DESCRIPTION = "Softmax GAN (Lin 2017): MLP G and D, softmax cross-entropy over the real and generated batch"
# The quick CPU run: ~2-4 minutes on a 2-core CPU; --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 20000


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
    """D steps on real vs generated, then G steps on its loss through the updated D (the script's order)."""
    config = state.config
    gen, disc = mlp.nets(config)
    tx = netstate.adam(config)
    real_BxHxWxC = batch["image"]
    z = netstate.latent(rng, real_BxHxWxC.shape[0], config.latent_dim)
    fake, _ = netstate.apply(gen, state.g, z, train=True)
    fake = jax.lax.stop_gradient(fake)

    def d_loss_fn(d_params):
        real_energy, _ = netstate.apply(disc, state.d, real_BxHxWxC, train=True, params=d_params)
        fake_energy, _ = netstate.apply(disc, state.d, fake, train=True, params=d_params)
        return losses.softmax_gan_d_loss(real_energy, fake_energy)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    real_energy, _ = netstate.apply(disc, d, real_BxHxWxC, train=True)  # a constant for G's gradient

    def g_loss_fn(g_params):
        fake, g_stats = netstate.apply(gen, state.g, z, train=True, params=g_params)
        fake_energy, _ = netstate.apply(disc, d, fake, train=True)
        return losses.softmax_gan_g_loss(real_energy, fake_energy), g_stats

    (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss}


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
