"""Shared layers: the phase-stacked transposed convolution equals XLA's own, with PyTorch's output sizes; every other
path a convolution takes equals XLA's own convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import layers


def _reference(x, kernel, s, p):
    q = kernel.shape[0] - 1 - p
    return jax.lax.conv_transpose(x, kernel, (s, s), ((q, q), (q, q)), transpose_kernel=True)


def _numpy_conv_transpose(x, kernel, s, p):
    """The definition, looped: every input pixel scatters its kernel-weighted value into the output."""
    n, h, w, c = x.shape
    k, f = kernel.shape[0], kernel.shape[2]
    out = np.zeros((n, (h - 1) * s + k, (w - 1) * s + k, f))
    for i in range(h):
        for j in range(w):
            out[:, i * s:i * s + k, j * s:j * s + k] += np.einsum("nc,abfc->nabf", x[:, i, j], kernel)
    return out[:, p:out.shape[1] - p, p:out.shape[2] - p]


def _xla_conv(s, p):
    return lambda x, w: jax.lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)),
                                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _assert_equal_to_second_order(ours, reference, x, kernel, value_atol):
    """Values, first derivatives and a gradient penalty's second derivatives of ``ours(x, kernel)`` equal the
    reference's."""
    np.testing.assert_allclose(ours(x, kernel), reference(x, kernel), atol=value_atol)
    first = lambda conv: jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), argnums=(0, 1))(x, kernel)
    penalty = lambda conv: jax.grad(lambda w, x: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w))))(x) ** 2),
                                    argnums=(0, 1))(kernel, x)
    for a, b in zip(first(ours) + penalty(ours), first(reference) + penalty(reference)):
        # float32 sums of terms as large as the array's largest: allow 2e-6 of that (an element that cancels to
        # ~0.3 among values of ~130 may differ by 1.6e-4 when XLA orders the sums differently)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=max(1e-4, 2e-6 * float(np.max(np.abs(b)))))


@pytest.mark.parametrize("h,w,k,s,p", [(5, 6, 4, 2, 1), (4, 5, 3, 2, 1), (6, 7, 3, 1, 1), (5, 5, 5, 3, 2),
                                       (3, 4, 2, 2, 0), (4, 4, 4, 2, 0), (3, 3, 1, 2, 0)])
def test_conv_transpose_matches_definition(h, w, k, s, p):
    x = np.asarray(jax.random.normal(jax.random.key(0), (2, h, w, 3)))
    kernel = np.asarray(jax.random.normal(jax.random.key(1), (k, k, 4, 3)))
    ours = layers.conv_transpose(jnp.asarray(x), jnp.asarray(kernel), s, p)
    assert ours.shape == (2, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k, 4)  # torch's output size
    np.testing.assert_allclose(ours, _numpy_conv_transpose(x, kernel, s, p), atol=1e-4)
    np.testing.assert_allclose(ours, _reference(jnp.asarray(x), jnp.asarray(kernel), s, p), atol=1e-4)


@pytest.mark.parametrize("h,k,s,p", [(4, 4, 2, 1), (5, 3, 2, 1), (4, 5, 3, 2), (3, 2, 2, 0), (3, 6, 3, 1),
                                     (6, 4, 2, 3), (3, 1, 2, 0)])
def test_conv_transpose_gradients_match_xla_to_second_order(h, k, s, p):
    """The custom VJP takes the input gradient as a strided convolution and the kernel gradient from the stacked
    convolution's, its output gradient laid out phase by phase; kernels that the stride does not divide are padded
    with zero taps (5 -> 6, 1 -> 2), and padding 3 of a 4x4 kernel crops the stacked convolution's input. First and
    second derivatives must equal XLA's."""
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 5, 3))
    _assert_equal_to_second_order(lambda x, kern: layers.conv_transpose(x, kern, s, p),
                                  lambda x, kern: _reference(x, kern, s, p), x, kernel, 1e-4)
    jaxpr = str(jax.make_jaxpr(lambda x, kern: layers.conv_transpose(x, kern, s, p))(x, kernel))
    assert "custom_vjp_call" in jaxpr


def test_conv_transpose_module_keeps_flax_parameter_tree():
    module = layers.ConvTranspose(8, 4, strides=2, padding=1)
    params = module.init(jax.random.key(0), jnp.zeros((1, 4, 4, 3)))["params"]
    assert jax.tree.map(jnp.shape, params) == {"ConvTranspose_0": {"kernel": (4, 4, 8, 3), "bias": (8,)}}
    # PyTorch's init bounds: U(+-1/sqrt(out * k * k)) for the bias
    assert float(jnp.max(jnp.abs(params["ConvTranspose_0"]["bias"]))) <= 1 / np.sqrt(8 * 16)


