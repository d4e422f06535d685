"""CoGAN: Liu & Tuzel, "Coupled Generative Adversarial Networks" (2016).

Two GANs, one per domain (MNIST and MNIST-M), that share their high-level layers: the generators share their first
layers (the code's interpretation: shapes and strokes) and have their own last layers (the domain's rendering);
the discriminators share their last layers (all but the heads here, as in PyTorch-GAN) and have their own heads.
Trained on *unpaired* images, one latent code then yields a corresponding pair: the same digit in both domains.

Networks (PyTorch-GAN ``implementations/cogan/cogan.py``): shared generator trunk Linear(latent -> 128 (s/4)^2) ->
BN -> up x2 -> conv3 128 -> BN -> LeakyReLU 0.2 -> up x2, then per domain conv3 64 -> BN -> LeakyReLU -> conv3 C ->
tanh. Shared discriminator trunk of four [conv3 stride 2 -> BN (not the first) -> LeakyReLU 0.2 -> Dropout2d 0.25]
blocks (16, 32, 64, 128 filters), then one Linear score per domain. Least-squares loss (MSE to 1 / 0), averaged over
the two domains. Init: cogan.py's ``weights_init_normal`` matches Linear (N(0, 0.02) weights) and BatchNorm (scale
N(1, 0.02)); its convolutions keep PyTorch's default. Adam(2e-4, 0.5, 0.999), batch 32, latent 100, 32x32 RGB (the
MNIST digits replicated to three channels).

Tied weights are structural: each network is one Flax module whose ``shared`` submodule is applied to both
domains, so there is one copy of those parameters and both domains' gradients add up in it (as in the script).

Deviations from PyTorch-GAN: ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list); samples
use G's BatchNorm running averages.

Run:    python -m gan_jax.train --model cogan     (data: MNIST -> MNIST-M built offline, gan_jax/data/kinds/mnistm.py)
Result: ``python -m benchmarks.domain --models cogan`` measures how often the two images of a pair show the same digit
        (judged by the project's MNIST classifier and an MNIST-M classifier); see benchmarks/out/domain.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import layers
from gan_jax.nets import state as netstate

DATA = "mnistm"
DEFAULT_DATASET = "mnistm"
DESCRIPTION = "Coupled GAN (Liu 2016): two weight-sharing GANs learn MNIST / MNIST-M pairs from unpaired data"
DEFAULT_STEPS = 1200  # the quick CPU run (about 5 minutes on 2 cores); --n_epochs 200 is PyTorch-GAN's length
N_SAMPLES = 16  # pairs in the grid: rows alternate domain A, domain B (8 pairs per row pair)
GRID_COLS = 8
DOMAINS = 2

linear_normal = lambda features, name=None: layers.Dense(features, kernel_init=layers.normal_002, name=name)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 32
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    img_size: int = 32
    channels: int = 3
    sample_interval: int = 400

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


class SharedGeneratorTrunk(nn.Module):
    """z -> [N, img/2, img/2, 128] features both domains render from (fc + cogan.py's ``shared_conv`` up to its
    last ``nn.Upsample(2)``, which each :class:`GeneratorHead` folds into its first convolution)."""

    img_size: int

    @nn.compact
    def __call__(self, z, train: bool):
        s = self.img_size // 4
        x = linear_normal(128 * s * s, name="fc")(z).reshape((z.shape[0], s, s, 128))
        x = layers.batch_norm(train, momentum=0.9, scale_init=layers.bn_scale_normal)(x)  # BatchNorm2d(128)
        x = layers.Conv(128, 3, padding=1, upsample=2)(x)
        x = nn.leaky_relu(layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x), 0.2)
        return x


class GeneratorHead(nn.Module):
    channels: int

    @nn.compact
    def __call__(self, x, train: bool):
        x = layers.Conv(64, 3, padding=1, upsample=2)(x)  # the shared trunk's last nn.Upsample(2), folded in
        x = nn.leaky_relu(layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x), 0.2)
        return jnp.tanh(layers.Conv(self.channels, 3, padding=1)(x))


class CoupledGenerators(nn.Module):
    """z -> (image in domain A, image in domain B) through one shared trunk."""

    img_size: int
    channels: int

    @nn.compact
    def __call__(self, z, train: bool):
        features = SharedGeneratorTrunk(self.img_size, name="shared")(z, train)
        return tuple(GeneratorHead(self.channels, name=f"G{i + 1}")(features, train) for i in range(DOMAINS))


class SharedDiscriminatorTrunk(nn.Module):
    """Image -> flat features; needs a 'dropout' rng when ``train``."""

    @nn.compact
    def __call__(self, img, train: bool):
        x = img
        for i, width in enumerate((16, 32, 64, 128)):
            x = layers.Conv(width, 3, strides=2, padding=1)(x)
            if i > 0:
                x = layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x)  # BatchNorm2d(C, 0.8)
            x = nn.leaky_relu(x, 0.2)
            x = nn.Dropout(0.25, broadcast_dims=(1, 2), deterministic=not train)(x)  # Dropout2d
        return x.reshape((x.shape[0], -1))


class CoupledDiscriminators(nn.Module):
    """(image A, image B) -> (score A, score B): the shared trunk on each, then each domain's linear head."""

    @nn.compact
    def __call__(self, img_a, img_b, train: bool):
        trunk = SharedDiscriminatorTrunk(name="shared")
        return tuple(linear_normal(1, name=f"D{i + 1}")(trunk(img, train))[:, 0]
                     for i, img in enumerate((img_a, img_b)))


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return CoupledGenerators(config.img_size, config.channels), CoupledDiscriminators()


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    g_key, d_key = jax.random.split(rng)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, jnp.zeros((2, config.latent_dim))),
                 d=netstate.create(disc, tx, d_key, img, img), config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of the coupled generators, then one of the coupled discriminators (PyTorch-GAN's order)."""
    config = state.config
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    real_a, real_b = batch["image_a"], batch["image_b"]
    z_key, g_drop, d_drop_real, d_drop_fake = jax.random.split(rng, 4)
    z = netstate.latent(z_key, real_a.shape[0], config.latent_dim)

    def g_loss_fn(g_params):
        fakes, g_stats = netstate.apply(gen, state.g, z, train=True, params=g_params)
        (score_a, score_b), d_stats = netstate.apply(disc, state.d, *fakes, train=True, rngs={"dropout": g_drop})
        loss = 0.5 * (losses.least_squares_g_loss(score_a) + losses.least_squares_g_loss(score_b))
        return loss, (fakes, g_stats, d_stats)

    (g_loss, (fakes, g_stats, d_stats)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    fake_a, fake_b = jax.lax.stop_gradient(fakes)
    d_net = state.d.replace(batch_stats=d_stats)  # BatchNorm running averages move with every call, as in torch

    def d_loss_fn(d_params):
        (real_score_a, real_score_b), stats = netstate.apply(disc, d_net, real_a, real_b, train=True,
                                                             params=d_params, rngs={"dropout": d_drop_real})
        (fake_score_a, fake_score_b), stats = netstate.apply(disc, d_net.replace(batch_stats=stats), fake_a, fake_b,
                                                             train=True, params=d_params,
                                                             rngs={"dropout": d_drop_fake})
        loss = 0.5 * (losses.least_squares_d_loss(real_score_a, fake_score_a)
                      + losses.least_squares_d_loss(real_score_b, fake_score_b))
        return loss, stats

    (d_loss, d_stats), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d_net.params)
    d = netstate.update(d_net, tx, d_grads, d_stats)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss}


def generate_pairs(state: State, rng: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` corresponding pairs (domain A images, domain B images) from one latent code each, in [-1, 1]."""
    gen, _ = _nets(state.config)
    z = netstate.latent(rng, n, state.config.latent_dim)
    return netstate.apply(gen, state.g, z, train=False)[0]


def generate(state: State, rng: jax.Array, n: int, domain: int = 0) -> jax.Array:
    """``n`` images of ``domain`` (0: MNIST, 1: MNIST-M). The same ``rng`` gives the same codes in both domains,
    so ``generate(s, k, n, 0)`` and ``generate(s, k, n, 1)`` are corresponding pairs."""
    if domain not in range(DOMAINS):
        raise ValueError(f"cogan has domains 0 (MNIST) and 1 (MNIST-M), got --domain {domain}")
    return generate_pairs(state, rng, n)[domain]


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The engine's grid: rows of GRID_COLS domain-A images, each followed by the same codes' domain-B row."""
    n = batch["image_a"].shape[0]
    img_a, img_b = generate_pairs(state, rng, n)
    cols = min(GRID_COLS, n)
    rows = [x for start in range(0, n - n % cols, cols) for x in (img_a[start:start + cols], img_b[start:start + cols])]
    return jnp.concatenate(rows)
