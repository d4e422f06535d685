"""The convolutional generator and discriminator PyTorch-GAN shares between dcgan, lsgan, dragan,
relativistic_gan, began, ebgan, acgan, infogan, sgan... (img_size divisible by 16 for the discriminator, by 4 for the
generator).

Generator: Linear(latent -> 128 * (s/4)^2) -> [BN] -> up x2 -> conv3 128 -> BN -> lrelu -> up x2 -> conv3 64 -> BN
-> lrelu -> conv3 channels -> tanh.
Discriminator trunk: 4 x [conv3 stride 2 -> lrelu 0.2 -> Dropout2d 0.25 -> BN (not on the first)] with 16, 32, 64,
128 filters -> flatten (128 * (s/16)^2 features); each model puts its own heads on the features.
Initialisation: PyTorch-GAN's ``weights_init_normal`` (conv N(0, 0.02), BN scale N(1, 0.02)); Linear layers keep
PyTorch's default.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers


class Generator(nn.Module):
    img_size: int
    channels: int
    first_bn: bool = True  # lsgan and ebgan omit the BatchNorm before the first upsampling

    @nn.compact
    def __call__(self, z, train: bool):
        s = self.img_size // 4
        x = layers.Dense(128 * s * s)(z).reshape((z.shape[0], s, s, 128))
        if self.first_bn:
            # nn.BatchNorm2d(128): PyTorch's default momentum 0.1 (Flax 0.9)
            x = layers.batch_norm(train, momentum=0.9, scale_init=layers.bn_scale_normal)(x)
        for width in (128, 64):
            x = layers.upsample_nearest(x)
            x = layers.dcgan_conv(width, 3, padding=1)(x)
            x = layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x)
            x = nn.leaky_relu(x, 0.2)
        return jnp.tanh(layers.dcgan_conv(self.channels, 3, padding=1)(x))


class DiscriminatorTrunk(nn.Module):
    """Image -> flat features [N, 128 * (img_size // 16)^2]. Needs a 'dropout' rng when ``train``."""

    @nn.compact
    def __call__(self, img, train: bool):
        x = img
        for i, width in enumerate((16, 32, 64, 128)):
            x = layers.dcgan_conv(width, 3, strides=2, padding=1)(x)
            x = nn.leaky_relu(x, 0.2)
            x = nn.Dropout(0.25, broadcast_dims=(1, 2), deterministic=not train)(x)  # Dropout2d: whole channels
            if i > 0:
                x = layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x)
        return x.reshape((x.shape[0], -1))


class Discriminator(nn.Module):
    """The trunk and one linear logit (dcgan/lsgan/dragan/relativistic_gan's adversarial layer)."""

    @nn.compact
    def __call__(self, img, train: bool):
        return layers.Dense(1)(DiscriminatorTrunk()(img, train))[:, 0]