@pytest.mark.parametrize("h,k,s,p,tiny", [(4, 4, 2, 1, True), (3, 3, 2, 1, True), (5, 3, 2, 0, True),
                                          (4, 4, 2, 0, True), (6, 5, 3, 2, True), (8, 4, 2, 1, False),
                                          (9, 3, 2, 1, False), (11, 4, 3, 0, False)])
def test_polyphase_input_gradient_matches_xla_to_second_order(h, k, s, p, tiny):
    """layers.Conv computes the input gradient of strided convolutions with outputs of at most 2x2 itself (XLA:CPU's
    is pathologically slow there), and of any strided convolution with ``polyphase_input_grad`` (gradient-penalty
    critics); first and second derivatives (a gradient penalty's) must equal XLA's."""
    x = jax.random.normal(jax.random.key(0), (2, h, h, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    ours = lambda x, w: layers._strided_conv(x, w, s, p)
    assert layers._tiny_output(x.shape, k, s, p) == tiny
    _assert_equal_to_second_order(ours, _xla_conv(s, p), x, kernel, 1e-5)


def test_conv_module_uses_the_small_output_path_with_flax_parameters():
    module = layers.Conv(6, 4, strides=2, padding=1)
    x = jax.random.normal(jax.random.key(2), (2, 4, 4, 3))  # -> 2x2: the custom input gradient
    params = module.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, params["params"]) == {"Conv_0": {"kernel": (4, 4, 3, 6), "bias": (6,)}}
    assert "custom_vjp_call" in str(jax.make_jaxpr(lambda x: module.apply(params, x))(x))
    big = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))  # -> 4x4: XLA's own
    assert "custom_vjp_call" not in str(jax.make_jaxpr(lambda x: module.apply(params, x))(big))
    asked = layers.Conv(6, 4, strides=2, padding=1, polyphase_input_grad=True)
    assert "custom_vjp_call" in str(jax.make_jaxpr(lambda x: asked.apply(params, x))(big))
    np.testing.assert_allclose(asked.apply(params, big), module.apply(params, big), atol=1e-5)
    expected = _xla_conv(2, 1)(x, params["params"]["Conv_0"]["kernel"])
    np.testing.assert_allclose(module.apply(params, x), expected + params["params"]["Conv_0"]["bias"], atol=1e-5)


@pytest.mark.parametrize("n,h,w,k,s,p", [(1, 8, 9, 3, 2, 1), (2, 9, 8, 4, 2, 1), (1, 7, 7, 3, 2, 0),
                                         (1, 10, 11, 5, 3, 2), (2, 6, 6, 4, 2, 0), (1, 9, 9, 1, 2, 0)])
def test_space_to_depth_conv_matches_xla_to_second_order(n, h, w, k, s, p):
    """Large strided convolutions run as stride-1 convolutions on the space-to-depth input (XLA:CPU's dilated
    gradients of strided convolutions are slow); values, first and second derivatives must equal XLA's, for kernels
    that tile into whole blocks and ones padded with zero taps, odd sizes whose last rows the stride skips, and no
    padding."""
    x = jax.random.normal(jax.random.key(0), (n, h, w, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    ours = lambda x, w: layers._space_to_depth_conv(x, w, s, p)
    _assert_equal_to_second_order(ours, _xla_conv(s, p), x, kernel, 1e-5)


def test_conv_module_takes_space_to_depth_for_large_strided_outputs_only():
    is_strided = lambda m, params, x: "window_strides=(2, 2)" in str(jax.make_jaxpr(lambda x: m.apply(params, x))(x))
    four = layers.Conv(8, 4, strides=2, padding=1)
    x = jax.random.normal(jax.random.key(2), (1, 32, 34, 3))  # -> 16 x 17: space-to-depth
    params = four.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, params["params"]) == {"Conv_0": {"kernel": (4, 4, 3, 8), "bias": (8,)}}
    assert not is_strided(four, params, x)
    assert is_strided(four, params, x[:, :30])  # -> 15 rows: XLA's own
    expected = _xla_conv(2, 1)(x, params["params"]["Conv_0"]["kernel"]) + params["params"]["Conv_0"]["bias"]
    np.testing.assert_allclose(four.apply(params, x), expected, atol=1e-5)
    three = layers.Conv(8, 3, strides=2, padding=1)  # 3x3: 16 taps for 9, so only on few input channels
    for channels, strided in ((64, False), (65, True)):
        x = jnp.ones((1, 32, 32, channels))
        assert is_strided(three, three.init(jax.random.key(0), x), x) == strided


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("n,h,w,k,c_out", [(1, 6, 7, 3, 3), (2, 9, 8, 7, 1), (1, 5, 5, 4, 4), (3, 4, 6, 2, 2)])
def test_few_outputs_conv_matches_xla_to_second_order(n, h, w, k, c_out, planar):
    """Stride-1 layers with few output channels are one matrix product and a sum of shifted taps, with a custom
    VJP, the taps laid out pixel by pixel or plane by plane; values, first and second derivatives must equal XLA's
    VALID convolution."""
    x = jax.random.normal(jax.random.key(0), (n, h, w, 5))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 5, c_out)) / k
    _assert_equal_to_second_order(lambda x, kern: layers._few_outputs_conv(x, kern, planar), _xla_conv(1, 0), x,
                                  kernel, 1e-5)


