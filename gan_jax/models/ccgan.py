"""CC-GAN: Denton et al., "Semi-Supervised Learning with Context-Conditional Generative Adversarial Networks" (2016).

A generator fills a random square hole (filled with black) from the surrounding context and a low-resolution copy of
the whole image (the paper's CC-GAN^2 conditioning); a discriminator judges whole images: real ones against
in-painted ones. The loss is adversarial only (least squares); there is no pixelwise term.

Networks (PyTorch-GAN ``implementations/ccgan/models.py``): G is a U-Net (:mod:`gan_jax.nets.unet`): six conv4
stride 2 down blocks (64, 128, 256, 512, 512, 512 filters; BN from the second; dropout 0.5 from the third), the
img_size/4 low-resolution image concatenated to the second block's output, five transposed-conv up blocks (512, 512,
256, 128, 64; dropout 0.5 on the first three) each concatenating its skip, then upsample x2, conv3 to the image,
tanh. D is the PatchGAN of :mod:`gan_jax.nets.patchgan` (as context_encoder's) on whole images: one score per
img_size/8 patch. Adam(2e-4, 0.5, 0.999), batch 8, 128x128 RGB, 32x32 holes (CelebA in the script).

Deviations from PyTorch-GAN:
- ccgan.py applies an undefined ``weights_init_normal`` (a NameError: it never ran as written); we use its siblings'
  (convolutions N(0, 0.02), BN scale N(1, 0.02)), as DESIGN.md says.
- ``paste_context`` (not a ccgan.py flag; default on): D sees G's output only inside the hole, the context being
  the real image's, as the paper's in-painted image x_G = (1 - m) * x + m * G(.). The script shows D the raw G output
  (``--paste_context false`` reproduces it), so G is never asked to keep the context and the sample grid mixes
  both problems.
- the low-resolution input is the img_size image resized to img_size/4 (bicubic, antialiased) inside the step; the
  script resizes the original file (both show G the whole, unmasked image at a quarter of the resolution).
- ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md's bug list); ``inpaint`` runs G in eval mode
  (BN running averages, no dropout), the script samples in train mode.
- ``latent_dim`` is kept as a flag, as in the script, which never uses it.

Run:    python -m gan_jax.train --model ccgan    (offline photos + faces; --dataset img_align_celeba/ or tfds:celeb_a).
        128 px costs ~5 s a step on a 2-core CPU; --img_size 64 --mask_size 16 is about 4x faster.
Result: ``python -m benchmarks.domain --models ccgan``: PSNR / L1 inside centred holes of test images against
        mean-colour and low-resolution-upsampling fills; see benchmarks/out/domain.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, masks, patchgan, unet
from gan_jax.nets import state as netstate

DATA = "inpainting"
DEFAULT_DATASET = "offline"
DESCRIPTION = "Context-Conditional GAN (Denton 2016): U-Net fills a random hole from context + low-res image"
DEFAULT_STEPS = 300  # about 5 minutes at the script's 128 px on 2 CPU cores (~0.9 s a step): a short run; train
# longer (or on an accelerator) for results. --n_epochs 200 is PyTorch-GAN's length
N_SAMPLES = 10  # the script keeps 10 samples; grid rows: masked | in-painted | original
GRID_COLS = 10
MASK_FILL = -1.0  # ccgan.py's apply_random_mask fills the hole with -1 (black)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 8
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    img_size: int = 128
    mask_size: int = 32
    channels: int = 3
    sample_interval: int = 500
    paste_context: bool = True  # not a ccgan.py flag: see the module docstring

    def validate(self):
        masks.check_mask(self.img_size, self.mask_size)
        if self.img_size % 64:
            raise ValueError(f"--img_size must be a multiple of 64 for ccgan (six halvings), got {self.img_size}")


class Generator(nn.Module):
    """(masked image [N, s, s, C], low-res image [N, s/4, s/4, C]) -> image [N, s, s, C]."""

    channels: int

    @nn.compact
    def __call__(self, x, x_lr, train: bool):
        d1 = unet.UNetDown(64, normalize=False)(x, train)
        d2 = jnp.concatenate([unet.UNetDown(128)(d1, train), x_lr], axis=-1)
        d3 = unet.UNetDown(256, dropout=0.5)(d2, train)
        d4 = unet.UNetDown(512, dropout=0.5)(d3, train)
        d5 = unet.UNetDown(512, dropout=0.5)(d4, train)
        d6 = unet.UNetDown(512, dropout=0.5)(d5, train)
        u1 = unet.UNetUp(512, dropout=0.5)(d6, d5, train)
        u2 = unet.UNetUp(512, dropout=0.5)(u1, d4, train)
        u3 = unet.UNetUp(256, dropout=0.5)(u2, d3, train)
        u4 = unet.UNetUp(128)(u3, d2, train)
        u5 = unet.UNetUp(64)(u4, d1, train)
        return jnp.tanh(layers.dcgan_conv(self.channels, 3, padding=1, upsample=2)(u5))


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
    s, c = config.img_size, config.channels
    img, img_lr = jnp.zeros((2, s, s, c)), jnp.zeros((2, s // 4, s // 4, c))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, img, img_lr),
                 d=netstate.create(disc, tx, d_key, img), config=config)


def low_resolution(images_NxHxWxC: jax.Array) -> jax.Array:
    """The img_size/4 copy G is conditioned on (bicubic, antialiased, as PIL's BICUBIC downsizing)."""
    n, h, w, c = images_NxHxWxC.shape
    return jax.image.resize(images_NxHxWxC, (n, h // 4, w // 4, c), method="bicubic", antialias=True)


def complete(config: Config, generated: jax.Array, images: jax.Array, offsets: jax.Array) -> jax.Array:
    """What D judges: G's output inside the holes and the real context around them (``paste_context``), or G's
    whole output (the script)."""
    return masks.fill_holes(images, generated, offsets, config.mask_size) if config.paste_context else generated


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """Random holes; one G update (least squares against D on the in-painted images), then one D update."""
    config = state.config
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    images = batch["image"]
    mask_key, g_drop = jax.random.split(rng)
    offsets = masks.random_offsets(mask_key, images.shape[0], config.img_size, config.mask_size)
    masked = masks.apply_mask(images, offsets, config.mask_size, MASK_FILL)
    images_lr = low_resolution(images)

    def g_loss_fn(g_params):
        out, g_stats = netstate.apply(gen, state.g, masked, images_lr, train=True, params=g_params,
                                      rngs={"dropout": g_drop})
        filled = complete(config, out, images, offsets)
        return losses.least_squares_g_loss(netstate.apply(disc, state.d, filled, train=True)[0]), (filled, g_stats)

    (g_loss, (filled, g_stats)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    filled = jax.lax.stop_gradient(filled)

    def d_loss_fn(d_params):
        real_scores, _ = netstate.apply(disc, state.d, images, train=True, params=d_params)
        fake_scores, _ = netstate.apply(disc, state.d, filled, train=True, params=d_params)
        return losses.least_squares_d_loss(real_scores, fake_scores)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    return state.replace(step=state.step + 1, g=g, d=d), {"d_loss": d_loss, "g_loss": g_loss}


def inpaint(state: State, images: jax.Array, offsets: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(masked images, in-painted images) for holes at ``offsets`` (int [N, 2] top-left corners; default centred).

    G sees the masked image and the low-resolution copy of the whole image; its output fills the hole (the context
    is kept; with ``paste_context`` off, G's whole output is returned, as the script's samples).
    """
    config = state.config
    gen, _ = _nets(config)
    if offsets is None:
        offsets = masks.center_offsets(images.shape[0], config.img_size, config.mask_size)
    masked = masks.apply_mask(images, offsets, config.mask_size, MASK_FILL)
    out = netstate.apply(gen, state.g, masked, low_resolution(images), train=False)[0]
    return masked, complete(config, out, images, offsets)


def samples(state: State, rng: jax.Array, batch: dict, mask: str = "random") -> jax.Array:
    """The engine's grid: a row of masked images, the in-painted row, the original row (``mask``: random|center;
    random as the script's samples)."""
    images = batch["image"]
    offsets = masks.offsets(mask, rng, images.shape[0], state.config.img_size, state.config.mask_size)
    masked, filled = inpaint(state, images, offsets)
    return jnp.concatenate([masked, filled, images])
