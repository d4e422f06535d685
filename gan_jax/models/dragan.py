"""DRAGAN: Kodali et al., "On Convergence and Stability of GANs" (2017).

Networks (PyTorch-GAN ``implementations/dragan/dragan.py``): the DCGAN generator and discriminator of
:mod:`gan_jax.nets.dcgan`. Loss: binary cross-entropy (G non-saturating) plus, for D, the DRAGAN penalty
lambda_gp * mean((||grad D(x_hat)|| - 1)^2) around the data, x_hat = alpha x + (1 - alpha) (x + 0.5 std(x) u),
u ~ U[0, 1), lambda_gp = 10. Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999), batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN (DESIGN.md's bug list):
- dragan.py back-propagates only the penalty, so its D never learns to tell real from fake (and it loops over an
  undefined ``mnist_loader``): here D trains on the adversarial loss plus the penalty.
- one interpolation weight per sample (not per pixel) and the gradient norm over the flattened sample (not over the
  channel axis): :func:`gan_jax.losses.dragan_penalty`.
- D emits a logit and the loss applies the sigmoid (its Sigmoid + BCELoss, fused), and the penalty is taken on the
  logit's gradient, as in the DRAGAN authors' code (kodalinaveen3/DRAGAN); dragan.py takes it on the probability
  sigmoid(logit), whose gradient is at most a quarter of the logit's: forcing that to norm 1 pinned D near chance
  (D loss ~0.74 > log 2) and G made noise after 3000 steps on MNIST, where the logit penalty gives digit strokes.
- ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5.
- the script saves samples once per epoch; here every ``sample_interval`` steps like its siblings.

Run:    python -m gan_jax.train --model dragan
Result: see README.md's model table (Frechet distance on the project's MNIST classifier, measured by
        ``python -m benchmarks.quality``).
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax import losses
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets

DATA = "images"
DESCRIPTION = "DRAGAN (Kodali 2017): DCGAN networks, BCE loss, gradient penalty around the data"
# Digits: FD 550 -> 80.7 (6.8x) at 4,000 steps on the 2-core CPU (~20 min at 0.28 s/step; 143, 3.9x, at 2,000;
# benchmarks/RESULTS.md). --n_epochs 200 is PyTorch-GAN's length.
DEFAULT_STEPS = 4000
LAMBDA_GP = 10.0  # dragan.py's module constant (not a flag there)


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
    sample_interval: int = 1000

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


State = alternating.State


def _nets(config: Config):
    return dcgan_nets.Generator(config.img_size, config.channels), dcgan_nets.Discriminator()


g_loss = alternating.nonsaturating_g_loss
def d_loss(f: alternating.Forward):
    """Adversarial loss + LAMBDA_GP * penalty: both back-propagated (dragan.py's backward skips the first).

    The penalty's D runs in train mode like the script's (batch-statistics BatchNorm, a dropout mask of its own) and
    is taken on the logit (the DRAGAN authors' code; dragan.py: on the sigmoid probability).
    """
    adversarial = losses.minimax_d_loss(f.d_real, f.d_fake)
    penalty = losses.dragan_penalty(f.critic, f.real, f.key)
    return adversarial + LAMBDA_GP * penalty, {"d_loss": adversarial, "gp": penalty}


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *_nets(config))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update, then one D update (adversarial loss + penalty) on the images G made before its update."""
    return alternating.step(state, batch, rng, *_nets(state.config), g_loss, d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return alternating.generate(state, rng, n, _nets(state.config)[0])
