"""PyTorch-GAN's U-Net blocks (``UNetDown`` / ``UNetUp`` of ccgan, pix2pix and their siblings).

Down: conv4 stride 2 (padding 1, no bias) -> [norm] -> LeakyReLU 0.2 -> [Dropout]. Up: transposed conv4 stride 2
(padding 1, no bias) -> norm -> ReLU -> [Dropout], then the skip input concatenated on the channels. ``norm``:
'batch' is ``BatchNorm2d(C, 0.8)`` (momentum 0.8, eps 1e-5: DESIGN.md's bug list; scale N(1, 0.02)), 'instance'
is ``InstanceNorm2d`` (no affine). Convolutions use ``weights_init_normal``'s N(0, 0.02). Dropout is elementwise
(``nn.Dropout``) and needs a 'dropout' rng when ``train``.
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
    raise ValueError(f"unknown norm {kind!r}")


class UNetDown(nn.Module):
    features: int
    normalize: bool = True
    dropout: float = 0.0
    norm: str = "batch"

    @nn.compact
    def __call__(self, x, train: bool):
        x = layers.Conv(self.features, 4, strides=2, padding=1, use_bias=False, kernel_init=layers.normal_002)(x)
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

    @nn.compact
    def __call__(self, x, skip, train: bool):
        x = layers.ConvTranspose(self.features, 4, strides=2, padding=1, use_bias=False,
                                 kernel_init=layers.normal_002)(x)
        x = nn.relu(_norm(self.norm, train)(x))
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return jnp.concatenate([x, skip], axis=-1)