def test_conv_module_takes_the_matrix_product_for_few_output_channels_only():
    uses_dot = lambda m, params, x: "dot_general" in str(jax.make_jaxpr(lambda x: m.apply(params, x))(x))
    x = jax.random.normal(jax.random.key(2), (2, 12, 11, 6))
    image = layers.Conv(layers.FEW_OUTPUTS, 7, padding=3)
    params = image.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, params["params"]) == {"Conv_0": {"kernel": (7, 7, 6, 4), "bias": (4,)}}
    assert uses_dot(image, params, x)
    kernel, bias = params["params"]["Conv_0"]["kernel"], params["params"]["Conv_0"]["bias"]
    np.testing.assert_allclose(image.apply(params, x), _xla_conv(1, 3)(x, kernel) + bias, atol=1e-5)
    wide = jax.random.normal(jax.random.key(3), (1, 5, 48, 6))  # 7 * 7 taps * 48 columns: planar (_planar_pays)
    assert layers._planar_pays(7, 48) and not layers._planar_pays(7, 11)
    np.testing.assert_allclose(image.apply(params, wide), _xla_conv(1, 3)(wide, kernel) + bias, atol=1e-5)
    wider = layers.Conv(layers.FEW_OUTPUTS + 1, 7, padding=3)
    assert not uses_dot(wider, wider.init(jax.random.key(0), x), x)
    pointwise = layers.Conv(3, 1)  # a 1x1 kernel is a product already: XLA's own
    assert not uses_dot(pointwise, pointwise.init(jax.random.key(0), x), x)


