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
    """``nn.Conv2d`` (NHWC) with PyTorch's default initialisation and symmetric integer padding.

    ``polyphase_input_grad``: a strided convolution computes its input gradient as the polyphase transposed
    convolution (:func:`_strided_conv_polyphase_grad`) instead of XLA's input-dilated convolution. Always done for
    outputs of at most 2x2; ask for it in critics trained with a gradient penalty on large images, where the penalty
    differentiates that input gradient again and XLA:CPU's kernel gradient of an input-dilated convolution is the
    slow path: dualgan's critic (batch 8, 128 px) 1,464 -> 328 ms for loss + gradient, stargan's (batch 16, 128 px)
    5,422 -> 1,154 ms for the penalty's gradient. Not the default: at 32 px (dragan) the whole step got slower
    (282 -> 323 ms), and first-order training gains nothing.

    Layers with no more output pixels (batch included) than output channels are computed as matrix products
    instead (:func:`_gemm_pays`); stride-1 padded ones at batch <= ``SMALL_BATCH`` take another kernel gradient
    (:func:`_padded_conv_valid_kernel_grad`); strided ones with outputs of 16x16 and more, as stride-1 convolutions
    on the space-to-depth input (:func:`_space_to_depth_conv`); stride-1 ones with at most ``FEW_OUTPUTS`` output
    channels (the layers that draw the image), as a matrix product and a sum of shifted taps
    (:func:`_few_outputs_conv`). Every path gives the same numbers up to float rounding (tests/test_nets.py).

    ``upsample``: the layer convolves the input nearest-upsampled by this factor (PyTorch-GAN's ``nn.Upsample`` +
    ``nn.Conv2d``), computed without the upsampled image where that pays (:func:`upsample_conv`). ``padding`` is
    an int or ``((top, bottom), (left, right))`` (asymmetric: pix2pix's ``ZeroPad2d`` before its last layer).
    """

    features: int
    kernel_size: int
    strides: int = 1
    padding: int | tuple = 0
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init
    polyphase_input_grad: bool = False
    upsample: int = 1

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1] * self.kernel_size**2
        k, s, f = self.kernel_size, self.strides, self.upsample
        pads = _padding_pairs(self.padding)
        if f > 1:
            if s != 1:
                raise ValueError(f"Conv(upsample={f}) is for stride 1, got strides={s}")
            out_hw = [_upsampled_out_size(d, k, f, pair) for d, pair in zip(x.shape[1:3], pads)]
            out_pixels = x.shape[0] * math.prod(out_hw)
            if _fold_pays(out_pixels, self.features, k):
                return nn.Conv(self.features, (k, k), padding=pads, use_bias=self.use_bias,
                               kernel_init=self.kernel_init, bias_init=torch_bias_init(fan_in),
                               conv_general_dilated=functools.partial(_upsampled_conv_general, factor=f))(x)
            x = upsample_nearest(x, f)
        p = min(q for pair in pads for q in pair)
        if any(q != p for pair in pads for q in pair):  # asymmetric: the excess as explicit zeros
            x = jnp.pad(x, ((0, 0), (pads[0][0] - p, pads[0][1] - p), (pads[1][0] - p, pads[1][1] - p), (0, 0)))
        conv_general_dilated = jax.lax.conv_general_dilated
        out_pixels = x.shape[0] * math.prod(_out_size(d, k, s, p) for d in x.shape[1:3])
        if k > 1 and _gemm_pays(out_pixels, self.features):
            conv_general_dilated = _gemm_conv_general  # same numbers, as matrix products: see _gemm_conv
        elif s > 1 and (self.polyphase_input_grad or _tiny_output(x.shape, k, s, p)):
            conv_general_dilated = _strided_conv_polyphase_grad  # same numbers, another input gradient: see there
        elif s > 1 and _space_to_depth_pays(x.shape, k, s, p):
            conv_general_dilated = _space_to_depth_conv_general  # same numbers, a stride-1 convolution: see there
        elif s == 1 and k > 1 and self.features <= FEW_OUTPUTS:
            conv_general_dilated = _few_outputs_conv_general  # same numbers, a matrix product first: see there
        elif s == 1 and p > 0 and x.shape[0] <= SMALL_BATCH:
            conv_general_dilated = _padded_conv_valid_kernel_grad  # same numbers, another kernel gradient: see there
        return nn.Conv(self.features, (k, k), strides=(s, s), padding=((p, p), (p, p)), use_bias=self.use_bias,
                       kernel_init=self.kernel_init, bias_init=torch_bias_init(fan_in),
                       conv_general_dilated=conv_general_dilated)(x)


def _padding_pairs(padding) -> tuple:
    """``((top, bottom), (left, right))`` from an int or from those pairs."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    (t, b), (lft, r) = padding
    return ((int(t), int(b)), (int(lft), int(r)))


def _out_size(d: int, k: int, s: int, p: int) -> int:
    """A convolution's output size along one axis (PyTorch's and XLA's: the last partial window dropped)."""
    return (d + 2 * p - k) // s + 1


def _tiny_output(shape, k: int, s: int, p: int) -> bool:
    return all(_out_size(d, k, s, p) <= 2 for d in shape[1:3])


def _strided_conv_polyphase_grad(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                               dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                               preferred_element_type=None):
    """``lax.conv_general_dilated`` for a strided NHWC convolution, with its input gradient computed by
    :func:`conv_transpose` (one ordinary convolution for all phases, whose own derivatives are fast on XLA:CPU).

    Used for every strided convolution whose output is at most 2x2: XLA:CPU's own input gradient (an input-dilated
    convolution) of such a layer is pathologically slow, for stargan's last critic layer (batch 16, 4x4x1024 ->
    2x2x2048) 9.1 s against 0.24 s this way (forward and kernel gradient unaffected). Every GAN back-propagates
    through its critic into G, and a gradient penalty does so at every critic step. Also used, at any output size,
    where ``Conv.polyphase_input_grad`` asks for it (see there)."""
    s, p = _square_stride_and_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                      dimension_numbers, feature_group_count, batch_group_count)
    return _strided_conv(lhs, rhs, s, p)


