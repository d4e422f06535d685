"""BEGAN: Berthelot et al., "BEGAN: Boundary Equilibrium Generative Adversarial Networks" (2017).

Networks (PyTorch-GAN ``implementations/began/began.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` (with
the BatchNorm before the first upsampling) and an autoencoder discriminator (:class:`gan_jax.nets.dcgan.
AutoencoderDiscriminator`: conv3 stride 2 -> ReLU -> Linear 32 -> BN -> ReLU -> Linear -> BN -> ReLU -> upsample ->
conv3). The energy of an image is D's L1 reconstruction error L(x) = mean|D(x) - x|. D minimises L(x) - k L(G(z)),
G minimises L(G(z)); after each D update k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1) with gamma 0.75,
lambda_k 0.001, k_0 = 0, and M = L(x) + |gamma L(x) - L(G(z))| measures convergence (logged as ``M``, with ``k``).
Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, latent 62, 32x32 MNIST.

Deviations from PyTorch-GAN:
- began.py crashes at ``.data[0]`` on a 0-d tensor when it computes M (DESIGN.md's bug list): M is computed as
  intended, from the D step's energies, and logged.
- k is part of the State (an array updated inside ``train_step``), so it is checkpointed and resumed with the
  networks (the script keeps it in a Python float).
- ``BatchNorm2d(C, 0.8)`` / ``BatchNorm1d(32, 0.8)`` are momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).

Run:    python -m gan_jax.train --model began        (the project's quickstart: a few minutes on a laptop CPU)
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from gan_jax import losses
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "Boundary Equilibrium GAN (Berthelot 2017): autoencoder D, L1 energies, k control, convergence M"
# The quickstart: about 7 min on an idle 2-core CPU (estimated, ~0.35 s/step); recognizable digits from ~800 steps.
# --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 1200
GAMMA = 0.75  # began.py's module constants (not flags there)
LAMBDA_K = 0.001


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 62
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 400

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 4)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    k: jax.Array  # the equilibrium control variable, in [0, 1]
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return dcgan_nets.Generator(config.img_size, config.channels), dcgan_nets.AutoencoderDiscriminator(config.channels)


def g_loss(f: alternating.Forward):
    reconstruction, _ = f.d_fake
    # began.py's target is gen_imgs itself (not detached): G's gradient flows through both sides of |D(G(z)) - G(z)|.
    loss = losses.began_g_loss(losses.l1_energy(reconstruction, f.fake))
    return loss, {"g_loss": loss}


def d_loss(f: alternating.Forward, k: jax.Array):
    real_energy = jnp.mean(losses.l1_energy(f.d_real[0], f.real))
    fake_energy = jnp.mean(losses.l1_energy(f.d_fake[0], f.fake))
    loss = losses.began_d_loss(real_energy, fake_energy, k)
    return loss, {"d_loss": loss, "l_real": real_energy, "l_fake": fake_energy}


def init(rng: jax.Array, config: Config) -> State:
    g, d = alternating.init_nets(rng, config, *_nets(config))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, k=jnp.zeros((), jnp.float32), config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update, one D update (weighting L(G(z)) by the current k), then the k update from the D step's energies.
    """
    state, metrics = alternating.step(state, batch, rng, *_nets(state.config), g_loss,
                                      lambda f: d_loss(f, state.k))
    real_energy, fake_energy = metrics["l_real"], metrics["l_fake"]
    k = losses.began_k_update(state.k, real_energy, fake_energy, gamma=GAMMA, lambda_k=LAMBDA_K)
    metrics["M"] = losses.began_convergence(real_energy, fake_energy, gamma=GAMMA)
    metrics["k"] = k
    return state.replace(k=k), metrics


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
