"""Strided 3x3 convolution stacks with InstanceNorm, and the PatchGAN discriminators built from them.

PyTorch-GAN writes the same stack three times: context_encoder's and ccgan's discriminator (conv3 -> [InstanceNorm]
-> LeakyReLU 0.2; 64, 128, 256, 512 filters with strides 2, 2, 2, 1; then conv3 to one score per patch, an
``img_size / 8`` grid), and pixelda's discriminator and task classifier (conv3 stride 2 -> LeakyReLU 0.2 ->
[InstanceNorm]: the norm *after* the activation; 64, 128, 256, 512 filters all with stride 2: an ``img_size / 16``
grid). The first block never normalises. ``nn.InstanceNorm2d`` has no affine parameters by default (and eps 1e-5).
Convolutions use ``weights_init_normal``'s N(0, 0.02), as all three scripts apply it.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers

FILTERS = (64, 128, 256, 512)


def instance_norm():
    """``nn.InstanceNorm2d(C)``: per-image, per-channel statistics, no scale or bias, eps 1e-5."""
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)


def check_input_size(size: int, strides: tuple[int, ...], flag: str) -> None:
    """A clear error for inputs the stack cannot take: each stride halves evenly, and the last InstanceNorm needs
    more than one pixel (on 1x1 maps it zeroes every feature, so the output no longer depends on the input; torch
    refuses it: "Expected more than 1 spatial element")."""
    factor = math.prod(strides)
    if size % factor or size < 2 * factor:
        raise ValueError(f"--{flag} must be a multiple of {factor} and at least {2 * factor} for this model's "
                         f"discriminator, got {size}")


class ConvStack(nn.Module):
    """``len(filters)`` blocks of conv3 (padding 1) with LeakyReLU 0.2 and InstanceNorm on all but the first block.

    ``norm_first``: conv -> norm -> act (context_encoder, ccgan); otherwise conv -> act -> norm (pixelda).
    """

    strides: tuple[int, ...]
    norm_first: bool
    filters: tuple[int, ...] = FILTERS

    @nn.compact
    def __call__(self, x):
        for i, (width, stride) in enumerate(zip(self.filters, self.strides)):
            x = layers.dcgan_conv(width, 3, strides=stride, padding=1)(x)
            if i > 0 and self.norm_first:
                x = instance_norm()(x)
            x = nn.leaky_relu(x, 0.2)
            if i > 0 and not self.norm_first:
                x = instance_norm()(x)
        return x


class PatchDiscriminator(nn.Module):
    """A :class:`ConvStack` and a conv3 to one score per patch: [N, H / prod(strides), W / ..., 1].

    The ``train`` flag is accepted for the common network interface (InstanceNorm behaves the same either way).
    """

    strides: tuple[int, ...]
    norm_first: bool

    @nn.compact
    def __call__(self, img, train: bool = True):
        x = ConvStack(self.strides, self.norm_first)(img)
        return layers.dcgan_conv(1, 3, padding=1)(x)


def inpainting_discriminator() -> PatchDiscriminator:
    """context_encoder's and ccgan's discriminator: strides 2, 2, 2, 1, norm before the activation (patch / 8)."""
    return PatchDiscriminator(strides=(2, 2, 2, 1), norm_first=True)


def pixelda_discriminator() -> PatchDiscriminator:
    """pixelda's discriminator: strides 2, 2, 2, 2, norm after the activation (patch / 16)."""
    return PatchDiscriminator(strides=(2, 2, 2, 2), norm_first=False)


class Conv4PatchDiscriminator(nn.Module):
    """The conv4 PatchGANs of pix2pix, cyclegan, discogan and dualgan: blocks of conv4 stride 2 (padding 1) ->
    [norm, not on the first block] -> LeakyReLU 0.2 with ``filters`` widths, then ``nn.ZeroPad2d((1, 0, 1, 0))`` and
    a conv4 (padding ``final_padding``) to one score per patch: [N, H / 2^len(filters), W / 2^len(filters), 1] with
    padding 1. Extra inputs (pix2pix's condition image) are concatenated on the channels first.

    ``norm``: 'instance' (no affine) or 'batch' (dualgan's ``BatchNorm2d(C, 0.8)``: momentum 0.8, eps 1e-5).
    ``final_bias``: pix2pix's last conv has none. ``polyphase_input_grad``: for a critic trained with a gradient
    penalty (dualgan), see :class:`gan_jax.nets.layers.Conv`.
    """

    filters: tuple[int, ...] = FILTERS
    norm: str = "instance"
    final_padding: int = 1
    final_bias: bool = True
    polyphase_input_grad: bool = False

    @nn.compact
    def __call__(self, img, *conditions, train: bool = True):
        x = jnp.concatenate((img,) + conditions, axis=-1) if conditions else img
        for i, width in enumerate(self.filters):
            x = layers.dcgan_conv(width, 4, strides=2, padding=1, polyphase_input_grad=self.polyphase_input_grad)(x)
            if i > 0:
                x = (layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x) if self.norm == "batch"
                     else instance_norm()(x))
            x = nn.leaky_relu(x, 0.2)
        x = jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0)))
        return layers.dcgan_conv(1, 4, padding=self.final_padding, use_bias=self.final_bias)(x)