def _square_stride_and_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                               feature_group_count, batch_group_count):
    """The stride and padding of a square-strided, symmetrically padded plain NHWC/HWIO ``conv_general_dilated``
    call, the kind :func:`_strided_conv` and :func:`_gemm_conv` compute; any other raises."""
    if (window_strides[0] != window_strides[1] or isinstance(padding, str) or tuple(padding[0]) != tuple(padding[1])
            or padding[0][0] != padding[0][1]
            or not _plain_nhwc(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
                               batch_group_count)):
        raise NotImplementedError("only square-strided, symmetrically padded NHWC/HWIO convolutions")
    return int(window_strides[0]), int(padding[0][0])


def _plain_nhwc(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
                batch_group_count) -> bool:
    """Whether a ``conv_general_dilated`` call is an undilated, ungrouped NHWC/HWIO convolution, the only kind the
    custom-gradient convolutions here compute."""
    nhwc = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))
    return (tuple(lhs_dilation or (1, 1)) == (1, 1) and tuple(rhs_dilation or (1, 1)) == (1, 1)
            and feature_group_count == 1 and batch_group_count == 1
            and jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == nhwc)


def _xla_strided_conv(x, kernel, strides: int, padding: int):
    return jax.lax.conv_general_dilated(x, kernel, (strides, strides), ((padding, padding), (padding, padding)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


_strided_conv = jax.custom_vjp(_xla_strided_conv, nondiff_argnums=(2, 3))


def _strided_conv_fwd(x, kernel, strides, padding):
    return _xla_strided_conv(x, kernel, strides, padding), (x, kernel)


def _strided_conv_bwd(strides, padding, residuals, g):
    x, kernel = residuals
    k, s, p = kernel.shape[0], strides, padding
    # the adjoint of the strided convolution: the transposed one, over the padded input, then the padding cut
    full = conv_transpose(g, kernel, s, 0)  # rows 0 .. (out - 1) s + k - 1 of the padded input
    h, w = x.shape[1:3]
    full = jax.lax.pad(full, jnp.zeros((), full.dtype), ((0, 0, 0), (0, h + 2 * p - full.shape[1], 0),
                                                         (0, w + 2 * p - full.shape[2], 0), (0, 0, 0)))
    dx = full[:, p:p + h, p:p + w]
    _, kernel_vjp = jax.vjp(lambda kern: _xla_strided_conv(x, kern, s, p), kernel)
    return dx, kernel_vjp(g)[0]


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def _space_to_depth_pays(shape, k: int, s: int, p: int) -> bool:
    """Whether a strided convolution is computed by :func:`_space_to_depth_conv`: outputs of at least 16x16 whose
    kernel tiles into whole blocks (k a multiple of s: no zero taps) or whose input has at most 64 channels (a 3x3
    kernel at stride 2 becomes 2x2 blocks, 16 taps for 9: the waste only pays back on few input channels)."""
    return (all(_out_size(d, k, s, p) >= 16 for d in shape[1:3])
            and (k % s == 0 or shape[3] <= 64))


def _space_to_depth_conv_general(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                                 dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                                 preferred_element_type=None):
    """``lax.conv_general_dilated`` for a square-strided, symmetrically padded NHWC convolution, computed by
    :func:`_space_to_depth_conv` (see there for why; :func:`_space_to_depth_pays` for when)."""
    s, p = _square_stride_and_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                      dimension_numbers, feature_group_count, batch_group_count)
    return _space_to_depth_conv(lhs, rhs, s, p)


def _space_to_depth_conv(x, kernel, s: int, p: int):
    """A stride-``s`` convolution as a stride-1 VALID one on the space-to-depth input: the padded input cut into
    s x s blocks, each block's pixels stacked on the channels (``[n, i, j, (a, b, c)] = x[n, s i + a - p,
    s j + b - p, c]``), and the kernel, padded with zero taps to a multiple of s, cut the same way: the same
    products as the strided convolution, summed in another order. JAX differentiates through the rearrangements.

    Why: XLA:CPU computes a strided convolution's gradients as dilated convolutions (the output gradient dilated for
    the input gradient, the window dilated for the kernel gradient) that run at a fraction of its stride-1 rate (the
    kernel gradient of cyclegan's first downsampling layer, 2.4 GFLOP, took 109 ms where a stride-1 residual
    layer's, twice the arithmetic, takes ~43). Forward + both gradients, batch 1, 2-core CPU, ms, XLA -> this:
    cyclegan's 3x3 64 -> 128 at 256 px 238 -> 161, its critic's 4x4 layers at 256 / 128 / 64 / 32 px 18.6 / 72 / 54
    / 46 -> 9.1 / 33 / 30 / 38, pix2pix's 4x4 64 -> 128 at 128 px 89 -> 36; batch 8-64: bicyclegan's 4x4 64 -> 128
    at 64 px 108 -> 60, discogan's 64 -> 128 at 32 px 212 -> 168, srgan's 3x3 64 -> 64 at 256 px 520 -> 440. Slower
    where the output is small (dcgan's 8 -> 4 px, 2.2 -> 3.8) or a 3x3 kernel meets many input channels (srgan's 128
    -> 128 at 128 px 297 -> 315), which :func:`_space_to_depth_pays` leaves to XLA."""
    n, h, w, c = x.shape
    k, c_out = kernel.shape[0], kernel.shape[3]
    blocks = -(-k // s)  # the kernel's side in blocks
    ho, wo = _out_size(h, k, s, p), _out_size(w, k, s, p)
    hs, ws = s * (ho + blocks - 1), s * (wo + blocks - 1)  # the input rows and columns the output reads, padded
    zero = jnp.zeros((), x.dtype)
    x = jax.lax.pad(x, zero, ((0, 0, 0), (p, hs - h - p, 0), (p, ws - w - p, 0), (0, 0, 0)))  # negative: crops
    x = x.reshape(n, hs // s, s, ws // s, s, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, hs // s, ws // s, s * s * c)
    kernel = jnp.pad(kernel, ((0, s * blocks - k), (0, s * blocks - k), (0, 0), (0, 0)))
    kernel = kernel.reshape(blocks, s, blocks, s, c, c_out).transpose(0, 2, 1, 3, 4, 5)
    return jax.lax.conv_general_dilated(x, kernel.reshape(blocks, blocks, s * s * c, c_out), (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _few_outputs_conv_general(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                              dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                              preferred_element_type=None):
    """``lax.conv_general_dilated`` for a stride-1, zero-padded NHWC convolution, computed by
    :func:`_few_outputs_conv` over the explicitly padded input (used for layers with few output channels)."""
    padding = _stride1_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                               feature_group_count, batch_group_count)
    lhs = jax.lax.pad(lhs, jnp.zeros((), lhs.dtype), ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))
    k = rhs.shape[0]
    return _few_outputs_conv(lhs, rhs, _planar_pays(k, lhs.shape[2] - k + 1))


def _few_outputs_conv_impl(x, kernel, planar: bool):
    """A stride-1 VALID convolution as one matrix product and a sum of shifted taps (kn2row): every input pixel
    times the kernel as (in, k k out), ``z[n, i, j, a, b] = x[n, i, j] @ kernel[a, b]``, then ``y[n, i, j] =
    sum_ab z[n, i + a, j + b, a, b]``. Its custom VJP spreads the output gradient over the taps the same way back
    (:func:`_spread_taps`) and takes both gradients as matrix products.

    ``planar`` (:func:`_planar_pays`: wide images, large kernels) lays ``z`` out as ``[a, b, out, n, i, j]``, the
    product taken the other way round, so each tap's shifted read and the gradient's spread are whole contiguous
    rows rather than runs of ``out`` (1-4) values: forward + both gradients 1.2-1.5x faster on such layers (2-core
    CPU, ms: cyclegan's and unit's last layer 78-112 -> 63-74, srgan's 738-847 -> 611-651, stargan's 333-371 ->
    244-288, munit's (7x7, 128 px) 13-21 -> 10-12, esrgan's 3x3 at batch 4, 256 px 70-84 -> 60), slower on small
    images (3x3, batch 64, 32 px: 6.2 -> 8.1-8.6).

    Why: with few output channels (3 for an RGB image) XLA:CPU's convolution spends its time gathering each
    output pixel's k x k x in patch, whatever the output count (cyclegan's last layer, 64 -> 3..16 channels, 7x7 at
    256 px: 192-207 ms forward + both gradients for any of them); the product reads each input pixel once.
    Forward + both gradients, 2-core CPU, ms, XLA -> this (pixel-major ``z``): cyclegan's last layer (batch 1,
    256 px, 7x7) 183-196 -> 115-118, srgan's (batch 4, 256 px, 9x9) 1,195-1,388 -> 771-915, stargan's (batch 16,
    128 px, 7x7) 530-700 -> 440-453, a 3x3 one at batch 4, 256 px 183-222 -> 135-164, at batch 64, 32 px 36-39 ->
    18."""
    k, c_in, c_out = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    n, h, w, _ = x.shape
    ho, wo = h - k + 1, w - k + 1
    columns, pixels = _taps_as_columns(kernel), x.reshape(-1, c_in)
    if planar:
        z = _dot(columns, pixels, 0, 1).reshape(k, k, c_out, n, h, w)
        return sum(z[a, b, :, :, a:a + ho, b:b + wo] for a in range(k) for b in range(k)).transpose(1, 2, 3, 0)
    z = _dot(pixels, columns, 1, 0).reshape(n, h, w, k, k, c_out)
    return sum(z[:, a:a + ho, b:b + wo, a, b] for a in range(k) for b in range(k))


def _planar_pays(k: int, width: int) -> bool:
    """Whether :func:`_few_outputs_conv` lays its taps out as planes: when a tap's rows are long and there are many
    taps (measured: 3x3 wins from 256 px on, 7x7 from 128 px; 3x3 at 128 px and 5x5 at 32 px tie or lose)."""
    return k * k * width >= 2048


def _taps_as_columns(kernel):
    """``[k, k, in, out]`` -> ``[in, (a, b, out)]``."""
    k, c_in, c_out = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    return kernel.transpose(2, 0, 1, 3).reshape(c_in, k * k * c_out)


def _spread_taps(g, k: int, out_hw, planar: bool):
    """The adjoint of the sum of shifted taps: ``dz[n, i + a, j + b, a, b] = g[n, i, j]`` (zero elsewhere), i.e.
    :func:`_patches` of ``g`` padded by ``k - 1`` with the taps reversed; ``planar``: ``[(a, b, out), pixels]``."""
    if not planar:
        return _patches(g, k, 1, k - 1, out_hw)[:, :, :, ::-1, ::-1].reshape(-1, k * k * g.shape[3])
    # Slices stacked straight into the planar layout: _patches of the planes then a transpose moved the k k-times
    # larger array twice (srgan's 9x9 layer: 590-644 ms this way, 1,102-1,143 that way)
    planes = jnp.pad(g.transpose(3, 0, 1, 2), ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))  # [out, n, ...]
    h, w = out_hw
    return jnp.stack([jnp.stack([planes[:, :, k - 1 - a:k - 1 - a + h, k - 1 - b:k - 1 - b + w] for b in range(k)])
                      for a in range(k)]).reshape(k * k * g.shape[3], -1)


_few_outputs_conv = jax.custom_vjp(_few_outputs_conv_impl, nondiff_argnums=(2,))


def _few_outputs_conv_fwd(x, kernel, planar):
    return _few_outputs_conv_impl(x, kernel, planar), (x, kernel)


def _few_outputs_conv_bwd(planar, residuals, g):
    x, kernel = residuals
    k, c_in = kernel.shape[0], kernel.shape[2]
    columns, pixels = _taps_as_columns(kernel), x.reshape(-1, c_in)
    dz = _spread_taps(g, k, x.shape[1:3], planar)  # [pixels, (a, b, out)], planar: transposed
    dx = _dot(dz, columns, 0 if planar else 1, 1)
    dcolumns = _dot(pixels, dz, 0, 1 if planar else 0)  # [in, (a, b, out)]
    return dx.reshape(x.shape), dcolumns.reshape(c_in, k, k, -1).transpose(1, 2, 0, 3)


_few_outputs_conv.defvjp(_few_outputs_conv_fwd, _few_outputs_conv_bwd)


# Layers with at most this many output channels: stride-1 ones are computed by _few_outputs_conv, upsampled ones
# stack their phases into one convolution (upsample_conv).
FEW_OUTPUTS = 4

# Batches up to this size take the explicit-padding kernel gradient of stride-1 padded convolutions (see there).
SMALL_BATCH = 4


def _padded_conv_valid_kernel_grad(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                                   dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                                   precision=None, preferred_element_type=None):
    """``lax.conv_general_dilated`` for a stride-1, zero-padded NHWC convolution whose kernel gradient is taken as
    that of the VALID convolution over the explicitly padded input (forward and input gradient: XLA's own).

    Why: XLA:CPU's kernel gradient of a padded convolution (a convolution with the output gradient as the window
    and the padding folded in) is 1.5-7.7x slower at batch 1-2 than the same gradient with the padding applied to
    the input first (2-core CPU, ms: batch 1, 256 px, 64 -> 3 channels, 7x7 689 -> 90; 128 px, 64 -> 64, 3x3
    39 -> 15; pix2pix's last layer, 257 px, 128 -> 3, 4x4 308 -> 99); neutral at batch 4 and slower at 8 and
    above, hence ``SMALL_BATCH``. Strided convolutions show no difference and keep XLA's. This is what held
    pix2pix, cyclegan, munit and unit (batch 1) behind PyTorch side by side (benchmarks/RESULTS.md)."""
    return _padded_conv(lhs, rhs, _stride1_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                                   dimension_numbers, feature_group_count, batch_group_count))


def _stride1_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                     feature_group_count, batch_group_count) -> tuple:
    """The explicit padding of a stride-1 plain NHWC/HWIO ``conv_general_dilated`` call, as int pairs; any other
    call raises."""
    if (tuple(window_strides) != (1, 1) or isinstance(padding, str)
            or not _plain_nhwc(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
                               batch_group_count)):
        raise NotImplementedError("only stride-1, explicitly padded NHWC/HWIO convolutions")
    return tuple(tuple(int(q) for q in pair) for pair in padding)


