"""Blocks of PyTorch-GAN's shared-latent and multimodal translators (unit, munit, bicyclegan).

- :func:`reflect_conv`: ``nn.ReflectionPad2d(p)`` + ``nn.Conv2d(k)`` (no zero padding).
- :func:`instance_norm_stats` / :func:`adain`: Adaptive Instance Normalisation (Huang & Belongie 2017): each
  image's channels are normalised by their own spatial mean and (biased) variance, then scaled and shifted by values
  predicted from a style code. PyTorch-GAN computes it as ``F.batch_norm`` on a [1, N*C, H, W] view: the same thing.
- :class:`LayerNorm`: munit's per-image normalisation over C, H, W with the *unbiased* std and eps added to the std
  (not the variance); gamma ~ U[0, 1), beta 0, as its ``LayerNorm``.
- :class:`ResidualBlock`: [reflect conv3 -> norm -> ReLU -> reflect conv3 -> norm] + x, norm = InstanceNorm (no
  affine) or AdaIN with given parameters.
- :class:`MLP`: style code -> AdaIN parameters (Linear 256, ReLU, Linear 256, ReLU, Linear out).
- :class:`MultiDiscriminator`: munit's and bicyclegan's ``n_scales`` PatchGANs (conv4 stride 2: 64 -> LeakyReLU
  0.2, then 128, 256, 512 with norm, then conv3 to 1), each on the image average-pooled once more (3x3, stride 2,
  pad 1, padding excluded from the average). ``compute_loss`` = sum over scales of MSE to a constant.
Convolutions use ``weights_init_normal``'s N(0, 0.02) (all three scripts apply it), Linear layers PyTorch's default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from gan_jax.nets import layers, patchgan

EPS = 1e-5
MLP_DIM = 256


def reflect_conv(features: int, kernel: int, x: jax.Array, name: str | None = None) -> jax.Array:
    p = kernel // 2
    x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    return layers.dcgan_conv(features, kernel, name=name)(x)


def instance_norm_stats(x: jax.Array) -> jax.Array:
    """Per image and channel: (x - mean) / sqrt(var + eps) over H, W (biased variance, as BatchNorm in train mode)."""
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.var(x, axis=(1, 2), keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + EPS)


def adain(x: jax.Array, scale_NxC: jax.Array, shift_NxC: jax.Array) -> jax.Array:
    """AdaIN: instance-normalised x, times the style's scale, plus its shift (one pair per image and channel)."""
    return instance_norm_stats(x) * scale_NxC[:, None, None, :] + shift_NxC[:, None, None, :]


class LayerNorm(nn.Module):
    @nn.compact
    def __call__(self, x):
        flat = x.reshape(x.shape[0], -1)
        mean = jnp.mean(flat, axis=1)[:, None, None, None]
        std = jnp.std(flat, axis=1, ddof=1)[:, None, None, None]
        gamma = self.param("gamma", nn.initializers.uniform(1.0), (x.shape[-1],))
        beta = self.param("beta", nn.initializers.zeros, (x.shape[-1],))
        return (x - mean) / (std + EPS) * gamma + beta


class ResidualBlock(nn.Module):
    """``adain_params`` ([N, 4 C]: shift, scale of the first norm, then of the second) selects AdaIN; else IN."""

    features: int

    @nn.compact
    def __call__(self, x, adain_params=None):
        c = self.features

        def norm(y, i):
            if adain_params is None:
                return patchgan.instance_norm()(y)
            shift, scale = adain_params[:, 2 * c * i:2 * c * i + c], adain_params[:, 2 * c * i + c:2 * c * (i + 1)]
            return adain(y, scale, shift)

        y = nn.relu(norm(reflect_conv(c, 3, x), 0))
        return x + norm(reflect_conv(c, 3, y), 1)


class MLP(nn.Module):
    out_dim: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(layers.Dense(MLP_DIM)(x.reshape(x.shape[0], -1)))
        x = nn.relu(layers.Dense(MLP_DIM)(x))
        return layers.Dense(self.out_dim)(x)


def avg_pool_3s2(x: jax.Array) -> jax.Array:
    """``nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)``."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    window, strides = (1, 3, 3, 1), (1, 2, 2, 1)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    count = jax.lax.reduce_window(jnp.ones(x.shape[:3] + (1,), x.dtype), 0.0, jax.lax.add, window, strides, pad)
    return total / count


class PatchD(nn.Module):
    norm: str  # 'batch' (bicyclegan: BatchNorm2d(C, 0.8)) or 'instance' (munit)

    @nn.compact
    def __call__(self, x, train: bool):
        for i, width in enumerate((64, 128, 256, 512)):
            x = layers.dcgan_conv(width, 4, strides=2, padding=1)(x)
            if i > 0:
                x = (layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x) if self.norm == "batch"
                     else patchgan.instance_norm()(x))
            x = nn.leaky_relu(x, 0.2)
        return layers.dcgan_conv(1, 3, padding=1)(x)


class MultiDiscriminator(nn.Module):
    """Image -> a list of ``n_scales`` patch score maps (full, 1/2, 1/4 resolution inputs)."""

    norm: str
    n_scales: int = 3

    @nn.compact
    def __call__(self, x, train: bool = True):
        outs = []
        for i in range(self.n_scales):
            outs.append(PatchD(self.norm, name=f"disc_{i}")(x, train))
            x = avg_pool_3s2(x)
        return outs


def multi_mse(outputs, target: float) -> jax.Array:
    """``MultiDiscriminator.compute_loss``: sum over scales of mean((out - target)^2)."""
    return sum(jnp.mean(jnp.square(out - target)) for out in outputs)


def multi_d_min_size(n_scales: int, norm: str) -> int:
    """Smallest image side the multi-scale D takes: the coarsest scale's last conv must give >= 1 pixel (>= 2 with
    InstanceNorm, which zeroes 1x1 maps; torch refuses them)."""
    return 2 ** (n_scales - 1 + 4 + (1 if norm == "instance" else 0))


def check_image_size(size: int, minimum: int, multiple: int, flag: str = "img_height") -> None:
    if size < minimum or size % multiple:
        raise ValueError(f"--{flag} must be a multiple of {multiple} and at least {minimum} for this model, got {size}")


def reference_count(n_styles: int | None, references) -> int:
    """How many styles an example-guided translation makes: one per reference image; ``n_styles``, if also given,
    must agree."""
    if n_styles is not None and n_styles != references.shape[0]:
        raise ValueError(f"n_styles={n_styles} but {references.shape[0]} reference images: give one or the other, "
                         f"or the same number")
    return references.shape[0]


def check_images(images, config, *, minimum: int, multiple: int, exact: bool = False, what: str = "input") -> None:
    """A clear error for images this model cannot translate: wrong rank or channels, a side below ``minimum`` or not
    a multiple of ``multiple`` (fully convolutional models), or (``exact``) another size than the model's."""
    if images.ndim != 4 or images.shape[-1] != config.channels:
        raise ValueError(f"expected {what} images [N, H, W, {config.channels}], got shape {tuple(images.shape)}")
    h, w = images.shape[1:3]
    if exact and (h, w) != (config.img_height, config.img_width):
        raise ValueError(f"{what} images are {h}x{w}; this model takes exactly {config.img_height}x"
                         f"{config.img_width} (resize them, or train with --img_height/--img_width)")
    if min(h, w) < minimum or h % multiple or w % multiple:
        raise ValueError(f"{what} images are {h}x{w}; this model needs sides of at least {minimum} pixels and "
                         f"multiples of {multiple}")
