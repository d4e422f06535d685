"""Flax layers initialised the way PyTorch initialises them, so ports start from the same distribution.

PyTorch's ``nn.Linear`` / ``nn.Conv2d`` draw weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming
uniform with a=sqrt(5)); Flax defaults to lecun-normal weights and zero biases. PyTorch-GAN's scripts that call
``weights_init_normal`` override convolutions with N(0, 0.02) and BatchNorm scales with N(1, 0.02): see ``dcgan_init``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import linen as nn

# U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the kernel: variance_scaling(1/3, fan_in, uniform) has limit sqrt(3*s/fan_in).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Dense(nn.Module):
    """``nn.Linear`` with PyTorch's default initialisation."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        return nn.Dense(self.features, use_bias=self.use_bias, kernel_init=self.kernel_init,
                        bias_init=torch_bias_init(fan_in))(x)


class Conv(nn.Module):
    """``nn.Conv2d`` (NHWC) with PyTorch's default initialisation and symmetric integer padding."""

    features: int
    kernel_size: int
    strides: int = 1
    padding: int = 0
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1] * self.kernel_size**2
        k, p = self.kernel_size, self.padding
        return nn.Conv(self.features, (k, k), strides=(self.strides, self.strides), padding=((p, p), (p, p)),
                       use_bias=self.use_bias, kernel_init=self.kernel_init, bias_init=torch_bias_init(fan_in))(x)


class ConvTranspose(nn.Module):
    """``nn.ConvTranspose2d(k, stride, padding)`` (NHWC): output size (in - 1) * stride - 2 * padding + k."""

    features: int
    kernel_size: int
    strides: int = 1
    padding: int = 0
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init

    @nn.compact
    def __call__(self, x):
        # PyTorch's fan_in for a transposed conv is computed on its weight [in, out, k, k] -> out * k * k.
        fan_in = self.features * self.kernel_size**2
        k, p = self.kernel_size, self.padding
        # A transposed conv with torch padding p equals a dilated conv with padding k - 1 - p on each side.
        q = k - 1 - p
        return nn.ConvTranspose(self.features, (k, k), strides=(self.strides, self.strides), padding=((q, q), (q, q)),
                                transpose_kernel=True, use_bias=self.use_bias, kernel_init=self.kernel_init,
                                bias_init=torch_bias_init(fan_in))(x)


def batch_norm(train: bool, momentum: float = 0.8, epsilon: float = 1e-5, scale_init=nn.initializers.ones, **kw):
    """BatchNorm as PyTorch-GAN means it.

    PyTorch-GAN writes ``nn.BatchNorm2d(C, 0.8)``, which sets eps=0.8 where momentum 0.8 was meant (a known bug we
    fix): eps stays 1e-5 and the running averages decay with 0.8 (Flax semantics: ra = 0.8 ra + 0.2 batch).
    Scripts without the positional 0.8 use PyTorch's default momentum 0.1, i.e. Flax momentum 0.9: pass it.
    """
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon, scale_init=scale_init,
                        **kw)


# weights_init_normal of PyTorch-GAN: conv weights N(0, 0.02), BN scale N(1, 0.02), BN bias 0.
normal_002 = nn.initializers.normal(0.02)


def bn_scale_normal(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


dcgan_conv = functools.partial(Conv, kernel_init=normal_002)


def upsample_nearest(x, factor: int = 2):
    """``nn.Upsample(scale_factor=factor)`` (nearest) on NHWC."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)
