"""Boxes, decoding, NMS, letterboxing, image loading."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from detection import boxes as box_ops
from detection import darknet, inference


def test_iou_giou_ciou_known_values():
    a = jnp.array([0.5, 0.5, 1.0, 1.0])  # xyxy (0, 0, 1, 1)
    b = jnp.array([1.0, 0.5, 1.0, 1.0])  # xyxy (0.5, 0, 1.5, 1): IoU = 0.5 / 1.5
    c = jnp.array([2.5, 0.5, 1.0, 1.0])  # xyxy (2, 0, 3, 1): disjoint, enclosing area 3, union 2
    np.testing.assert_allclose(box_ops.iou_cxcywh(a, b), 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(box_ops.giou_cxcywh(a, c), -1 / 3, rtol=1e-6)
    np.testing.assert_allclose(box_ops.giou_cxcywh(a, a), 1.0, rtol=1e-6)
    np.testing.assert_allclose(box_ops.ciou_cxcywh(a, a), 1.0, rtol=1e-6)
    # CIoU of b vs a: same shape (v = 0), centre distance 0.5, enclosing diagonal^2 = 1.5^2 + 1
    np.testing.assert_allclose(box_ops.ciou_cxcywh(b, a), 1 / 3 - 0.25 / (2.25 + 1), rtol=1e-5)
    # aspect term: a 2:1 box inside a square with the same centre
    d = jnp.array([0.5, 0.5, 1.0, 0.5])
    v = 4 / math.pi ** 2 * (math.atan(1.0) - math.atan(2.0)) ** 2
    iou = 0.5
    np.testing.assert_allclose(box_ops.ciou_cxcywh(d, a), iou - v * v / (1 - iou + v), rtol=1e-5)


def test_nms_hand_made_case():
    # 0 and 1 overlap (IoU 0.54), same class -> 1 suppressed; 2 overlaps 0 equally but is another
    # class -> kept; 3 overlaps only 1, which is suppressed, so 3 survives (suppressed boxes suppress nothing);
    # 4 has score 0 -> never kept.
    boxes = jnp.array([[0.50, 0.5, 0.40, 0.4], [0.62, 0.5, 0.40, 0.4], [0.50, 0.5, 0.40, 0.4],
                       [0.74, 0.5, 0.40, 0.4], [0.1, 0.1, 0.1, 0.1]])
    scores = jnp.array([0.9, 0.8, 0.7, 0.6, 0.0])
    classes = jnp.array([0, 0, 1, 0, 0])
    iou = np.asarray(jax.jit(box_ops.iou_cxcywh)(boxes[:, None], boxes[None]))
    assert iou[0, 1] > 0.45 and iou[1, 3] > 0.45 > iou[0, 3]
    nms = jax.jit(box_ops.nms, static_argnums=3)
    keep = nms(boxes, scores, classes, 0.45)
    np.testing.assert_array_equal(keep, [True, False, True, True, False])
    # the order of the inputs does not matter
    perm = np.array([3, 1, 4, 0, 2])
    np.testing.assert_array_equal(nms(boxes[perm], scores[perm], classes[perm], 0.45),
                                  np.array([True, False, True, True, False])[np.asarray(perm)])


def test_postprocess_fixed_shapes_and_thresholds():
    boxes = jnp.array([[[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]]])
    obj = jnp.array([[0.9, 0.8, 0.004]])  # the third is below thresh=0.005
    cls = jnp.array([[[0.9, 0.5], [0.9, 0.1], [1.0, 1.0]]])
    out = jax.jit(lambda *a: box_ops.postprocess(*a, thresh=0.005, max_detections=5))(boxes, obj, cls)
    chex.assert_shape([out["boxes"], out["scores"], out["classes"], out["valid"]], [(1, 5, 4), (1, 5), (1, 5),
                                                                                      (1, 5)])
    valid = np.asarray(out["valid"][0])
    got = sorted((round(float(s), 4), int(c)) for s, c, v in zip(out["scores"][0], out["classes"][0], valid) if v)
    # box 0: class 0 (0.81) and class 1 (0.45) both reported; box 1 class 0 (0.72) suppressed by box 0, its
    # class 1 (0.08) suppressed by box 0's class-1 entry; box 2 filtered by obj.
    assert got == [(0.45, 1), (0.81, 0)]
    assert list(np.asarray(out["scores"][0])[:2]) == sorted(np.asarray(out["scores"][0])[:2], reverse=True)


def test_decode_matches_darknet_formula():
    layer = darknet.Yolo(mask=(1, 2), anchors=((10, 14), (23, 27), (37, 58)), classes=2, scale_x_y=1.05)
    raw = jax.random.normal(jax.random.key(0), (1, 2, 3, 2, 7))
    boxes, obj, cls = jax.jit(lambda r: box_ops.decode_head(r, layer, (64, 96)))(raw)
    chex.assert_shape([boxes, obj, cls], [(1, 12, 4), (1, 12), (1, 12, 2)])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r = np.asarray(raw)[0, 1, 2, 1]  # row 1, col 2, second anchor of the mask (23, 27)
    k = (1 * 3 + 2) * 2 + 1
    expected = [(2 + sig(r[0]) * 1.05 - 0.025) / 3, (1 + sig(r[1]) * 1.05 - 0.025) / 2,
                np.exp(r[2]) * 37 / 96, np.exp(r[3]) * 58 / 64]
    np.testing.assert_allclose(boxes[0, k], expected, rtol=1e-5)
    np.testing.assert_allclose(obj[0, k], sig(r[4]), rtol=1e-5)
    np.testing.assert_allclose(cls[0, k], sig(r[5:]), rtol=1e-5)


def test_letterbox_and_back():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 50:150] = 255
    boxed, lb = inference.letterbox(image, (128, 128))
    assert boxed.shape == (128, 128, 3) and lb.new_hw == (64, 128) and lb.offset_yx == (32, 0)
    assert np.all(boxed[:32] == 0.5) and np.all(boxed[96:] == 0.5)  # grey bars
    # a box given in image-normalised coordinates goes to the net and back to pixels
    box = np.array([[0.5, 0.5, 0.5, 0.2]])  # pixels (50, 40)-(150, 60)
    net_box = lb.boxes_to_net(box)
    np.testing.assert_allclose(net_box, [[0.5, 0.5, 0.5, 0.1]], rtol=1e-6)
    np.testing.assert_allclose(lb.boxes_to_image(net_box), [[50, 40, 150, 60]], atol=1e-4)
    # the white block lands where the box says
    ys, xs = np.nonzero(boxed[..., 0] > 0.5)
    edges = np.array([ys.min(), ys.max() + 1, xs.min(), xs.max() + 1])
    np.testing.assert_allclose(edges, [32 + 40 * 0.64, 32 + 60 * 0.64, 50 * 0.64, 150 * 0.64], atol=1.0)


def test_darknet_resize_matches_the_c_loop():
    rng = np.random.default_rng(0)
    im = rng.uniform(0, 1, (5, 7, 2)).astype(np.float32)
    out_h, out_w = 9, 4
    # darknet's resize_image, transcribed loop by loop (float32)
    w_scale = np.float32(im.shape[1] - 1) / np.float32(out_w - 1)
    h_scale = np.float32(im.shape[0] - 1) / np.float32(out_h - 1)
    part = np.zeros((im.shape[0], out_w, 2), np.float32)
    for r in range(im.shape[0]):
        for c in range(out_w):
            if c == out_w - 1:
                part[r, c] = im[r, -1]
            else:
                sx = np.float32(c) * w_scale
                ix = int(sx)
                dx = sx - ix
                part[r, c] = (1 - dx) * im[r, ix] + dx * im[r, ix + 1]
    ref = np.zeros((out_h, out_w, 2), np.float32)
    for r in range(out_h):
        sy = np.float32(r) * h_scale
        iy = int(sy)
        dy = sy - iy
        ref[r] = (1 - dy) * part[iy]
        if r < out_h - 1:
            ref[r] += dy * part[iy + 1]
    np.testing.assert_allclose(inference.darknet_resize(im, out_w, out_h), ref, atol=1e-6)


def test_load_image_modes_and_errors(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(tmp_path / "gray16.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    gray = inference.load_image(str(tmp_path / "gray.png"))
    assert gray.shape == (20, 30, 3) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray[..., 1], rgb[..., 0])
    np.testing.assert_array_equal(inference.load_image(str(tmp_path / "rgba.png")), rgb)  # alpha dropped
    np.testing.assert_array_equal(inference.load_image(str(tmp_path / "gray16.png"))[..., 2], rgb[..., 0])
    with pytest.raises(inference.ImageError, match="cannot decode image .*broken.jpg"):
        inference.load_image(str(tmp_path / "broken.jpg"))
    with pytest.raises(FileNotFoundError):
        inference.load_image(str(tmp_path / "missing.png"))
    # arrays too: gray and RGBA letterbox like RGB
    a, _ = inference.letterbox(rgb[..., 0], (32, 32))
    b, _ = inference.letterbox(np.dstack([rgb, rgb[..., :1]]), (32, 32))
    assert a.shape == b.shape == (32, 32, 3)


def test_size_checks():
    with pytest.raises(ValueError, match="not a positive multiple of 32.*try 416x416"):
        inference.check_size((410, 420))
    inference.check_size((320, 416))