@pytest.mark.parametrize("n,h,k,p", [(1, 6, 3, 1), (2, 5, 4, 1), (1, 7, 7, 3), (4, 4, 5, 2)])
def test_padded_conv_kernel_gradient_matches_xla_to_second_order(n, h, k, p):
    """Stride-1 padded convolutions at small batches take their kernel gradient over the explicitly padded input
    (XLA:CPU's own is several times slower at batch 1); values, first and second derivatives must equal XLA's."""
    x = jax.random.normal(jax.random.key(0), (n, h, h + 1, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    ours = lambda x, w: layers._padded_conv(x, w, ((p, p), (p, p)))
    _assert_equal_to_second_order(ours, _xla_conv(1, p), x, kernel, 1e-5)


def test_conv_module_takes_the_explicit_padding_kernel_gradient_at_small_batches_only():
    module = layers.Conv(6, 3, padding=1)
    small = jax.random.normal(jax.random.key(2), (layers.SMALL_BATCH, 5, 5, 3))
    params = module.init(jax.random.key(0), small)
    assert jax.tree.map(jnp.shape, params["params"]) == {"Conv_0": {"kernel": (3, 3, 3, 6), "bias": (6,)}}
    jaxpr = lambda x, m=module: str(jax.make_jaxpr(lambda x: m.apply(params, x))(x))
    assert "custom_vjp_call" in jaxpr(small)
    large = jax.random.normal(jax.random.key(2), (layers.SMALL_BATCH + 1, 5, 5, 3))
    assert "custom_vjp_call" not in jaxpr(large)  # XLA's own is as fast or faster there
    assert "custom_vjp_call" not in jaxpr(small, layers.Conv(6, 3))  # no padding: nothing to move
    expected = _xla_conv(1, 1)(small, params["params"]["Conv_0"]["kernel"])
    np.testing.assert_allclose(module.apply(params, small), expected + params["params"]["Conv_0"]["bias"], atol=1e-5)


@pytest.mark.parametrize("n,h,k,s,p", [(1, 4, 4, 2, 1), (2, 5, 3, 2, 1), (1, 3, 3, 1, 1), (2, 5, 4, 2, 0),
                                       (1, 2, 4, 2, 1), (1, 7, 3, 3, 2)])
def test_matrix_product_conv_matches_xla_to_second_order(n, h, k, s, p):
    """Convolutions over few pixels are matrix products of the patches with the kernel in its stored layout, each
    gradient too; values, first and second derivatives must equal XLA's."""
    x = jax.random.normal(jax.random.key(0), (n, h, h + 1, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 3, 5))
    ours = lambda x, w: layers._gemm_conv(x, w, s, p)
    _assert_equal_to_second_order(ours, _xla_conv(s, p), x, kernel, 1e-5)


@pytest.mark.parametrize("n,h,k,s,p", [(1, 1, 4, 2, 1), (2, 2, 4, 2, 1), (1, 3, 3, 2, 1), (2, 3, 5, 3, 2),
                                       (1, 2, 2, 2, 0), (1, 3, 3, 1, 1)])
def test_matrix_product_conv_transpose_matches_definition_to_second_order(n, h, k, s, p):
    x = jax.random.normal(jax.random.key(0), (n, h, h + 1, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 5, 3))
    ours = lambda x, w: layers._gemm_conv_transpose(x, w, s, p)
    np.testing.assert_allclose(ours(x, kernel), _numpy_conv_transpose(np.asarray(x), np.asarray(kernel), s, p),
                               atol=1e-4)
    _assert_equal_to_second_order(ours, lambda x, w: _reference(x, w, s, p), x, kernel, 1e-5)


def test_layers_take_the_matrix_products_only_when_the_patches_are_no_larger_than_the_kernel():
    uses_dot = lambda f, *args: "dot_general" in str(jax.make_jaxpr(f)(*args))
    conv = layers.Conv(16, 4, strides=2, padding=1)
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, 3))  # 2 x 3 x 3 = 18 output pixels > 16 channels
    params = conv.init(jax.random.key(0), x)
    assert not uses_dot(lambda x: conv.apply(params, x), x)
    few = x[:, :4, :4]  # 2 x 2 x 2 = 8 output pixels
    assert uses_dot(lambda x: conv.apply(params, x), few)
    kernel, bias = params["params"]["Conv_0"]["kernel"], params["params"]["Conv_0"]["bias"]
    np.testing.assert_allclose(conv.apply(params, few), _xla_conv(2, 1)(few, kernel) + bias, atol=1e-5)
    assert not uses_dot(lambda x: layers.Conv(16, 1).apply({"params": {"Conv_0": {"kernel": kernel[:1, :1],
                                                                                  "bias": bias}}}, x), few)
    up = jax.random.normal(jax.random.key(3), (4, 4, 5, 16))  # (k, k, out, in): 16 input channels
    assert uses_dot(lambda x: layers.conv_transpose(x, up, 2, 1), jnp.ones((1, 4, 4, 16)))  # 16 pixels
    assert not uses_dot(lambda x: layers.conv_transpose(x, up, 2, 1), jnp.ones((1, 4, 5, 16)))  # 20 pixels


@pytest.mark.parametrize("factor", [2, 3])
def test_upsample_nearest_gradient_matches_autodiff_to_second_order(factor):
    """upsample_nearest's custom VJP sums each pixel's copies as strided slices (so XLA:CPU does not fold the
    convolution before it into YNNPACK's reduce fusion); values and derivatives must equal jnp.repeat's."""
    x = jax.random.normal(jax.random.key(0), (2, 3, 4, 5))
    ours = lambda x: layers.upsample_nearest(x, factor)
    plain = lambda x: layers._repeat_pixels(x, factor)
    assert ours(x).shape == (2, 3 * factor, 4 * factor, 5)
    np.testing.assert_array_equal(ours(x), plain(x))
    weights = jax.random.normal(jax.random.key(1), (2, 3 * factor, 4 * factor, 5))
    first = lambda f: jax.grad(lambda x: jnp.sum(jnp.sin(f(x)) * weights))(x)
    second = lambda f: jax.grad(lambda x: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.sin(f(x)) * weights))(x) ** 2))(x)
    np.testing.assert_allclose(first(ours), first(plain), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second(ours), second(plain), rtol=1e-4, atol=1e-5)
    backward = lambda f: str(jax.make_jaxpr(lambda x, g: jax.vjp(f, x)[1](g))(x, weights))
    assert "reduce_sum" in backward(plain) and "reduce_sum" not in backward(ours)


