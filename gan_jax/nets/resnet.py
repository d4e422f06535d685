"""CycleGAN's ResNet generator (Johnson et al. 2016's transformation network, as PyTorch-GAN's
``cyclegan/models.py`` builds it).

ReflectionPad 3 -> conv7 64 -> InstanceNorm -> ReLU; two downsampling blocks (conv3 stride 2, padding 1 -> IN ->
ReLU: 128, 256); ``n_residual_blocks`` residual blocks at 256 ([reflect conv3 -> IN -> ReLU -> reflect conv3 -> IN] + x,
:class:`gan_jax.nets.styles.ResidualBlock`); two upsampling blocks (nearest x2 -> conv3 padding 1 -> IN -> ReLU: 128,
64); ReflectionPad 3 -> conv7 to ``channels`` -> tanh. InstanceNorm has no affine parameters. Convolutions N(0, 0.02).

Deviation: the script pads with ``ReflectionPad2d(channels)`` around the 7x7 convolutions (3 only because images
have 3 channels; a 1-channel model would shrink its output by 4 pixels): the padding here is always 3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers, patchgan, styles


class GeneratorResNet(nn.Module):
    """Image [N, H, W, C] -> image of the same size (H and W multiples of 4), tanh. ``remat``: recompute each
    residual block in the backward pass (``jax.checkpoint``) instead of keeping its activations."""

    channels: int
    n_residual_blocks: int = 9
    features: int = 64
    remat: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        x = nn.relu(patchgan.instance_norm()(styles.reflect_conv(self.features, 7, x)))
        width = self.features
        for _ in range(2):
            width *= 2
            x = nn.relu(patchgan.instance_norm()(layers.dcgan_conv(width, 3, strides=2, padding=1)(x)))
        block = nn.remat(styles.ResidualBlock) if self.remat else styles.ResidualBlock
        for i in range(self.n_residual_blocks):
            x = block(width, name=f"ResidualBlock_{i}")(x)
        for _ in range(2):
            width //= 2
            x = layers.dcgan_conv(width, 3, padding=1, upsample=2)(x)
            x = nn.relu(patchgan.instance_norm()(x))
        return jnp.tanh(styles.reflect_conv(self.channels, 7, x))