def _xla_padded_conv(x, kernel, padding):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


_padded_conv = jax.custom_vjp(_xla_padded_conv, nondiff_argnums=(2,))


def _padded_conv_fwd(x, kernel, padding):
    return _xla_padded_conv(x, kernel, padding), (x, kernel)


def _padded_conv_bwd(padding, residuals, g):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda x: _xla_padded_conv(x, kernel, padding), x)
    padded = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    _, kernel_vjp = jax.vjp(lambda kern: _xla_padded_conv(padded, kern, ((0, 0), (0, 0))), kernel)
    return input_vjp(g)[0], kernel_vjp(g)[0]


_padded_conv.defvjp(_padded_conv_fwd, _padded_conv_bwd)


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
        # The name keeps the parameter tree of flax's nn.ConvTranspose (checkpoints and counts unchanged).
        return _PolyphaseConvTranspose(self.features, self.kernel_size, self.strides, self.padding, self.use_bias,
                                       self.kernel_init, torch_bias_init(fan_in), name="ConvTranspose_0")(x)


class _PolyphaseConvTranspose(nn.Module):
    """A transposed convolution computed as one ordinary convolution that yields all ``strides**2`` output
    phases at once (:func:`_stacked_conv_transpose`).

    Why: XLA:CPU runs the input-dilated convolution that ``lax.conv_transpose`` lowers to (and its kernel gradient)
    on a slow generic path: a DCGAN-sized layer trained 5-17x slower than a polyphase form (measured on the 2-core
    CPU). Same numbers as ``lax.conv_transpose(..., transpose_kernel=True)`` (tests/test_nets.py checks it) and the
    same kernel layout (k, k, out, in).
    """

    features: int
    kernel_size: int
    strides: int
    padding: int
    use_bias: bool
    kernel_init: nn.initializers.Initializer
    bias_init: nn.initializers.Initializer

    @nn.compact
    def __call__(self, x):
        k, s, p = self.kernel_size, self.strides, self.padding
        kernel = self.param("kernel", self.kernel_init, (k, k, self.features, x.shape[-1]))
        y = conv_transpose(x, kernel, s, p)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y


