"""BGAN: Hjelm et al., "Boundary-Seeking Generative Adversarial Networks" (ICLR 2018).

Networks (PyTorch-GAN ``implementations/bgan/bgan.py``): gan.py's MLP generator and discriminator
(``gan_jax/nets/mlp.py``). The discriminator trains with binary cross-entropy; the generator with the boundary-seeking
loss 1/2 mean((log D(G(z)) - log(1 - D(G(z))))^2) = 1/2 mean(logit(G(z))^2), which pulls generated samples to D's
decision boundary (``losses.boundary_seeking_g_loss``). Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 28x28
MNIST.

Deviations from PyTorch-GAN: its script loops over an undefined ``mnist_loader`` (it never ran as written): we port
the intent, its ``dataloader``. Its discriminator ends in Sigmoid and the G loss takes logs of the probabilities
(infinite once D saturates); ours emits logits and both losses are computed on them, exactly and stably.

What to expect: the best samples come at 6,000-20,000 steps (FD 4-6x below its start, 4-8x with larger batches);
after that G stops drawing one digit after another (four of ten left at 18,000 steps) while its D scores the
abandoned digits ever higher. That is the objective, not the port: the loss's gradient for a sample, logit *
grad(logit), points *down* D's logit wherever the logit is positive, i.e. away from what D calls real, and a digit
with no samples near it gets no pull (``python -m benchmarks.modes`` shows it beside gan, which differs only in G's
loss). Watch it with ``--eval_interval 2000`` (FD and digits drawn, logged) and keep checkpoints (``--keep``).

Run:    python -m gan_jax.train --model bgan
Result: see README.md's model table.
"""

from __future__ import annotations

import dataclasses

import jax

from gan_jax import losses
from gan_jax.nets import alternating, mlp

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


State = alternating.State


def init(rng: jax.Array, config: Config) -> State:
    return alternating.init(rng, config, *mlp.nets(config))


def g_loss(f: alternating.Forward):
    loss = losses.boundary_seeking_g_loss(f.d_fake)
    return loss, {"g_loss": loss}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update then one D update, in PyTorch-GAN's order (D sees the images G made before its update)."""
    return alternating.step(state, batch, rng, *mlp.nets(state.config), g_loss, alternating.minimax_d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return mlp.generate(state, rng, n)
