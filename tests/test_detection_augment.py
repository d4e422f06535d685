"""Cutout (numpy and jax) and the box-aware detection augmentations."""

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
    return jnp.asarray(im), jnp.asarray(box)


def test_scale_translate_moves_boxes_with_pixels():
    im, box = _square_image(64, (16, 8, 32, 40))
    cls = jnp.array([3])
    st = jax.jit(augment.scale_translate)
    same, b, c = st(im, box, cls, jnp.float32(1.0), jnp.zeros(2))
    np.testing.assert_allclose(same, im, atol=1e-6)
    np.testing.assert_allclose(b, box, atol=1e-6)
    out, b, c = st(im, box, cls, jnp.float32(1.5), jnp.array([0.1, -0.05]))
    ys, xs = np.nonzero(np.asarray(out)[..., 0] > 0.6)
    x0, y0, x1, y1 = np.asarray([b[0, 0] - b[0, 2] / 2, b[0, 1] - b[0, 3] / 2, b[0, 0] + b[0, 2] / 2,
                                 b[0, 1] + b[0, 3] / 2]) * 64
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], [x0, y0, x1, y1], atol=1.0)
    assert int(c[0]) == 3
    shrunk, _, _ = st(im, box, cls, jnp.float32(0.5), jnp.zeros(2))
    np.testing.assert_allclose(np.asarray(shrunk)[0, 0], 0.5)  # uncovered border is darknet's grey


def test_box_pushed_out_of_the_image_is_dropped():
    im, box = _square_image(64, (2, 2, 12, 12))
    st = jax.jit(augment.scale_translate)
    _, b, c = st(im, box, jnp.array([1]), jnp.float32(1.0), jnp.array([0.0, -0.15]))
    assert int(c[0]) == -1 and np.all(np.asarray(b) == 0)
    _, b, c = st(im, box, jnp.array([1]), jnp.float32(1.0), jnp.array([0.0, -0.05]))
    assert int(c[0]) == 1 and float(b[0, 2]) == pytest.approx(10 / 64 - 0.05 + 2 / 64, abs=1e-5)  # clipped


def test_flip_twice_is_identity_and_boxes_mirror():
    im, box = _square_image(32, (4, 4, 12, 20))
    f, fb = augment.hflip(im, box, jnp.bool_(True))
    np.testing.assert_allclose(fb[0, 0], 1 - box[0, 0])
    ff, ffb = augment.hflip(f, fb, jnp.bool_(True))
    np.testing.assert_array_equal(ff, im)
    np.testing.assert_allclose(ffb, box, atol=1e-7)


def test_hsv_round_trip_and_jitter_range():
    rgb = jax.random.uniform(jax.random.key(0), (8, 8, 3))
    np.testing.assert_allclose(jax.jit(lambda x: augment.hsv_to_rgb(augment.rgb_to_hsv(x)))(rgb), rgb, atol=1e-5)
    jitter = jax.jit(augment.hsv_jitter, static_argnums=(2, 3, 4))
    out = jitter(jax.random.key(1), rgb, 0.1, 1.5, 1.5)
    assert out.shape == rgb.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not np.allclose(out, rgb)
    np.testing.assert_allclose(jitter(jax.random.key(1), rgb, 0.0, 1.0, 1.0), rgb, atol=1e-5)


def test_detection_batch_pipeline_shapes_and_padding_kept():
    images = jnp.full((2, 32, 32, 3), 0.3)
    boxes = jnp.zeros((2, 5, 4)).at[:, 0].set(jnp.array([0.5, 0.5, 0.3, 0.3]))
    classes = jnp.full((2, 5), -1).at[:, 0].set(2)
    out = jax.jit(lambda k: augment.augment_detection_batch(k, images, boxes, classes, cutout_size=8))(
        jax.random.key(0))
    assert out[0].shape == images.shape and out[1].shape == boxes.shape and out[2].shape == classes.shape
    assert np.all(np.asarray(out[2])[:, 1:] == -1) and np.all(np.asarray(out[1])[:, 1:] == 0)
