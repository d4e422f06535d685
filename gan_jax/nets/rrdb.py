"""Super-resolution blocks: ESRGAN's Residual-in-Residual Dense Block generator, sub-pixel upsampling, and the
VGG-style discriminator PyTorch-GAN's srgan and esrgan share.

- :func:`pixel_shuffle`: ``nn.PixelShuffle(r)`` on NHWC, with PyTorch's channel order (channel ``c * r * r + i * r
  + j`` goes to output channel c, row offset i, column offset j), so converted conv weights keep their meaning.
- :class:`DenseResidualBlock` (Zhang et al. 2018, RDN): five conv3 layers, each seeing the concatenation of the
  block input and all previous outputs (LeakyReLU 0.01 after the first four), output ``0.2 * out + x``.
- :class:`RRDB` (Wang et al. 2018, ESRGAN): three dense blocks, ``0.2 * out + x`` around them.
- :class:`GeneratorRRDB`: conv3 -> ``num_res_blocks`` RRDBs -> conv3, + the first conv's output (long skip) ->
  ``num_upsample`` x [conv3 to 4 filters -> LeakyReLU -> pixel shuffle 2] -> conv3 -> LeakyReLU -> conv3 to the
  image. No output activation (as PyTorch-GAN's: its outputs are compared with normalised targets directly).
  ``remat``: each RRDB is rematerialised (``nn.remat``) in the backward pass: activation memory of one block instead
  of all of them, for one more forward pass of the blocks.
- :class:`Discriminator`: four blocks [conv3 s1 -> (BN, not in the first) -> LeakyReLU 0.2 -> conv3 s2 -> BN ->
  LeakyReLU 0.2] of 64, 128, 256, 512 filters, then conv3 to one score per 16 x 16 patch.
Convolutions keep PyTorch's default initialisation (neither script applies ``weights_init_normal``); BatchNorm
without the scripts' positional 0.8 is PyTorch's momentum 0.1 (Flax 0.9).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers

RES_SCALE = 0.2


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
    """[N, H, W, C r^2] -> [N, H r, W r, C] in PyTorch's channel order."""
    n, h, w, c = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle({r}) needs channels divisible by {r * r}, got {c}")
    x = x.reshape(n, h, w, c // (r * r), r, r)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c // (r * r))


def conv3(features: int, strides: int = 1):
    return layers.Conv(features, 3, strides=strides, padding=1)


class DenseResidualBlock(nn.Module):
    filters: int

    @nn.compact
    def __call__(self, x):
        inputs = x
        for i in range(5):
            out = conv3(self.filters)(inputs)
            if i < 4:
                out = nn.leaky_relu(out, 0.01)
                inputs = jnp.concatenate([inputs, out], axis=-1)
        return out * RES_SCALE + x


class RRDB(nn.Module):
    filters: int

    @nn.compact
    def __call__(self, x):
        out = x
        for _ in range(3):
            out = DenseResidualBlock(self.filters)(out)
        return out * RES_SCALE + x


class GeneratorRRDB(nn.Module):
    """LR image [N, h, w, C] -> SR image [N, h 2^num_upsample, w 2^num_upsample, C]."""

    channels: int
    filters: int = 64
    num_res_blocks: int = 16
    num_upsample: int = 2
    remat: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        block = nn.remat(RRDB) if self.remat else RRDB
        out1 = conv3(self.filters)(x)
        out = out1
        for i in range(self.num_res_blocks):
            out = block(self.filters, name=f"RRDB_{i}")(out)  # one parameter tree with or without remat
        out = out1 + conv3(self.filters)(out)
        for _ in range(self.num_upsample):
            out = pixel_shuffle(nn.leaky_relu(conv3(self.filters * 4)(out), 0.01), 2)
        out = nn.leaky_relu(conv3(self.filters)(out), 0.01)
        return conv3(self.channels)(out)


class Discriminator(nn.Module):
    """HR image [N, H, W, C] -> scores [N, H/16, W/16, 1] (BatchNorm: give ``train``)."""

    @nn.compact
    def __call__(self, img, train: bool = True):
        x = img
        for i, width in enumerate((64, 128, 256, 512)):
            x = conv3(width)(x)
            if i > 0:
                x = layers.batch_norm(train, momentum=0.9)(x)
            x = nn.leaky_relu(x, 0.2)
            x = layers.batch_norm(train, momentum=0.9)(conv3(width, strides=2)(x))
            x = nn.leaky_relu(x, 0.2)
        return conv3(1)(x)


def check_hr_size(hr_height: int, hr_width: int) -> None:
    """The discriminator halves four times and the LR input is a quarter: HR sides must be multiples of 16."""
    for flag, size in (("hr_height", hr_height), ("hr_width", hr_width)):
        if size % 16 or size < 16:
            raise ValueError(f"--{flag} must be a positive multiple of 16 (LR = HR / 4, the discriminator scores "
                             f"HR / 16 patches), got {size}")
