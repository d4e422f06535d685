"""Relativistic GAN: Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from standard GAN"
(2018). Standard (RSGAN) and, with ``--rel_avg_gan``, relativistic average (RaSGAN).

Networks (PyTorch-GAN ``implementations/relativistic_gan/relativistic_gan.py``): the DCGAN generator and
discriminator of :mod:`gan_jax.nets.dcgan` (linear output), with PyTorch's default initialisation (the script never
applies ``weights_init_normal``). Loss: D: 1/2 [BCE(C(x_r) - C(x_f), 1) + BCE(C(x_f) - C(x_r), 0)]; RaSGAN replaces
the other sample by the batch mean of the other kind. G: the same with the labels swapped
(:func:`gan_jax.losses.relativistic_g_loss`). Optimizer: Adam(2e-4, 0.5, 0.999), batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN:
- its G loss is overwritten by the plain non-saturating BCE(D(G(z)), 1) before ``backward`` (so its G never trains
  relativistically) and, for RaSGAN, keeps only the fake term: G trains here on the paper's relativistic loss.
  The G step therefore runs D on the real batch too (as the script does, detached) but not a third time on G(z).
- ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).

Run:    python -m gan_jax.train --model relativistic_gan [--rel_avg_gan]
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses
import functools

import jax

from gan_jax import losses
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets

DATA = "images"
DESCRIPTION = "Relativistic GAN (Jolicoeur-Martineau 2018): DCGAN networks, standard or average (--rel_avg_gan)"
# The quick CPU run, about 9 min on an idle 2-core CPU (estimated, ~0.35 s/step): recognizable digits.
# --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 1500


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
    rel_avg_gan: bool = False  # relativistic average GAN instead of standard

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


State = alternating.State


def _nets(config: Config):
    return (dcgan_nets.Generator(config.img_size, config.channels, normal_init=False),
            dcgan_nets.Discriminator(normal_init=False))


def g_loss(f: alternating.Forward, average: bool):
    loss = losses.relativistic_g_loss(f.d_real, f.d_fake, average=average)
    return loss, {"g_loss": loss}


def d_loss(f: alternating.Forward, average: bool):
    loss = losses.relativistic_d_loss(f.d_real, f.d_fake, average=average)
    return loss, {"d_loss": loss}


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *_nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update (D on real and fake, relativistic loss), then one D update on the images G made before."""
    average = state.config.rel_avg_gan
    return alternating.step(state, batch, rng, *_nets(state.config), functools.partial(g_loss, average=average),
                            functools.partial(d_loss, average=average), g_needs_real=True)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
