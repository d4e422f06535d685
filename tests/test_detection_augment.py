"""Cutout (numpy and jax) and the box-aware detection augmentations (numpy, host pipeline)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detection import augment


def test_cutout_mask_square_interior_and_border():
    m = augment.cutout_mask(10, 12, np.array([[[5, 6]], [[0, 11]]]), size=4)
    assert m.shape == (2, 10, 12, 1)
    hole0 = np.argwhere(m[0, ..., 0] == 0)
    assert len(hole0) == 16 and hole0.min(0).tolist() == [3, 4] and hole0.max(0).tolist() == [6, 7]
    # centred on the corner: only the part inside the image (rows 0..1, cols 9..11) is cut
    hole1 = np.argwhere(m[1, ..., 0] == 0)
    assert len(hole1) == 2 * 3 and hole1.min(0).tolist() == [0, 9] and hole1.max(0).tolist() == [1, 11]


def test_cutout_numpy_counts_dtype_and_noop():
    images = np.full((8, 16, 16, 3), 200, np.uint8)
    out = augment.cutout(images, size=4, n_holes=2, rng=np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == images.shape
    zeros = (out[..., 0] == 0).sum(axis=(1, 2))
    assert np.all(zeros >= 1) and np.all(zeros <= 2 * 16)  # overlapping / clipped squares cut less
    assert np.all((out == 0).all(-1) == (out[..., :1] == 0).all(-1))  # every channel cut together
    assert np.all(out[out != 0] == 200)
    assert (augment.cutout(images, size=4, rng=np.random.default_rng(0)) ==
            augment.cutout(images, size=4, rng=np.random.default_rng(0))).all()
    np.testing.assert_array_equal(augment.cutout(images, size=0), images)
    with pytest.raises(ValueError, match="NHWC"):
        augment.cutout(images[0], size=4)


def test_cutout_jax_matches_numpy_for_the_same_centres():
    centres = np.random.default_rng(1).integers(-2, 20, (3, 2, 2))
    np.testing.assert_array_equal(jax.jit(augment.cutout_mask_jax, static_argnums=(0, 1, 3))(16, 18, centres, 5),
                                  augment.cutout_mask(16, 18, centres, 5))
    images = jnp.ones((4, 16, 16, 3))
    out = jax.jit(lambda k, x: augment.cutout_jax(k, x, size=6, n_holes=1))(jax.random.key(0), images)
    cut = np.asarray((out[..., 0] == 0).sum(axis=(1, 2)))
    assert np.all(cut > 0) and np.all(cut <= 36)
    assert np.all(np.asarray(out)[np.asarray(out) != 0] == 1)


def _square_image(size, box_px):
    x0, y0, x1, y1 = box_px
    im = np.full((size, size, 3), 0.2, np.float32)
    im[y0:y1, x0:x1] = 1.0
    box = np.array([[(x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size]], np.float32)
    return im, box


def test_scale_translate_moves_boxes_with_pixels():
    im, box = _square_image(64, (16, 8, 32, 40))
    cls = np.array([3])
    same, b, c = augment.scale_translate(im, box, cls, 1.0, (0.0, 0.0))
    np.testing.assert_allclose(same, im, atol=1e-6)
    np.testing.assert_allclose(b, box, atol=1e-6)
    out, b, c = augment.scale_translate(im, box, cls, 1.5, (0.1, -0.05))
    ys, xs = np.nonzero(out[..., 0] > 0.6)
    x0, y0, x1, y1 = np.asarray([b[0, 0] - b[0, 2] / 2, b[0, 1] - b[0, 3] / 2, b[0, 0] + b[0, 2] / 2,
                                 b[0, 1] + b[0, 3] / 2]) * 64
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], [x0, y0, x1, y1], atol=1.0)
    assert int(c[0]) == 3 and out.dtype == np.float32
    shrunk, _, _ = augment.scale_translate(im, box, cls, 0.5, (0.0, 0.0))
    np.testing.assert_allclose(shrunk[0, 0], 0.5)  # uncovered border is darknet's grey


def test_box_pushed_out_of_the_image_is_dropped():
    im, box = _square_image(64, (2, 2, 12, 12))
    _, b, c = augment.scale_translate(im, box, np.array([1]), 1.0, (0.0, -0.15))
    assert int(c[0]) == -1 and np.all(b == 0)
    _, b, c = augment.scale_translate(im, box, np.array([1]), 1.0, (0.0, -0.05))
    assert int(c[0]) == 1 and float(b[0, 2]) == pytest.approx(10 / 64 - 0.05 + 2 / 64, abs=1e-5)  # clipped


def test_flip_twice_is_identity_and_boxes_mirror():
    im, box = _square_image(32, (4, 4, 12, 20))
    padded = np.concatenate([box, np.zeros((1, 4), np.float32)])
    f, fb = augment.hflip(im, padded)
    np.testing.assert_allclose(fb[0, 0], 1 - box[0, 0])
    assert np.all(fb[1] == 0)  # padding stays padding
    np.testing.assert_array_equal(f[:, ::-1], im)
    ff, ffb = augment.hflip(f, fb)
    np.testing.assert_array_equal(ff, im)
    np.testing.assert_allclose(ffb, padded, atol=1e-7)


def test_hsv_round_trip_against_colorsys_and_jitter_range():
    import colorsys

    rgb = np.random.default_rng(0).uniform(0, 1, (8, 8, 3)).astype(np.float32)
    hsv = augment.rgb_to_hsv(rgb)
    np.testing.assert_allclose(hsv[3, 5], colorsys.rgb_to_hsv(*rgb[3, 5]), atol=1e-6)  # an independent reference
    np.testing.assert_allclose(augment.hsv_to_rgb(hsv), rgb, atol=1e-5)
    out = augment.hsv_jitter(np.random.default_rng(1), rgb, 0.1, 1.5, 1.5)
    assert out.shape == rgb.shape and out.min() >= 0 and out.max() <= 1 and not np.allclose(out, rgb)
    np.testing.assert_allclose(augment.hsv_jitter(np.random.default_rng(1), rgb, 0.0, 1.0, 1.0), rgb, atol=1e-5)
    scales = [augment.rand_scale(np.random.default_rng(i), 1.5) for i in range(200)]
    assert 1 / 1.5 <= min(scales) < 0.75 and 1.35 < max(scales) <= 1.5  # darknet's rand_scale: 1/s..s


def test_augment_example_deterministic_padding_kept_and_cutout():
    image = np.full((32, 32, 3), 0.3, np.float32)
    boxes = np.zeros((5, 4), np.float32)
    boxes[0] = [0.5, 0.5, 0.3, 0.3]
    classes = np.full((5,), -1, np.int32)
    classes[0] = 2
    options = augment.DetectionAugment(cutout_holes=1, cutout_size=8)
    a = augment.augment_example(np.random.default_rng(5), image, boxes, classes, options)
    b = augment.augment_example(np.random.default_rng(5), image, boxes, classes, options)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    out, ob, oc = a
    assert out.shape == image.shape and ob.shape == boxes.shape and oc.shape == classes.shape
    assert np.all(oc[1:] == -1) and np.all(ob[1:] == 0) and oc[0] == 2
    assert (out == 0).all(-1).any()  # the Cutout square (zeros; the grey fill and the jittered grey are not 0)
    none = augment.DetectionAugment(scale_range=(1, 1), translate=0, flip=0, hue=0, saturation=1, exposure=1)
    same = augment.augment_example(np.random.default_rng(5), image, boxes, classes, none)
    np.testing.assert_array_equal(same[0], image)
    np.testing.assert_array_equal(same[1], boxes)
