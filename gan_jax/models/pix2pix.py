"""pix2pix: Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (2017).

Paired translation: a U-Net generator maps an input image (a label map, an edge map) to its aligned target (a
photo); a conditional PatchGAN judges (output, input) pairs patch by patch, and an L1 term to the target keeps the
low frequencies right, so the adversarial term only has to make the details sharp.

Networks (PyTorch-GAN ``implementations/pix2pix/models.py``): G is a U-Net of 8 down blocks (conv4 stride 2, no
bias -> InstanceNorm (not the first and last) -> LeakyReLU 0.2 -> Dropout 0.5 from the 4th) and 7 up blocks
(transposed conv4 stride 2 -> InstanceNorm -> ReLU -> Dropout 0.5 in the first 4, concatenated with the mirrored
down block), then nearest x2, ZeroPad2d((1, 0, 1, 0)), conv4 -> tanh (:class:`gan_jax.nets.unet.UNetGenerator`). D
sees the output and the input stacked on the channels: conv4 stride 2 blocks of 64 (no norm), 128, 256, 512 with
InstanceNorm and LeakyReLU 0.2, ZeroPad2d((1, 0, 1, 0)), conv4 (no bias): one score per 16x16 patch
(:class:`gan_jax.nets.patchgan.Conv4PatchDiscriminator`). G minimises MSE(D(G(x), x), 1) + 100 L1(G(x), y); D
minimises (MSE(D(y, x), 1) + MSE(D(G(x), x), 0)) / 2. Init N(0, 0.02) for convolutions. Adam(2e-4, 0.5, 0.999),
batch 1, 256x256, facades (label map on the right half -> photo on the left: ``which_direction BtoA``).

Deviations from PyTorch-GAN:
- ``unet_depth`` (ours; 8 = the script's U-Net) removes the innermost 512-wide blocks, so smaller images train:
  the innermost InstanceNorm needs 2x2 maps, so images are multiples of 2^unet_depth (256 at depth 8; torch refuses
  smaller inputs, "Expected more than 1 spatial element").
- ``which_direction`` (the flag of the original pix2pix) says which half of side-by-side images is the input; the
  script hard-codes B (right) -> A (left). ``decay_epoch`` is accepted and unused, as in the script.
- ``translate`` runs G with dropout off (deterministic); the script samples with dropout on.
- ``remat`` (ours): recompute U-Net blocks in the backward pass (``jax.checkpoint``) to save memory.

Run:    python -m gan_jax.train --model pix2pix   (offline sketch -> photo pairs, gan_jax/data/kinds/paired.py; 256 px,
        batch 1: DEFAULT_STEPS = 300 take ~5-8 minutes on 2 CPU cores). PyTorch-GAN's setting:
        python -m gan_jax.data.download facades && python -m gan_jax.train --model pix2pix --dataset data/facades
        --n_epochs 200. A CPU-sized run: --img_height 64 --img_width 64 --unet_depth 6.
Result: ``python -m benchmarks.translation --models pix2pix``: L1 to the target on the held-out photos against the
        input-copy baseline (benchmarks/out/translation.md).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import struct

from gan_jax import losses
from gan_jax.nets import patchgan, unet
from gan_jax.nets import state as netstate

DATA = "paired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "pix2pix (Isola 2017): paired translation, U-Net generator + conditional PatchGAN, L1 + LSGAN loss"
DEFAULT_STEPS = 300  # the quick CPU run at the script's 256 px, batch 1 (~1-1.5 s a step on 2 cores)
N_SAMPLES = 8  # grid rows: input | translation | target
GRID_COLS = 8
LAMBDA_PIXEL = 100.0  # pix2pix.py's lambda_pixel (not a flag there)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 1
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100  # accepted and unused, as in pix2pix.py
    img_height: int = 256
    img_width: int = 256
    channels: int = 3
    sample_interval: int = 500
    which_direction: str = "BtoA"  # input = right half of side-by-side images (pix2pix.py's real_A = batch["B"])
    unet_depth: int = 8
    remat: bool = False

    @property
    def img_size(self) -> int:  # what the data loader sizes square images by
        return self.img_height

    def min_size(self) -> int:
        return max(2 ** self.unet_depth, 32)  # U-Net's innermost IN needs 2x2; D's 4th block (IN) too

    def validate(self):
        unet.unet_blocks(self.unet_depth)
        m = self.min_size()
        for flag in ("img_height", "img_width"):
            size = getattr(self, flag)
            if size < m or size % m:
                raise ValueError(f"--{flag} must be a multiple of {m} and at least {m} for pix2pix with --unet_depth "
                                 f"{self.unet_depth}, got {size}")
        if self.which_direction not in ("AtoB", "BtoA"):
            raise ValueError(f"--which_direction must be AtoB or BtoA, got {self.which_direction!r}")


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    downs, ups = unet.unet_blocks(config.unet_depth)
    gen = unet.UNetGenerator(downs, ups, config.channels, norm="instance", remat=config.remat)
    return gen, patchgan.Conv4PatchDiscriminator(final_bias=False)


@functools.partial(jax.jit, static_argnames="config")  # eager Flax init of these nets takes ~20 s on a CPU
def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    g_key, d_key = jax.random.split(rng)
    img = jnp.zeros((1, config.img_height, config.img_width, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, img),
                 d=netstate.create(disc, tx, d_key, img, img), config=config)


def check_batch(batch: dict) -> tuple[jax.Array, jax.Array]:
    if "image_a" not in batch or "image_b" not in batch:
        raise ValueError(f"pix2pix trains on paired {{'image_a', 'image_b'}} batches (data kind 'paired'), got keys "
                         f"{sorted(batch)}")
    return batch["image_a"], batch["image_b"]


def generator_loss(state: State, g_params, real_a: jax.Array, real_b: jax.Array, dropout_key: jax.Array):
    """(MSE(D(G(a), a), 1) + 100 L1(G(a), b), aux): the adversarial and pixel terms and G(a)."""
    gen, disc = _nets(state.config)
    fake_b, _ = netstate.apply(gen, state.g, real_a, train=True, params=g_params, rngs={"dropout": dropout_key})
    adv = losses.least_squares_g_loss(netstate.apply(disc, state.d, fake_b, real_a, train=True)[0])
    pixel = losses.l1_loss(fake_b, real_b)
    return adv + LAMBDA_PIXEL * pixel, {"fake_b": fake_b, "adv": adv, "pixel": pixel}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update (LSGAN + 100 L1), then one D update on (target, input) vs (translation, input) pairs."""
    gen, disc = _nets(state.config)
    tx = netstate.adam(state.config)
    real_a, real_b = check_batch(batch)
    (g_loss, aux), g_grads = jax.value_and_grad(generator_loss, argnums=1, has_aux=True)(
        state, state.g.params, real_a, real_b, rng)
    g = netstate.update(state.g, tx, g_grads)
    fake_b = jax.lax.stop_gradient(aux["fake_b"])

    def d_loss_fn(d_params):
        real_scores, _ = netstate.apply(disc, state.d, real_b, real_a, train=True, params=d_params)
        fake_scores, _ = netstate.apply(disc, state.d, fake_b, real_a, train=True, params=d_params)
        return losses.least_squares_d_loss(real_scores, fake_scores)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss, "g_adv": aux["adv"],
                                                           "g_pixel": aux["pixel"]}


def check_images(images: jax.Array, config: Config) -> None:
    """A clear error for inputs the U-Net cannot take (wrong channels, sides not multiples of 2^unet_depth)."""
    m = 2 ** config.unet_depth
    if images.ndim != 4 or images.shape[-1] != config.channels:
        raise ValueError(f"expected input images [N, H, W, {config.channels}], got shape {tuple(images.shape)}")
    h, w = images.shape[1:3]
    if min(h, w) < m or h % m or w % m:
        raise ValueError(f"input images are {h}x{w}; pix2pix with --unet_depth {config.unet_depth} needs sides of at "
                         f"least {m} pixels and multiples of {m}")


def translate(state: State, images: jax.Array, rng: jax.Array | None = None) -> jax.Array:
    """Input images [N, H, W, C] in [-1, 1] -> translations (dropout off; ``rng`` unused, for the common protocol)."""
    check_images(images, state.config)
    gen, _ = _nets(state.config)
    return netstate.apply(gen, state.g, images, train=False)[0]


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The engine's grid: a row of inputs, their translations, and the targets (the script's sample rows)."""
    real_a, real_b = check_batch(batch)
    return jnp.concatenate([real_a, translate(state, real_a, rng), real_b])
