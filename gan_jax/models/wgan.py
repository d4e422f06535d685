"""WGAN: Arjovsky, Chintala & Bottou, "Wasserstein GAN" (2017).

Networks (PyTorch-GAN ``implementations/wgan/wgan.py``): gan.py's MLP generator and discriminator
(``gan_jax/nets/mlp.py``), the discriminator a critic with a raw score. Critic loss mean(C(G(z))) - mean(C(x)),
generator loss -mean(C(G(z))); after every critic update all critic parameters (weights and biases) are clipped to
[-clip_value, clip_value]. ``n_critic`` = 5 critic updates, each on its own batch, per generator update
(``gan_jax/nets/wasserstein.py``: one train_step takes ``batch_size * n_critic`` images, see ``loader_batch_size``).
Optimizer: RMSprop(5e-5) for both, batch 64, 28x28 MNIST.

Deviations from PyTorch-GAN (none change the algorithm): every G update follows n_critic critic updates, where the
script also updates G after the first critic update of each epoch; G gets fresh noise instead of reusing the z of
the critic step before it; one train_step (and ``sample_interval``) counts generator updates, not batches.

Run:    python -m gan_jax.train --model wgan
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
from gan_jax.nets import wasserstein

DATA = "images"
DESCRIPTION = "Wasserstein GAN (Arjovsky 2017): MLP critic with weight clipping, RMSprop, n_critic updates"
# The quick CPU run, in generator updates (each after n_critic critic updates on their own batches): ~3-5
# minutes on a 2-core CPU (~15-28 ms/step measured); FD falls 9.8x in it. --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 12000


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.00005
    latent_dim: int = 100
    img_size: int = 28
    channels: int = 1
    n_critic: int = 5
    clip_value: float = 0.01
    sample_interval: int = 400


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


loader_batch_size = wasserstein.loader_batch_size  # the CLI sizes the loader batch with it: batch_size * n_critic


def init(rng: jax.Array, config: Config) -> State:
    g, d = mlp.create(rng, config, netstate.rmsprop(config.lr))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def critic_loss(critic, real, fake, key):
    del key  # no randomness besides the noise
    return losses.wasserstein_critic_loss(critic(real), critic(fake)), {}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """n_critic critic updates, each followed by weight clipping, then one G update (PyTorch-GAN's order)."""
    tx = netstate.rmsprop(state.config.lr)
    clip = state.config.clip_value

    def clip_weights(params):
        return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)

    return wasserstein.train_step(state, batch, rng, g_tx=tx, d_tx=tx, critic_loss=critic_loss,
                                  constrain=clip_weights)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