def conv_transpose(x, kernel, strides: int, padding: int):
    """PyTorch's ``conv_transpose2d(x, w, stride, padding)`` on NHWC ``x``; ``kernel`` is (k, k, out, in).

    One convolution for all output phases (:func:`_stacked_conv_transpose`), or matrix products when the input has
    no more pixels (batch included) than channels (:func:`_gemm_pays`); the same numbers either way."""
    k, s, p = kernel.shape[0], strides, padding
    if _gemm_pays(math.prod(x.shape[:3]), kernel.shape[3]):
        return _gemm_conv_transpose(x, kernel, s, p)  # same numbers, as matrix products: see there
    whole = -(-k // s) * s  # a multiple of the stride: the zero taps added only make outputs past the end, cut off
    if whole == k:
        return _stacked_conv_transpose(x, kernel, s, p)
    out_hw = [_transposed_out_size(d, k, s, p) for d in x.shape[1:3]]
    kernel = jnp.pad(kernel, ((0, whole - k), (0, whole - k), (0, 0), (0, 0)))
    return _stacked_conv_transpose(x, kernel, s, p)[:, :out_hw[0], :out_hw[1]]


def _transposed_out_size(d: int, k: int, s: int, p: int) -> int:
    """``nn.ConvTranspose2d``'s output size along one axis."""
    return (d - 1) * s - 2 * p + k


def _conv_transpose_geometry(shape, k: int, s: int, p: int):
    """For :func:`_stacked_conv_transpose` (``s`` divides ``k``): the output size, the outputs per phase (rounded
    up), each phase's shift (its first input offset less the first phase's) and the stacked convolution's padding of
    the input (negative: cropping).

    Output ``o = s j + c`` meets input ``i`` through tap ``t = o + p - s i``: with ``c + p = s q + r``, the taps
    ``r + s u`` (``u < k / s``) and the inputs ``j + q - u``, so phase ``c`` is a correlation of the inputs from
    ``j + q - k / s + 1`` on with those taps reversed."""
    m = k // s
    out_hw = [_transposed_out_size(d, k, s, p) for d in shape[1:3]]
    per_phase = [-(-o // s) for o in out_hw]
    firsts = [(c + p) // s - m + 1 for c in range(s)]
    shifts = [first - firsts[0] for first in firsts]  # the stacked outputs: per_phase + shifts[-1] along each axis
    pad = tuple((-firsts[0], firsts[0] + per_phase[a] + shifts[-1] + m - 1 - shape[1 + a]) for a in range(2))
    return out_hw, per_phase, shifts, pad


def _stacked_phase_kernel(kernel, s: int, p: int):
    """(k, k, out, in) -> the phases' sub-kernels side by side, (k/s, k/s, in, (cy, cx, out)): phase ``c`` takes
    the taps ``(c + p) mod s + s u``, reversed. Reshapes, flips and a roll only, so its adjoint moves no weight
    twice."""
    k, c_out, c_in = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    m = k // s
    taps = kernel.reshape(m, s, m, s, c_out, c_in)[::-1, :, ::-1]  # [u reversed, r, u reversed, r]
    taps = jnp.roll(taps, -p, axis=(1, 3))  # residue r = (c + p) mod s at position c
    return taps.transpose(0, 2, 5, 1, 3, 4).reshape(m, m, c_in, s * s * c_out)


def _crop_negative_padding(x, padding):
    """``x`` cropped where ``((top, bottom), (left, right))`` is negative, and the padding left to apply."""
    crop = [(max(0, -lo), max(0, -hi)) for lo, hi in padding]
    x = x[:, crop[0][0]:x.shape[1] - crop[0][1], crop[1][0]:x.shape[2] - crop[1][1]]
    return x, tuple((max(0, lo), max(0, hi)) for lo, hi in padding)


def _stacked_conv_transpose_impl(x, kernel, s: int, p: int):
    """The transposed convolution (``s`` divides ``k``) as one stride-1 convolution of ``x`` with every phase's
    sub-kernel stacked on the outputs (:func:`_stacked_phase_kernel`), each at the window's first tap; a phase's
    output is read shifted by its first input offset and the phases interleave into the output."""
    k, c_out = kernel.shape[0], kernel.shape[2]
    n = x.shape[0]
    out_hw, per_phase, shifts, pad = _conv_transpose_geometry(x.shape, k, s, p)
    x, pad = _crop_negative_padding(x, pad)
    y = _xla_padded_conv(x, _stacked_phase_kernel(kernel, s, p), pad)
    y = y.reshape(n, per_phase[0] + shifts[-1], per_phase[1] + shifts[-1], s, s, c_out)
    return _interleave_phases(_read_shifted_phases(y, (shifts, shifts), per_phase), out_hw)


_stacked_conv_transpose = jax.custom_vjp(_stacked_conv_transpose_impl, nondiff_argnums=(2, 3))


def _stacked_conv_transpose_fwd(x, kernel, s, p):
    return _stacked_conv_transpose_impl(x, kernel, s, p), (x, kernel)


def _stacked_conv_transpose_bwd(s, p, residuals, g):
    """The input gradient as the strided convolution of ``g`` (the transposed convolution's adjoint, one XLA
    convolution); the kernel gradient as that of the stacked convolution, over the explicitly padded input, its
    output gradient laid out phase by phase in one pass.

    Left to autodiff, the shifted reads' adjoint became one zero-padded copy of the output gradient per phase, summed
    (~100 ms of a 150 ms layer), and XLA's kernel gradient of the padded convolution took 3-13 s (the explicit
    padding avoids that slow path, as :func:`_padded_conv_valid_kernel_grad` does)."""
    x, kernel = residuals
    k, c_out = kernel.shape[0], kernel.shape[2]
    n = x.shape[0]
    out_hw, per_phase, shifts, pad = _conv_transpose_geometry(x.shape, k, s, p)
    dx = _xla_strided_conv(g, kernel, s, p)
    extra = shifts[-1]
    g = jnp.pad(g, ((0, 0), (0, per_phase[0] * s - out_hw[0]), (0, per_phase[1] * s - out_hw[1]), (0, 0)))
    g = g.reshape(n, per_phase[0], s, per_phase[1], s, c_out)
    place = lambda c: (shifts[c], extra - shifts[c])  # a phase's rows within the stacked output
    dy = jnp.stack([jnp.stack([jnp.pad(g[:, :, cy, :, cx], ((0, 0), place(cy), place(cx), (0, 0)))
                               for cx in range(s)], axis=3) for cy in range(s)], axis=3)
    dy = dy.reshape(n, per_phase[0] + extra, per_phase[1] + extra, s * s * c_out)
    x, pad = _crop_negative_padding(x, pad)
    padded = jnp.pad(x, ((0, 0), pad[0], pad[1], (0, 0)))
    stacked, stack_vjp = jax.vjp(lambda kern: _stacked_phase_kernel(kern, s, p), kernel)
    _, kernel_vjp = jax.vjp(lambda kern: _xla_padded_conv(padded, kern, ((0, 0), (0, 0))), stacked)
    return dx, stack_vjp(kernel_vjp(dy)[0])[0]


_stacked_conv_transpose.defvjp(_stacked_conv_transpose_fwd, _stacked_conv_transpose_bwd)


def _gemm_pays(pixels: int, channels: int) -> bool:
    """Whether a convolution is computed as matrix products (:func:`_gemm_conv`, :func:`_gemm_conv_transpose`):
    when it has no more output (transposed: input) pixels, batch included, than channels on the kernel's other
    side, i.e. its patch matrix is no larger than its kernel.

    Why: such layers (a U-Net's 1-16 px inner layers, a critic's last ones) hold most of a network's weights and
    little of its arithmetic, so weight-sized memory traffic decides their time. XLA:CPU's convolutions copy each
    kernel into another layout for the input gradient (and the transposed convolution rearranges its taps by
    phase); matrix products over the patches, oriented so that the forward pass and both gradients read and
    write the kernel in its stored layout, move no kernel at all (only the small activations are transposed).
    Forward + both gradients, batch 1, 4x4 stride 2, 2-core CPU, ms: transposed 1024 -> 512 at 2 / 4 / 8 / 16 px
    54.5 / 55.5 / 70.7 / 38.0 -> 17.8 / 19.8 / 29.4 / 24.5; strided 512 -> 512 at 4 / 8 / 16 px 10.4 / 12.2 / 17.4
    -> 2.3 / 3.3 / 9.1; about even where the patches outgrow the kernel (128 -> 256 at 64 px: 21.8 / 21.7).
    """
    return pixels <= channels


def _patches(x, k: int, s: int, p: int, out_hw):
    """im2col: ``[n, i, j, a, b, c] = x[n, s i + a - p, s j + b - p, c]`` (zero outside), i < out_hw[0]."""
    ho, wo = out_hw
    xp = jnp.pad(x, ((0, 0), (p, max(0, (ho - 1) * s + k - p - x.shape[1])),
                     (p, max(0, (wo - 1) * s + k - p - x.shape[2])), (0, 0)))
    n, c = x.shape[0], x.shape[3]
    taps = [[jax.lax.slice(xp, (0, a, b, 0), (n, a + (ho - 1) * s + 1, b + (wo - 1) * s + 1, c), (1, s, s, 1))
             for b in range(k)] for a in range(k)]
    return jnp.stack([jnp.stack(row, axis=3) for row in taps], axis=3)  # [n, ho, wo, a, b, c]


def _overlap_add(cols, s: int, p: int, out_hw):
    """col2im, the adjoint of :func:`_patches`: ``y[n, s i + a - p, s j + b - p] += cols[n, i, j, a, b]``."""
    h, w, k = cols.shape[1:4]
    zero = jnp.zeros((), cols.dtype)
    y = 0
    for a in range(k):
        for b in range(k):
            lo_y, lo_x = a - p, b - p  # negative padding crops
            y = y + jax.lax.pad(cols[:, :, :, a, b], zero, (
                (0, 0, 0), (lo_y, out_hw[0] - lo_y - ((h - 1) * s + 1), s - 1),
                (lo_x, out_hw[1] - lo_x - ((w - 1) * s + 1), s - 1), (0, 0, 0)))
    return y


def _dot(a, b, contract_a: int, contract_b: int):
    return jax.lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((), ())))


def _gemm_conv_general(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                       dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                       preferred_element_type=None):
    """``lax.conv_general_dilated`` for a square-strided, symmetrically padded NHWC convolution, computed by
    :func:`_gemm_conv` (see :func:`_gemm_pays` for when and why)."""
    s, p = _square_stride_and_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                      dimension_numbers, feature_group_count, batch_group_count)
    return _gemm_conv(lhs, rhs, s, p)


def _gemm_conv_impl(x, kernel, s: int, p: int):
    """The convolution as (patches) @ (kernel as (k k in, out)); its custom VJP keeps that kernel layout."""
    k, c_out = kernel.shape[0], kernel.shape[3]
    n, h, w, _ = x.shape
    out_hw = (_out_size(h, k, s, p), _out_size(w, k, s, p))
    cols = _patches(x, k, s, p, out_hw).reshape(n * out_hw[0] * out_hw[1], -1)
    return _dot(cols, kernel.reshape(-1, c_out), 1, 0).reshape(n, *out_hw, c_out)


_gemm_conv = jax.custom_vjp(_gemm_conv_impl, nondiff_argnums=(2, 3))


def _gemm_conv_fwd(x, kernel, s, p):
    return _gemm_conv_impl(x, kernel, s, p), (x, kernel)


def _gemm_conv_bwd(s, p, residuals, g):
    x, kernel = residuals
    k, c_in, c_out = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    n, ho, wo, _ = g.shape
    w2 = kernel.reshape(-1, c_out)  # (k k in, out), the stored layout: each product below reads it as it is
    g2 = g.reshape(-1, c_out)
    dcols_t = _dot(w2, g2, 1, 1)  # (k k in, pixels)
    dcols = dcols_t.T.reshape(n, ho, wo, k, k, c_in)
    dx = _overlap_add(dcols, s, p, x.shape[1:3])
    cols = _patches(x, k, s, p, (ho, wo)).reshape(n * ho * wo, -1)
    dkernel = _dot(cols, g2, 0, 0).reshape(kernel.shape)
    return dx, dkernel


_gemm_conv.defvjp(_gemm_conv_fwd, _gemm_conv_bwd)


def _gemm_conv_transpose_impl(x, kernel, s: int, p: int):
    """The transposed convolution as (kernel as (k k out, in)) @ x^T, the columns overlap-added into the output;
    its custom VJP keeps that kernel layout."""
    k, c_out, c_in = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    n, h, w, _ = x.shape
    cols_t = _dot(kernel.reshape(-1, c_in), x.reshape(-1, c_in), 1, 1)  # (k k out, pixels)
    cols = cols_t.T.reshape(n, h, w, k, k, c_out)
    return _overlap_add(cols, s, p, (_transposed_out_size(h, k, s, p), _transposed_out_size(w, k, s, p)))


_gemm_conv_transpose = jax.custom_vjp(_gemm_conv_transpose_impl, nondiff_argnums=(2, 3))


def _gemm_conv_transpose_fwd(x, kernel, s, p):
    return _gemm_conv_transpose_impl(x, kernel, s, p), (x, kernel)


def _gemm_conv_transpose_bwd(s, p, residuals, g):
    x, kernel = residuals
    k, c_in = kernel.shape[0], kernel.shape[3]
    n, h, w, _ = x.shape
    dcols = _patches(g, k, s, p, (h, w)).reshape(n * h * w, -1)  # (pixels, k k out)
    w2 = kernel.reshape(-1, c_in)  # (k k out, in), the stored layout
    dx = _dot(dcols, w2, 1, 0).reshape(x.shape)
    dkernel = _dot(dcols, x.reshape(-1, c_in), 0, 0).reshape(kernel.shape)
    return dx, dkernel


_gemm_conv_transpose.defvjp(_gemm_conv_transpose_fwd, _gemm_conv_transpose_bwd)


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
    return _upsample_nearest(x, factor)


def _repeat_pixels(x, factor: int):
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


_upsample_nearest = jax.custom_vjp(_repeat_pixels, nondiff_argnums=(1,))


def _upsample_nearest_fwd(x, factor):
    return _repeat_pixels(x, factor), None


def _upsample_nearest_bwd(factor, _, g):
    """Each input pixel's gradient: the sum of its ``factor x factor`` copies, as strided slices added.

    Autodiff writes this as a reduction, and XLA:CPU then folds the convolution that produced ``g`` (the input
    gradient of the convolution after the upsampling, in every Upsample + Conv generator) into YNNPACK's reduce
    fusion, whose convolution is several times slower than XLA's own: munit's decoder spent ~0.6 of its ~1.8 s
    step there (2-core CPU). Slices and adds stay an elementwise loop beside XLA's convolution."""
    return (sum(g[:, i::factor, j::factor] for i in range(factor) for j in range(factor)),)


_upsample_nearest.defvjp(_upsample_nearest_fwd, _upsample_nearest_bwd)


def upsample_conv(x, kernel, factor: int, padding):
    """``conv(pad(upsample_nearest(x, factor)), kernel)``, stride 1, NHWC/HWIO, ``padding`` as
    ``((top, bottom), (left, right))`` on the upsampled image, computed on ``x`` itself, phase by phase.

    Output pixel ``o = f i + c`` of the upsampled-then-padded image meets input pixel ``i + (c - lo + t) // f``
    through kernel tap ``t``: within a phase ``c`` several taps land on one input pixel, so the phase is an ordinary
    convolution of ``x`` with those taps summed (:func:`_phase_taps`), and the ``f**2`` phases interleave into the
    output. PyTorch-GAN's Upsample(2) + 3x3 convolution becomes four 2x2 convolutions at the input's size: 16
    instead of 36 multiply-adds per output channel and input pixel, and the input gradient needs no sum over the
    copies. Layer forward + both gradients, 2-core CPU, ms: DCGAN's 128 -> 128 at 8 px, batch 64, 104 -> 37;
    cyclegan's 256 -> 128 at 64 px, batch 1, 223 -> 91; munit's conv5, 128 -> 64 at 64 px, 128 -> 22.
    Layers that draw the image (at most ``FEW_OUTPUTS`` channels) stack the phases' kernels, zero-padded to a
    common window, into one convolution with ``f**2`` times the outputs: such a layer's time is passes over its
    input, one instead of ``f**2`` (pix2pix's last layer 58 -> 23 ms). At batches up to ``SMALL_BATCH`` every
    layer takes one convolution, each phase's sub-kernel at the window's first tap and its output read shifted by
    the phase's offset: no zero taps, and one wide convolution instead of four narrow ones (cyclegan's 256 -> 128
    at 64 px 150 -> 122-137 ms, 128 -> 64 at 128 px 183-205 -> 130-160; at batch 64 the four convolutions stay
    faster: DCGAN's 128 -> 128 at 8 px, forward / input / kernel gradient 22 / 23 / 25 ms, one convolution 24 / 45 /
    35 even with its kernel gradient over the explicitly padded input). Same numbers as the definition
    (tests/test_nets.py), up to float summation order."""
    f, k, c_out = factor, kernel.shape[0], kernel.shape[3]
    n, h, w, _ = x.shape
    (pt, pb), (pl, pr) = padding
    out_hw = (_upsampled_out_size(h, k, f, (pt, pb)), _upsampled_out_size(w, k, f, (pl, pr)))
    if out_hw[0] % f or out_hw[1] % f or kernel.shape[1] != k:  # phases of unequal size: the definition
        return _stride1_conv(upsample_nearest(x, f), kernel, padding)
    m = (out_hw[0] // f, out_hw[1] // f)
    phases = (_phase_taps(k, f, pt), _phase_taps(k, f, pl))  # per axis: [(first input offset, taps per offset)]

    if n > SMALL_BATCH and c_out > FEW_OUTPUTS:  # each phase its own convolution
        def window(sub, firsts):  # the phase's zero padding of x, (before, after) per axis
            return [(-firsts[a], m[a] + firsts[a] + sub.shape[a] - 1 - x.shape[1 + a]) for a in range(2)]

        y = jnp.stack([_stride1_conv(x, sub, window(sub, firsts))
                       for sub, firsts in _phase_kernels_upsampled(kernel, phases)], axis=3)  # [n, my, mx, phase, out]
    else:
        y = _stacked_phases_conv(x, kernel, phases, m, shifted=n <= SMALL_BATCH)
    return _interleave_phases(y.reshape(n, m[0], m[1], f, f, c_out), out_hw)


def _stacked_phases_conv(x, kernel, phases, m, shifted: bool):
    """The phases of :func:`upsample_conv` as one convolution, ``[n, my, mx, cy, cx, out]``."""
    n, f, c_out = x.shape[0], len(phases[0]), kernel.shape[3]
    # One convolution with f**2 times the outputs: every phase's sub-kernel sits in a common window, either at the
    # offset of its first input pixel (zero taps fill the rest: the output needs no shifts) or, at small batches,
    # at the window's first tap, its output read shifted by that offset (no zero taps, one more output row and
    # column to compute for 3x3 kernels).
    lo = [min(first for first, _ in ph) for ph in phases]  # per axis: the first input offset of any phase
    if shifted:  # the window: the longest sub-kernel; the output: m plus the largest shift
        size = [max(len(groups) for _, groups in ph) for ph in phases]
        extra = [max(first for first, _ in ph) - lo[a] for a, ph in enumerate(phases)]
    else:  # the window: every phase's taps at their offsets
        size = [max(first + len(groups) for first, groups in ph) - lo[a] for a, ph in enumerate(phases)]
        extra = [0, 0]
    stacked = []
    for sub, firsts in _phase_kernels_upsampled(kernel, phases):
        at = [0 if shifted else firsts[a] - lo[a] for a in range(2)]  # the sub-kernel's first tap in the window
        stacked.append(jnp.pad(sub, [(at[a], size[a] - at[a] - sub.shape[a]) for a in range(2)] + [(0, 0)] * 2))
    pad = [(-lo[a], m[a] + extra[a] + lo[a] + size[a] - 1 - x.shape[1 + a]) for a in range(2)]
    y = _stride1_conv(x, jnp.concatenate(stacked, axis=3), pad)  # [n, my + extra, mx + extra, (cy, cx, out)]
    y = y.reshape(n, m[0] + extra[0], m[1] + extra[1], f, f, c_out)
    if shifted:
        y = _read_shifted_phases(y, [[first - lo[a] for first, _ in ph] for a, ph in enumerate(phases)], m)
    return y


def _read_shifted_phases(y, shifts, m):
    """``[n, my + e, mx + e, cy, cx, out]`` -> ``[n, my, mx, cy, cx, out]``: phase ``(cy, cx)`` read from row
    ``shifts[0][cy]`` and column ``shifts[1][cx]`` on (a stacked-phases convolution's outputs)."""
    return jnp.stack([jnp.stack([y[:, sy:sy + m[0], sx:sx + m[1], cy, cx] for cx, sx in enumerate(shifts[1])], axis=3)
                      for cy, sy in enumerate(shifts[0])], axis=3)


def _interleave_phases(y, out_hw):
    """``[n, my, mx, cy, cx, out]`` -> ``[n, f my, f mx, out]`` cut to ``out_hw``: output pixel ``(f i + cy, f j +
    cx)`` is phase ``(cy, cx)``'s pixel ``(i, j)``."""
    n, my, mx, f, _, c_out = y.shape
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, my * f, mx * f, c_out)[:, :out_hw[0], :out_hw[1]]


def _phase_kernels_upsampled(kernel, phases):
    """``[(sub-kernel, (first input row offset, first column offset))]`` of an upsampled convolution's phases, in
    phase order ``(cy, cx)``: per phase, the taps landing on one input pixel summed (:func:`_phase_taps`)."""
    out = []
    for first_y, groups_y in phases[0]:
        rows = jnp.stack([sum(kernel[t] for t in g) for g in groups_y])
        for first_x, groups_x in phases[1]:
            out.append((jnp.stack([sum(rows[:, t] for t in g) for g in groups_x], axis=1), (first_y, first_x)))
    return out


def _phase_taps(k: int, f: int, lo: int):
    """For each output phase ``c`` of a ``k``-tap stride-1 convolution over an ``f``-fold nearest-upsampled axis
    padded by ``lo`` in front: the first input offset ``d0`` it meets and, per offset ``d0, d0 + 1, ...``, the
    taps that land on it."""
    phases = []
    for c in range(f):
        offsets = [(c - lo + t) // f for t in range(k)]
        phases.append((offsets[0], [[t for t in range(k) if offsets[t] == d]
                                    for d in range(offsets[0], offsets[-1] + 1)]))
    return phases


def _stride1_conv(x, kernel, padding):
    """A stride-1 NHWC/HWIO convolution with ``((top, bottom), (left, right))`` zero padding, negative padding
    cropping, by the path :class:`Conv` takes for such a layer at this batch size."""
    x, padding = _crop_negative_padding(x, padding)
    if x.shape[0] <= SMALL_BATCH and any(q for pair in padding for q in pair):
        return _padded_conv(x, kernel, padding)
    return _xla_padded_conv(x, kernel, padding)


def _upsampled_out_size(d: int, k: int, f: int, padding) -> int:
    """A stride-1 convolution's output size along an axis of ``d`` pixels upsampled ``f``-fold and padded by
    ``padding = (before, after)``."""
    return f * d + padding[0] + padding[1] - k + 1


def _fold_pays(pixels: int, channels: int, k: int) -> bool:
    """Whether :class:`Conv` computes an upsampled layer by :func:`upsample_conv` rather than upsampling first:
    always, except for layers whose time is weight traffic (:func:`_gemm_pays`; the phases' summed kernels hold
    more taps than the kernel) and 1x1 kernels (one tap per phase: the same products, so only the copy saved).
    Odd output sizes :func:`upsample_conv` itself computes by the definition."""
    return k > 1 and not _gemm_pays(pixels, channels)


def _upsampled_conv_general(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                            dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                            preferred_element_type=None, *, factor: int):
    """``lax.conv_general_dilated`` of ``lhs`` nearest-upsampled by ``factor`` (stride 1, explicit padding),
    computed by :func:`upsample_conv`; used by ``Conv(upsample=factor)``."""
    return upsample_conv(lhs, rhs, factor, _stride1_padding(lhs, rhs, window_strides, padding, lhs_dilation,
                                                           rhs_dilation, dimension_numbers, feature_group_count,
                                                           batch_group_count))