def _upsample_then_conv(factor, padding):
    """The definition: nearest upsampling, explicit zero padding (negative crops), a VALID convolution."""
    def conv(x, w):
        up = jax.lax.pad(layers._repeat_pixels(x, factor), jnp.zeros((), x.dtype),
                         ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))
        return jax.lax.conv_general_dilated(up, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return conv


@pytest.mark.parametrize("n,h,w,k,factor,padding,c_out", [
    (2, 3, 4, 3, 2, ((1, 1), (1, 1)), 5),  # the DCGAN generators' Upsample(2) + conv3 padding 1
    (1, 4, 3, 4, 2, ((2, 1), (2, 1)), 3),  # pix2pix's last layer (ZeroPad2d((1, 0, 1, 0)), conv4): phases stacked
    (5, 3, 3, 5, 2, ((2, 2), (2, 2)), 5),  # munit's conv5, above SMALL_BATCH (XLA's own kernel gradient)
    (5, 3, 4, 3, 2, ((1, 1), (1, 1)), 5),  # above SMALL_BATCH: each phase its own convolution
    (6, 4, 3, 3, 2, ((1, 1), (1, 1)), 3),  # few outputs above SMALL_BATCH: one convolution, phases at their offsets
    (1, 3, 2, 3, 3, ((1, 1), (0, 2)), 2),
    (1, 4, 5, 2, 2, ((0, -1), (-1, 0)), 5),  # phases with negative padding: the input cropped
    (1, 4, 5, 2, 2, ((0, -1), (-1, 0)), 1),
    (1, 3, 4, 3, 2, ((1, 0), (1, 1)), 5),  # odd output height: phases of unequal size, the definition itself
])
def test_upsample_conv_matches_the_definition_to_second_order(n, h, w, k, factor, padding, c_out):
    x = jax.random.normal(jax.random.key(0), (n, h, w, 3))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 3, c_out)) / k  # O(1) outputs: float32 sums compare
    ours = lambda x, w: layers.upsample_conv(x, w, factor, padding)
    expected = _upsample_then_conv(factor, padding)(x, kernel)
    assert ours(x, kernel).shape == expected.shape
    _assert_equal_to_second_order(ours, _upsample_then_conv(factor, padding), x, kernel, 1e-4)


def test_conv_module_folds_the_upsampling_unless_the_layer_is_weight_bound():
    convs = lambda f, *args: str(jax.make_jaxpr(f)(*args)).count("conv_general_dilated[")
    x = jax.random.normal(jax.random.key(2), (2, 3, 4, 5))
    folded, plain = layers.Conv(6, 3, padding=1, upsample=2), layers.Conv(6, 3, padding=1)
    params = folded.init(jax.random.key(0), x)
    up = layers.upsample_nearest(x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, plain.init(jax.random.key(0), up))
    np.testing.assert_allclose(folded.apply(params, x), plain.apply(params, up), atol=1e-5)
    # at small batches one convolution for all phases; above, one per phase; never one on the upsampled image
    assert convs(lambda x: folded.apply(params, x), x) == 1
    more = jax.random.normal(jax.random.key(3), (layers.SMALL_BATCH + 1, 3, 4, 5))
    assert convs(lambda x: folded.apply(params, x), more) == 4
    np.testing.assert_allclose(folded.apply(params, more), plain.apply(params, layers.upsample_nearest(more)),
                               atol=1e-5)
    image = layers.Conv(3, 4, padding=((2, 1), (2, 1)), upsample=2)  # pix2pix's last layer
    weights = image.init(jax.random.key(0), x)
    kernel, bias = weights["params"]["Conv_0"]["kernel"], weights["params"]["Conv_0"]["bias"]
    np.testing.assert_allclose(image.apply(weights, x), _upsample_then_conv(2, ((2, 1), (2, 1)))(x, kernel) + bias,
                               atol=1e-5)
    assert convs(lambda x: image.apply(weights, x), x) == 1  # few outputs: the phases stacked into one
    wide = layers.Conv(64, 3, padding=1, upsample=2)  # 2 x 2 x 2 = 8 output pixels <= 64 channels: weight-bound
    few = x[:, :1, :1]
    assert "dot_general" in str(jax.make_jaxpr(lambda x: wide.apply(wide.init(jax.random.key(0), few), x))(few))
    with pytest.raises(ValueError, match="stride 1"):
        layers.Conv(6, 3, strides=2, padding=1, upsample=2).init(jax.random.key(0), x)
