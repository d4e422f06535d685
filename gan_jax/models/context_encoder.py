"""Context Encoder: Pathak et al., "Context Encoders: Feature Learning by Inpainting" (2016).

A generator sees an image with a square hole (filled with white) and paints what the hole covered; the loss is an L1
reconstruction of the hole's content, plus a small adversarial term from a discriminator that judges the painted
patches against the real ones. Training holes are placed at random, test holes at the centre (PyTorch-GAN's
``datasets.py``).

Networks (PyTorch-GAN ``implementations/context_encoder/models.py``): G is an encoder of five conv4 stride 2 blocks
(64, 64, 128, 256, 512 filters; BN from the second; LeakyReLU 0.2), a 1x1 conv to a 4000-channel bottleneck, and a
decoder of four transposed conv4 stride 2 blocks (512, 256, 128, 64; BN; ReLU) and a conv3 to the image, tanh: an
s x s image in, an s/2 x s/2 patch out. D is the PatchGAN of :mod:`gan_jax.nets.patchgan` (conv3 -> InstanceNorm ->
LeakyReLU 0.2; 64, 128, 256, 512 filters, strides 2, 2, 2, 1; conv3 to a score per patch) on the s/2 patches. G
minimises 0.001 MSE(D(G(x)), 1) + 0.999 L1(G(x), hole) -- the L1 only sees the hole's pixels; D minimises the
least-squares loss on real hole contents vs painted ones. Init: ``weights_init_normal`` (all convolutions N(0, 0.02),
BN scale N(1, 0.02)). Adam(2e-4, 0.5, 0.999), batch 8, 128x128 RGB images, 64x64 holes (CelebA in the script).

Deviations from PyTorch-GAN:
- ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list).
- the script's dataset ignores ``--img_size``/``--mask_size`` (it is built with 128/64 whatever the flags); here
  the flags are honoured. G paints an img_size/2 patch, so ``mask_size`` must be ``img_size // 2``.
- holes are drawn inside ``train_step`` from its key (the script draws them in the data loader).
- ``inpaint`` and the sample grids run G's BatchNorm on its running averages (the script samples in train mode).
- ``latent_dim`` is kept as a flag, as in the script, which never uses it.

Run:    python -m gan_jax.train --model context_encoder    (offline photos + faces; --dataset img_align_celeba/ or
        tfds:celeb_a for CelebA). 128 px costs ~4 s a step on a 2-core CPU; --img_size 32 --mask_size 16 is a CPU-sized
        run.
Result: ``python -m benchmarks.domain --models context_encoder``: PSNR / L1 inside centred holes of test images
        against filling them with the context's mean colour; see benchmarks/out/domain.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, masks, patchgan
from gan_jax.nets import state as netstate

DATA = "inpainting"
DEFAULT_DATASET = "offline"
DESCRIPTION = "Context Encoder (Pathak 2016): paint a square hole from its context, L1 + adversarial loss"
DEFAULT_STEPS = 400  # about 5 minutes at the script's 128 px on 2 CPU cores (~0.7 s a step): a short run; train
# longer (or on an accelerator) for results. --n_epochs 200 is PyTorch-GAN's length
N_SAMPLES = 8  # grid rows: masked | inpainted | original (centred holes, as the script's test samples)
GRID_COLS = 8
MASK_FILL = 1.0  # datasets.py fills the hole with 1 (white)
LAMBDA_ADV = 0.001  # context_encoder.py's loss weights (not flags there)
LAMBDA_PIXEL = 0.999
BOTTLENECK = 4000


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 8
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    img_size: int = 128
    mask_size: int = 64
    channels: int = 3
    sample_interval: int = 500

    def validate(self):
        masks.check_mask(self.img_size, self.mask_size)
        if self.img_size % 32:
            raise ValueError(f"--img_size must be a multiple of 32 for context_encoder, got {self.img_size}")
        if self.mask_size != self.img_size // 2:
            raise ValueError(f"context_encoder's generator paints an img_size/2 patch: --mask_size must be "
                             f"{self.img_size // 2} for --img_size {self.img_size}, got {self.mask_size}")
        patchgan.check_input_size(self.mask_size, (2, 2, 2, 1), "mask_size")  # D judges the patches


class Generator(nn.Module):
    """Masked image [N, s, s, C] -> painted patch [N, s/2, s/2, C]."""

    channels: int

    @nn.compact
    def __call__(self, x, train: bool):
        for i, width in enumerate((64, 64, 128, 256, 512)):
            x = layers.dcgan_conv(width, 4, strides=2, padding=1)(x)
            if i > 0:
                x = layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x)
            x = nn.leaky_relu(x, 0.2)
        x = layers.dcgan_conv(BOTTLENECK, 1)(x)  # no activation after it, as the script
        for width in (512, 256, 128, 64):
            x = layers.ConvTranspose(width, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
            x = nn.relu(layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x))
        return jnp.tanh(layers.dcgan_conv(self.channels, 3, padding=1)(x))


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return Generator(config.channels), patchgan.inpainting_discriminator()


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    g_key, d_key = jax.random.split(rng)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    patch = jnp.zeros((2, config.mask_size, config.mask_size, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, img),
                 d=netstate.create(disc, tx, d_key, patch), config=config)


def pixel_loss(painted_NxSxSxC: jax.Array, images_NxHxWxC: jax.Array, offsets_Nx2: jax.Array) -> jax.Array:
    """L1 between the painted patches and what the holes covered: no pixel outside a hole enters it."""
    return losses.l1_loss(painted_NxSxSxC, masks.crop(images_NxHxWxC, offsets_Nx2, painted_NxSxSxC.shape[1]))


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """Random holes; one G update (adversarial + L1 on the holes), then one D update (real vs painted patches)."""
    config = state.config
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    images = batch["image"]
    offsets = masks.random_offsets(rng, images.shape[0], config.img_size, config.mask_size)
    masked = masks.apply_mask(images, offsets, config.mask_size, MASK_FILL)
    real_parts = masks.crop(images, offsets, config.mask_size)

    def g_loss_fn(g_params):
        parts, g_stats = netstate.apply(gen, state.g, masked, train=True, params=g_params)
        adv = losses.least_squares_g_loss(netstate.apply(disc, state.d, parts, train=True)[0])
        pixel = pixel_loss(parts, images, offsets)
        return LAMBDA_ADV * adv + LAMBDA_PIXEL * pixel, (parts, g_stats, adv, pixel)

    (g_loss, (parts, g_stats, g_adv, g_pixel)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    parts = jax.lax.stop_gradient(parts)

    def d_loss_fn(d_params):
        real_scores, _ = netstate.apply(disc, state.d, real_parts, train=True, params=d_params)
        fake_scores, _ = netstate.apply(disc, state.d, parts, train=True, params=d_params)
        return losses.least_squares_d_loss(real_scores, fake_scores)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss, "g_adv": g_adv,
                                                           "g_pixel": g_pixel}


def inpaint(state: State, images: jax.Array, offsets: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(masked images, in-painted images) for holes at ``offsets`` (int [N, 2] top-left corners; default centred).

    Only the holes' content of ``images`` is unused: G sees the masked image, and its patch replaces the hole.
    """
    config = state.config
    gen, _ = _nets(config)
    if offsets is None:
        offsets = masks.center_offsets(images.shape[0], config.img_size, config.mask_size)
    masked = masks.apply_mask(images, offsets, config.mask_size, MASK_FILL)
    parts = netstate.apply(gen, state.g, masked, train=False)[0]
    return masked, masks.paste(masked, parts, offsets)


def samples(state: State, rng: jax.Array, batch: dict, mask: str = "center") -> jax.Array:
    """The engine's grid: a row of masked images, the in-painted row, the original row (``mask``: center|random)."""
    images = batch["image"]
    offsets = masks.offsets(mask, rng, images.shape[0], state.config.img_size, state.config.mask_size)
    masked, filled = inpaint(state, images, offsets)
    return jnp.concatenate([masked, filled, images])
