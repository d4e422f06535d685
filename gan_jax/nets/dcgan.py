"""The convolutional generator and discriminators PyTorch-GAN shares between dcgan, lsgan, dragan,
relativistic_gan, began, ebgan, acgan, infogan, sgan... (img_size divisible by 16 for the discriminator, by 4 for the
generator).

Generator: Linear(latent -> 128 * (s/4)^2) -> [BN] -> up x2 -> conv3 128 -> BN -> lrelu -> up x2 -> conv3 64 -> BN
-> lrelu -> conv3 channels -> tanh.
Discriminator trunk: 4 x [conv3 stride 2 -> lrelu 0.2 -> Dropout2d 0.25 -> BN (not on the first)] with 16, 32, 64,
128 filters -> flatten (128 * (s/16)^2 features); each model puts its own heads on the features.
Autoencoder discriminator (began, ebgan; img_size even): conv3 stride 2 64 -> relu -> Linear 32 (ebgan's embedding)
-> BN -> relu -> Linear back -> BN -> relu -> up x2 -> conv3 channels (no output activation).
Initialisation: PyTorch-GAN's ``weights_init_normal`` (conv N(0, 0.02), BatchNorm2d scale N(1, 0.02)); Linear layers
keep PyTorch's default. ``normal_init=False`` keeps PyTorch's defaults everywhere (relativistic_gan never applies
``weights_init_normal``).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers


def _conv(normal_init: bool):
    return layers.dcgan_conv if normal_init else layers.Conv


def _bn_scale(normal_init: bool):
    return layers.bn_scale_normal if normal_init else nn.initializers.ones


def check_img_size(img_size: int, multiple: int) -> None:
    """A clear error for an --img_size the networks cannot halve/double evenly."""
    if img_size % multiple:
        raise ValueError(f"--img_size must be a multiple of {multiple} for this model, got {img_size}")


class Generator(nn.Module):
    img_size: int
    channels: int
    first_bn: bool = True  # lsgan and ebgan omit the BatchNorm before the first upsampling
    normal_init: bool = True

    @nn.compact
    def __call__(self, z, train: bool):
        conv, bn_scale = _conv(self.normal_init), _bn_scale(self.normal_init)
        s = self.img_size // 4
        x = layers.Dense(128 * s * s)(z).reshape((z.shape[0], s, s, 128))
        if self.first_bn:
            # nn.BatchNorm2d(128): PyTorch's default momentum 0.1 (Flax 0.9)
            x = layers.batch_norm(train, momentum=0.9, scale_init=bn_scale)(x)
        for width in (128, 64):
            x = conv(width, 3, padding=1, upsample=2)(x)
            x = layers.batch_norm(train, scale_init=bn_scale)(x)
            x = nn.leaky_relu(x, 0.2)
        return jnp.tanh(conv(self.channels, 3, padding=1)(x))


class DiscriminatorTrunk(nn.Module):
    """Image -> flat features [N, 128 * (img_size // 16)^2]. Needs a 'dropout' rng when ``train``."""

    normal_init: bool = True

    @nn.compact
    def __call__(self, img, train: bool):
        conv, bn_scale = _conv(self.normal_init), _bn_scale(self.normal_init)
        x = img
        for i, width in enumerate((16, 32, 64, 128)):
            x = conv(width, 3, strides=2, padding=1)(x)
            x = nn.leaky_relu(x, 0.2)
            x = nn.Dropout(0.25, broadcast_dims=(1, 2), deterministic=not train)(x)  # Dropout2d: whole channels
            if i > 0:
                x = layers.batch_norm(train, scale_init=bn_scale)(x)
        return x.reshape((x.shape[0], -1))


class Discriminator(nn.Module):
    """The trunk and one linear logit (dcgan/lsgan/dragan/relativistic_gan's adversarial layer)."""

    normal_init: bool = True

    @nn.compact
    def __call__(self, img, train: bool):
        return layers.Dense(1)(DiscriminatorTrunk(self.normal_init)(img, train))[:, 0]


class AutoencoderDiscriminator(nn.Module):
    """began.py's and ebgan.py's discriminator: image -> (reconstruction, 32-d embedding).

    The two scripts build the same layers (began's ``fc`` starts with the Linear that ebgan names ``embedding``), so
    one module serves both; began ignores the embedding. No dropout. Flattening is NHWC (PyTorch's is NCHW): a
    permutation of the Linear layers' rows, the same family of functions.
    """

    channels: int
    code_dim: int = 32

    @nn.compact
    def __call__(self, img, train: bool):
        x = nn.relu(layers.dcgan_conv(64, 3, strides=2, padding=1)(img))
        n, h, w, c = x.shape
        embedding = layers.Dense(self.code_dim)(x.reshape((n, -1)))
        # nn.BatchNorm1d(32, 0.8): the eps/momentum bug -> momentum 0.8. weights_init_normal only matches
        # "BatchNorm2d", so the 1d scales keep PyTorch's init (ones).
        x = nn.relu(layers.batch_norm(train, momentum=0.8)(embedding))
        x = layers.Dense(h * w * c)(x)
        x = nn.relu(layers.batch_norm(train, momentum=0.9)(x))  # nn.BatchNorm1d(down_dim): PyTorch momentum 0.1
        return layers.dcgan_conv(self.channels, 3, padding=1, upsample=2)(x.reshape((n, h, w, c))), embedding
