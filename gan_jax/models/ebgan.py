"""EBGAN: Zhao et al., "Energy-based Generative Adversarial Network" (2016), with the pull-away term (EBGAN-PT).

Networks (PyTorch-GAN ``implementations/ebgan/ebgan.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` without
the BatchNorm before the first upsampling, and the autoencoder discriminator shared with began
(:class:`gan_jax.nets.dcgan.AutoencoderDiscriminator`), whose 32-d bottleneck is the embedding S. The energy of an
image is D's MSE reconstruction error. D minimises L(x) + max(0, m - L(G(z))), margin m = max(1, batch_size / 64);
G minimises L(G(z)) + 0.1 PT(S(G(z))).
Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, latent 62, 32x32 MNIST.

Deviations from PyTorch-GAN:
- G's energy ||D(G(z)) - G(z)||^2 is differentiated through both sides, as the paper's L_G = D(G(z)); ebgan.py
  detaches the target G(z), so G only moves through D's Jacobian. With the BatchNorm fix below, that G collapsed to
  a blank (all-white) image within ~150 steps on MNIST in every run we tried (1500 and 3000 steps, squared or
  unsquared pull-away term), while the paper's energy learns digits (3000 steps, on a GPU, same seed).
- the pull-away term squares the cosine similarities, as the paper's eq. 6 (ebgan.py sums them unsquared, which
  rewards anti-aligned rather than orthogonal embeddings): :func:`gan_jax.losses.pullaway_term`.
- ``BatchNorm2d(C, 0.8)`` / ``BatchNorm1d(32, 0.8)`` are momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).
Kept from the script (not the paper): the margin hinge on the batch-mean energy, not per sample.

Run:    python -m gan_jax.train --model ebgan
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets

DATA = "images"
DESCRIPTION = "Energy-Based GAN (Zhao 2016): autoencoder D, MSE energy, margin loss, pull-away term"
# Clear digits: FD 550 -> 61 (9.0x) at 6,000 steps, 115 (4.8x) at 2,000 (benchmarks/RESULTS.md; ~30 min on an idle
# 2-core CPU at 0.32 s/step, well under a minute on a GPU). --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 6000
LAMBDA_PT = 0.1  # ebgan.py's module constant (not a flag there)


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

    @property
    def margin(self) -> float:
        return max(1.0, self.batch_size / 64.0)


State = alternating.State


def _nets(config: Config):
    return (dcgan_nets.Generator(config.img_size, config.channels, first_bn=False),
            dcgan_nets.AutoencoderDiscriminator(config.channels))


def g_loss(f: alternating.Forward):
    reconstruction, embedding = f.d_fake
    # The paper's energy: gradients through D(G(z)) and G(z) (ebgan.py detaches G(z): see the module docstring).
    energy = losses.mse_energy(reconstruction, f.fake)
    loss = losses.ebgan_g_loss(energy, embedding, pt_weight=LAMBDA_PT)
    return loss, {"g_loss": loss, "pt": losses.pullaway_term(embedding)}


def d_loss(f: alternating.Forward, margin: float):
    real_energy = jnp.mean(losses.mse_energy(f.d_real[0], f.real))
    fake_energy = jnp.mean(losses.mse_energy(f.d_fake[0], f.fake))
    # Scalar (batch-mean) energies: ebgan.py's hinge max(0, m - L(G(z))) on the batch mean.
    loss = losses.ebgan_d_loss(real_energy, fake_energy, margin)
    return loss, {"d_loss": loss, "l_real": real_energy, "l_fake": fake_energy}


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *_nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update (energy + pull-away term), then one D update on the images G made before its update."""
    margin = state.config.margin
    return alternating.step(state, batch, rng, *_nets(state.config), g_loss, lambda f: d_loss(f, margin))


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
