"""PyTorch-GAN's U-Net blocks (``UNetDown`` / ``UNetUp`` of ccgan, pix2pix and their siblings).

Down: conv4 stride 2 (padding 1, no bias) -> [norm] -> LeakyReLU 0.2 -> [Dropout]. Up: transposed conv4 stride 2
(padding 1, no bias) -> norm -> ReLU -> [Dropout], then the skip input concatenated on the channels. ``norm``:
'batch' is ``BatchNorm2d(C, 0.8)`` (momentum 0.8, eps 1e-5: DESIGN.md's bug list; scale N(1, 0.02)), 'instance'
is ``InstanceNorm2d`` (no affine), 'instance_affine' ``InstanceNorm2d(C, affine=True)``. Convolutions use
``weights_init_normal``'s N(0, 0.02). Dropout is elementwise (``nn.Dropout``) and needs a 'dropout' rng when
``train``. :class:`UNetGenerator` assembles them into the
generators of pix2pix, discogan and dualgan.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers, patchgan


def _norm(kind: str, train: bool):
    if kind == "batch":
        return layers.batch_norm(train, scale_init=layers.bn_scale_normal)
    if kind == "instance":
        return patchgan.instance_norm()
    if kind == "instance_affine":  # InstanceNorm2d(C, affine=True): scale 1, bias 0 at init (dualgan)
        return nn.InstanceNorm(epsilon=1e-5)
    raise ValueError(f"unknown norm {kind!r}")


class UNetDown(nn.Module):
    features: int
    normalize: bool = True
    dropout: float = 0.0
    norm: str = "batch"
    use_bias: bool = False  # discogan's convolutions keep PyTorch's default bias

    @nn.compact
    def __call__(self, x, train: bool):
        x = layers.Conv(self.features, 4, strides=2, padding=1, use_bias=self.use_bias,
                        kernel_init=layers.normal_002)(x)
        if self.normalize:
            x = _norm(self.norm, train)(x)
        x = nn.leaky_relu(x, 0.2)
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return x


class UNetUp(nn.Module):
    features: int
    dropout: float = 0.0
    norm: str = "batch"
    use_bias: bool = False

    @nn.compact
    def __call__(self, x, skip, train: bool):
        x = layers.ConvTranspose(self.features, 4, strides=2, padding=1, use_bias=self.use_bias,
                                 kernel_init=layers.normal_002)(x)
        x = nn.relu(_norm(self.norm, train)(x))
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return jnp.concatenate([x, skip], axis=-1)


# The U-Net generators of pix2pix, discogan and dualgan: (features, normalize, dropout) per down block, outermost
# first; the up blocks mirror all but the innermost down block (features, dropout), innermost first.
PIX2PIX_DOWNS = ((64, False, 0.0), (128, True, 0.0), (256, True, 0.0), (512, True, 0.5), (512, True, 0.5),
                 (512, True, 0.5), (512, True, 0.5), (512, False, 0.5))
PIX2PIX_UPS = ((512, 0.5), (512, 0.5), (512, 0.5), (512, 0.5), (256, 0.0), (128, 0.0), (64, 0.0))


def unet_blocks(depth: int, downs=PIX2PIX_DOWNS, ups=PIX2PIX_UPS):
    """A shallower U-Net of the same family: the outermost ``depth - 1`` down blocks and the innermost one (the
    512-wide middle blocks go first), and the up blocks that mirror them. ``depth = len(downs)`` is the full net."""
    if not 2 <= depth <= len(downs):
        raise ValueError(f"a U-Net depth must be between 2 and {len(downs)}, got {depth}")
    return downs[:depth - 1] + downs[-1:], ups[len(ups) - (depth - 1):]


class UNetGenerator(nn.Module):
    """Image -> image of the same size through ``len(downs)`` halvings with skip connections, tanh output.

    ``final``: 'upsample' (nearest x2, ZeroPad2d((1, 0, 1, 0)), conv4 padding 1: pix2pix, discogan) or 'transpose'
    (ConvTranspose2d(4, stride 2, padding 1): dualgan). ``remat`` recomputes each block's activations in the backward
    pass instead of keeping them (``jax.checkpoint``): less memory, about one more forward pass of compute.
    """

    downs: tuple
    ups: tuple
    channels: int
    norm: str = "instance"
    use_bias: bool = False
    final: str = "upsample"
    remat: bool = False

    @nn.compact
    def __call__(self, x, train: bool):
        down_cls = nn.remat(UNetDown, static_argnums=(2,)) if self.remat else UNetDown
        up_cls = nn.remat(UNetUp, static_argnums=(3,)) if self.remat else UNetUp
        skips = []
        for i, (features, normalize, dropout) in enumerate(self.downs):
            x = down_cls(features, normalize, dropout, self.norm, self.use_bias, name=f"down{i + 1}")(x, train)
            skips.append(x)
        for i, ((features, dropout), skip) in enumerate(zip(self.ups, reversed(skips[:-1]))):
            x = up_cls(features, dropout, self.norm, self.use_bias, name=f"up{i + 1}")(x, skip, train)
        if self.final == "upsample":
            # ZeroPad2d((1, 0, 1, 0)) then padding 1: two rows/columns of zeros before, one after
            x = layers.dcgan_conv(self.channels, 4, padding=((2, 1), (2, 1)), upsample=2, name="final")(x)
        else:
            x = layers.ConvTranspose(self.channels, 4, strides=2, padding=1, kernel_init=layers.normal_002,
                                     name="final")(x)
        return jnp.tanh(x)
