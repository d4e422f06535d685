"""The VGG19 feature extractor and its weight files (gan_jax.nets.vgg), and PSNR/SSIM (gan_jax.metrics.image)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_jax.metrics import image as image_metrics
from gan_jax.nets import vgg

N_LAYERS = 9  # features[:9]: conv1_1, relu, conv1_2, relu, pool, conv2_1, relu, conv2_2, relu


def torch_state_dict(n_layers=N_LAYERS, seed=0, bad=None):
    """Synthetic weights in torchvision's names and layouts (``bad``: a key whose shape is made wrong)."""
    rng = np.random.default_rng(seed)
    sd = {"classifier.0.weight": np.zeros((2, 2), np.float32)}  # other keys are ignored
    for i, (cin, cout) in vgg.conv_shapes(n_layers).items():
        sd[f"features.{i}.weight"] = rng.normal(0, 0.1, (cout, cin, 3, 3)).astype(np.float32)
        sd[f"features.{i}.bias"] = rng.normal(0, 0.1, cout).astype(np.float32)
    if bad:
        sd[bad] = np.zeros((7,) + sd[bad].shape[1:], np.float32)
    return sd


def reference_features(sd, images_m1_1, n_layers=N_LAYERS):
    """An independent forward pass in PyTorch's own layouts (NCHW, OIHW) with lax primitives."""
    x = (np.asarray(images_m1_1) + 1) / 2
    x = ((x - vgg.IMAGENET_MEAN) / vgg.IMAGENET_STD).transpose(0, 3, 1, 2)
    for i, (kind, _) in enumerate(vgg.layers()[:n_layers]):
        if kind == "conv":
            x = jax.lax.conv_general_dilated(x, sd[f"features.{i}.weight"], (1, 1), ((1, 1), (1, 1)),
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            x = x + sd[f"features.{i}.bias"][None, :, None, None]
        elif kind == "relu":
            x = jnp.maximum(x, 0)
        else:
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    return np.asarray(x).transpose(0, 2, 3, 1)


def test_layer_numbering_is_torchvisions():
    kinds = vgg.layers()
    assert len(kinds) == 37 and kinds[34] == ("conv", 512) and kinds[35][0] == "relu" and kinds[36][0] == "pool"
    assert kinds[16] == ("conv", 256) and kinds[17][0] == "relu"  # srgan's features[:18] ends at relu3_4
    assert len(vgg.conv_shapes(vgg.N_LAYERS)) == 16
    shapes = vgg.conv_shapes(vgg.N_LAYERS)
    assert sum(9 * cin * cout + cout for cin, cout in shapes.values()) == 20_024_384  # torchvision vgg19.features


def test_loader_round_trip_against_torch_layout(tmp_path):
    sd = torch_state_dict()
    path = tmp_path / "vgg19.npz"
    np.savez(path, **sd)
    params = vgg.load_weights(str(path), N_LAYERS)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 12, 12, 3)).astype(np.float32)
    out = vgg.features(params, jnp.asarray(images), N_LAYERS)
    assert out.shape == (2, 6, 6, 128)
    np.testing.assert_allclose(out, reference_features(sd, images), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", ["features.0.weight", "features.7.bias"])
def test_wrong_shapes_are_a_clear_error(tmp_path, bad):
    path = tmp_path / "bad.npz"
    np.savez(path, **torch_state_dict(bad=bad))
    with pytest.raises(vgg.VGGWeightsError, match=f"{bad} has shape .*VGG19 needs"):
        vgg.load_weights(str(path), N_LAYERS)


def test_missing_and_unreadable_files(tmp_path):
    sd = torch_state_dict(n_layers=4)
    np.savez(tmp_path / "short.npz", **sd)
    with pytest.raises(vgg.VGGWeightsError, match="missing features.5.weight"):
        vgg.load_weights(str(tmp_path / "short.npz"), N_LAYERS)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(vgg.VGGWeightsError, match="cannot read"):
        vgg.load_weights(str(tmp_path / "junk.npz"))
    with pytest.raises(vgg.VGGWeightsError, match="does not exist"):
        vgg.load_weights(str(tmp_path / "nothing.npz"))


def test_keras_conversion_folds_caffe_preprocessing_into_conv1(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"block{b}_conv{c}" for b, convs in vgg.KERAS_BLOCKS for c in range(1, convs + 1)]
    kernels = {name: (rng.normal(0, 0.1, (3, 3, cin, cout)), rng.normal(0, 0.1, cout))
               for name, (cin, cout) in zip(names, vgg.conv_shapes(vgg.N_LAYERS).values())}
    sd = vgg.from_keras(kernels)
    params = vgg.from_torch(sd)  # the converted file has torchvision's layout
    assert params["features_34"]["kernel"].shape == (3, 3, 512, 512)
    # conv1_1 on torchvision's input == Keras' conv1_1 on Caffe's input (BGR, 0..255, mean-subtracted), inside
    images = rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32)
    torch_out = vgg.features({"features_0": params["features_0"]}, jnp.asarray(images), 1)
    caffe = (images + 1) / 2 * 255.0
    caffe = caffe[..., ::-1] - vgg.CAFFE_BGR_MEAN
    kernel, bias = kernels["block1_conv1"]
    keras_out = jax.lax.conv_general_dilated(jnp.asarray(caffe, jnp.float32), jnp.asarray(kernel, jnp.float32),
                                             (1, 1), ((1, 1), (1, 1)),
                                             dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
    np.testing.assert_allclose(torch_out[:, 1:-1, 1:-1], keras_out[:, 1:-1, 1:-1], rtol=1e-3, atol=1e-3)
    # the command-line converter reads Keras' h5 layout (layer/layer/kernel:0) and writes what load_weights reads
    import h5py

    with h5py.File(tmp_path / "vgg19_notop.h5", "w") as f:
        for name, (kernel, bias) in kernels.items():
            f.create_dataset(f"{name}/{name}/kernel:0", data=kernel)
            f.create_dataset(f"{name}/{name}/bias:0", data=bias)
    assert vgg.main(["--convert", str(tmp_path / "vgg19_notop.h5"), str(tmp_path / "vgg19.npz")]) == 0
    loaded = vgg.load_weights(str(tmp_path / "vgg19.npz"))
    np.testing.assert_allclose(loaded["features_0"]["kernel"], params["features_0"]["kernel"], rtol=1e-6)
    assert vgg.main(["--convert", str(tmp_path / "vgg19.npz"), str(tmp_path / "x.npz")]) == 1  # not .pth / .h5


def test_random_features_warn_once_and_are_deterministic():
    vgg._warned = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = vgg.params_for("", N_LAYERS, "srgan")
        b = vgg.params_for("", N_LAYERS, "srgan")
    assert [str(w.message).count("RANDOM VGG19 features") for w in caught] == [1]
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    w = np.asarray(a["features_2"]["kernel"])
    assert abs(w.std() - np.sqrt(2 / (64 * 9))) < 0.01  # torchvision's kaiming normal (fan_out)


def test_grayscale_images_are_repeated_to_rgb():
    gray = jnp.full((1, 4, 4, 1), 0.5)
    np.testing.assert_allclose(vgg.preprocess(gray), vgg.preprocess(jnp.repeat(gray, 3, -1)))
    with pytest.raises(ValueError, match="1- or 3-channel"):
        vgg.preprocess(jnp.zeros((1, 4, 4, 2)))


def test_ssim_and_psnr_match_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (3, 20, 17, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2 * np.arange(1, 4)[:, None, None, None], a.shape), -1, 1).astype(np.float32)
    ours = np.asarray(image_metrics.ssim(jnp.asarray(a), jnp.asarray(b)))
    theirs = [structural_similarity(a[i], b[i], data_range=2.0, channel_axis=-1) for i in range(3)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert ours[0] > ours[1] > ours[2]
    np.testing.assert_allclose(image_metrics.psnr(a, b), [peak_signal_noise_ratio(a[i], b[i], data_range=2.0)
                                                          for i in range(3)], rtol=1e-4)
    assert float(image_metrics.ssim(a, a)[0]) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 7x7"):
        image_metrics.ssim(a[:, :5, :5], b[:, :5, :5])


def test_sr_measures_follow_the_super_resolution_papers_protocol():
    from skimage.color import rgb2ycbcr

    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (2, 24, 20, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), -1, 1).astype(np.float32)
    y = lambda x: rgb2ycbcr((x.astype(np.float64) + 1) / 2)[..., 0]  # scikit-image: BT.601 luma in [16, 235]
    np.testing.assert_allclose(image_metrics.luma(jnp.asarray(a))[..., 0], np.stack([y(x) for x in a]), rtol=1e-5)
    ours = image_metrics.sr_measures(jnp.asarray(a), jnp.asarray(b), shave=4)
    ya, yb = ([y(x)[4:-4, 4:-4] for x in batch] for batch in (a, b))
    np.testing.assert_allclose(ours["psnr_y"], [peak_signal_noise_ratio(p, q, data_range=255) for p, q in zip(ya, yb)],
                               rtol=1e-4)
    np.testing.assert_allclose(ours["ssim_y"], [structural_similarity(p, q, data_range=255) for p, q in zip(ya, yb)],
                               rtol=1e-4, atol=1e-5)
    # what differs only inside the shaved strip does not count; one pixel inside it does
    c = a.copy()
    c[:, :4] = -c[:, :4]
    assert np.isinf(image_metrics.sr_measures(jnp.asarray(c), jnp.asarray(a), shave=4)["psnr_y"]).all()
    c[:, 4, 4] = -c[:, 4, 4]
    assert np.isfinite(image_metrics.sr_measures(jnp.asarray(c), jnp.asarray(a), shave=4)["psnr_y"]).all()
    with pytest.raises(ValueError, match="cannot shave 7 pixels"):
        image_metrics.sr_measures(jnp.asarray(a), jnp.asarray(b), shave=7)
    with pytest.raises(ValueError, match="RGB images"):
        image_metrics.luma(jnp.zeros((1, 8, 8, 1)))
