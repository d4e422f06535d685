"""Augmentations on NHWC batches: Cutout (numpy and jax) and, for detection, random scale/translate, flip and
HSV jitter that move the boxes with the pixels (jax, run inside the jitted train step).

Cutout (DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural Networks with Cutout"): per image,
``n_holes`` squares of side ``size`` pixels are set to zero; each square's centre is drawn uniformly over the
image and the square may extend past the border (the part outside is simply cut off), as in the paper. The
image classifiers use it the same way:

    images = augment.cutout(images_BxHxWxC, size=16, rng=np.random.default_rng(0))        # numpy
    images = augment.cutout_jax(jax.random.key(0), images_BxHxWxC, size=16)               # jax, jit-able

For detection, Cutout leaves the boxes unchanged (an object partly hidden keeps its label, as in YOLOv4's
training recipe).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# ----------------------------------------------------------------------------------------------------------------
# Cutout


def cutout_mask(height: int, width: int, centres_BxNx2: np.ndarray, size: int) -> np.ndarray:
    """float32 [B, H, W, 1]: 0 inside any square of side ``size`` centred at (y, x) = centres, else 1.

    The square covers rows [y - size // 2, y - size // 2 + size) (likewise columns), clipped to the image.
    """
    c = np.asarray(centres_BxNx2)
    lo = c - size // 2
    ys = np.arange(height)[None, None, :]
    xs = np.arange(width)[None, None, :]
    in_y = (ys >= lo[..., 0:1]) & (ys < lo[..., 0:1] + size)  # [B, N, H]
    in_x = (xs >= lo[..., 1:2]) & (xs < lo[..., 1:2] + size)  # [B, N, W]
    hole = np.any(in_y[:, :, :, None] & in_x[:, :, None, :], axis=1)  # [B, H, W]
    return (~hole).astype(np.float32)[..., None]


def cutout(images_BxHxWxC: np.ndarray, size: int, n_holes: int = 1, rng: np.random.Generator | None = None
           ) -> np.ndarray:
    """numpy Cutout on a batch (a new array of the same dtype). ``size`` in pixels; ``size <= 0`` or
    ``n_holes <= 0`` returns the images unchanged."""
    images = np.asarray(images_BxHxWxC)
    if images.ndim != 4:
        raise ValueError(f"cutout expects an NHWC batch, got shape {images.shape}")
    if size <= 0 or n_holes <= 0:
        return images.copy()
    rng = rng if rng is not None else np.random.default_rng()
    b, h, w, _ = images.shape
    centres = np.stack([rng.integers(0, h, (b, n_holes)), rng.integers(0, w, (b, n_holes))], axis=-1)
    return (images * cutout_mask(h, w, centres, size)).astype(images.dtype)


def cutout_mask_jax(height: int, width: int, centres_BxNx2: jax.Array, size: int) -> jax.Array:
    """jax twin of :func:`cutout_mask` (same squares for the same centres)."""
    lo = centres_BxNx2 - size // 2
    ys = jnp.arange(height)[None, None, :]
    xs = jnp.arange(width)[None, None, :]
    in_y = (ys >= lo[..., 0:1]) & (ys < lo[..., 0:1] + size)
    in_x = (xs >= lo[..., 1:2]) & (xs < lo[..., 1:2] + size)
    hole = jnp.any(in_y[:, :, :, None] & in_x[:, :, None, :], axis=1)
    return (~hole).astype(jnp.float32)[..., None]


def cutout_jax(rng: jax.Array, images_BxHxWxC: jax.Array, size: int, n_holes: int = 1) -> jax.Array:
    """jit-able Cutout (``size`` and ``n_holes`` static)."""
    if size <= 0 or n_holes <= 0:
        return images_BxHxWxC
    b, h, w, _ = images_BxHxWxC.shape
    ky, kx = jax.random.split(rng)
    centres = jnp.stack([jax.random.randint(ky, (b, n_holes), 0, h), jax.random.randint(kx, (b, n_holes), 0, w)],
                        axis=-1)
    return (images_BxHxWxC * cutout_mask_jax(h, w, centres, size)).astype(images_BxHxWxC.dtype)


# ----------------------------------------------------------------------------------------------------------------
# Geometric: scale about the centre + translate, with the boxes


def _bilinear(image_HxWxC: jax.Array, ys: jax.Array, xs: jax.Array, fill: float) -> jax.Array:
    """Samples at pixel-centre coordinates (ys, xs) [H, W]; outside the image -> ``fill``."""
    h, w, _ = image_HxWxC.shape
    y0, x0 = jnp.floor(ys), jnp.floor(xs)
    dy, dx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)

    def at(y, x):
        inside = ((y >= 0) & (y < h) & (x >= 0) & (x < w))[..., None]
        return jnp.where(inside, image_HxWxC[jnp.clip(y, 0, h - 1), jnp.clip(x, 0, w - 1)], fill)

    return ((1 - dy) * (1 - dx) * at(y0, x0) + (1 - dy) * dx * at(y0, x0 + 1)
            + dy * (1 - dx) * at(y0 + 1, x0) + dy * dx * at(y0 + 1, x0 + 1))


def scale_translate(image_HxWxC: jax.Array, boxes_Mx4: jax.Array, classes_M: jax.Array, scale: jax.Array,
                    shift_yx: jax.Array, fill: float = 0.5, min_visible: float = 0.4, min_pixels: float = 2.0
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Zooms one image by ``scale`` about its centre and shifts it by ``shift_yx`` (fractions of the image);
    uncovered pixels get ``fill`` (darknet's 0.5 grey). Boxes (normalised cxcywh) follow; a box is clipped to the
    image and dropped (class -1, box 0) when less than ``min_visible`` of it stays inside or a side falls under
    ``min_pixels`` pixels."""
    h, w, _ = image_HxWxC.shape
    # output pixel centre p' (normalised) <- source p = (p' - 0.5 - shift) / scale + 0.5
    v = (jnp.arange(h) + 0.5) / h
    u = (jnp.arange(w) + 0.5) / w
    src_y = ((v - 0.5 - shift_yx[0]) / scale + 0.5) * h - 0.5
    src_x = ((u - 0.5 - shift_yx[1]) / scale + 0.5) * w - 0.5
    ys, xs = jnp.meshgrid(src_y, src_x, indexing="ij")
    out = _bilinear(image_HxWxC, ys, xs, fill)

    cx = (boxes_Mx4[:, 0] - 0.5) * scale + 0.5 + shift_yx[1]
    cy = (boxes_Mx4[:, 1] - 0.5) * scale + 0.5 + shift_yx[0]
    bw, bh = boxes_Mx4[:, 2] * scale, boxes_Mx4[:, 3] * scale
    x0, x1 = jnp.clip(cx - bw / 2, 0, 1), jnp.clip(cx + bw / 2, 0, 1)
    y0, y1 = jnp.clip(cy - bh / 2, 0, 1), jnp.clip(cy + bh / 2, 0, 1)
    visible = (x1 - x0) * (y1 - y0) / jnp.maximum(bw * bh, 1e-12)
    keep = (classes_M >= 0) & (visible >= min_visible) & ((x1 - x0) * w >= min_pixels) & ((y1 - y0) * h >= min_pixels)
    new = jnp.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)
    return out, jnp.where(keep[:, None], new, 0.0), jnp.where(keep, classes_M, -1)


def hflip(image_HxWxC: jax.Array, boxes_Mx4: jax.Array, flip: jax.Array) -> tuple[jax.Array, jax.Array]:
    image = jnp.where(flip, image_HxWxC[:, ::-1], image_HxWxC)
    cx = jnp.where(flip, 1.0 - boxes_Mx4[:, 0], boxes_Mx4[:, 0])
    return image, boxes_Mx4.at[:, 0].set(jnp.where(boxes_Mx4[:, 2] > 0, cx, 0.0))


# ----------------------------------------------------------------------------------------------------------------
# Colour: darknet's hue / saturation / exposure jitter in HSV


def rgb_to_hsv(rgb: jax.Array) -> jax.Array:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = jnp.max(rgb, axis=-1)
    mn = jnp.min(rgb, axis=-1)
    delta = v - mn
    s = jnp.where(v > 0, delta / jnp.where(v > 0, v, 1.0), 0.0)
    safe = jnp.where(delta > 0, delta, 1.0)
    h = jnp.where(v == r, (g - b) / safe, jnp.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = jnp.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return jnp.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: jax.Array) -> jax.Array:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = jnp.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(jnp.int32) % 6
    r = jnp.choose(i, [v, q, p, p, t, v], mode="clip")
    g = jnp.choose(i, [t, v, v, q, p, p], mode="clip")
    b = jnp.choose(i, [p, p, t, v, v, q], mode="clip")
    return jnp.stack([r, g, b], axis=-1)


def _rand_scale(rng: jax.Array, s: float, shape=()) -> jax.Array:
    """darknet's rand_scale: s^u for u ~ U(-1, 1) (so 1/s..s, symmetric in log)."""
    return jnp.power(s, jax.random.uniform(rng, shape, minval=-1.0, maxval=1.0))


def hsv_jitter(rng: jax.Array, image_HxWx3: jax.Array, hue: float, saturation: float, exposure: float) -> jax.Array:
    kh, ks, ke = jax.random.split(rng, 3)
    hsv = rgb_to_hsv(image_HxWx3)
    dh = jax.random.uniform(kh, (), minval=-hue, maxval=hue)
    hsv = jnp.stack([(hsv[..., 0] + dh) % 1.0,
                     jnp.clip(hsv[..., 1] * _rand_scale(ks, saturation), 0, 1),
                     jnp.clip(hsv[..., 2] * _rand_scale(ke, exposure), 0, 1)], axis=-1)
    return hsv_to_rgb(hsv)


# ----------------------------------------------------------------------------------------------------------------
# The detection pipeline


def augment_detection_batch(rng: jax.Array, images_BxHxWx3: jax.Array, boxes_BxMx4: jax.Array,
                            classes_BxM: jax.Array, *, scale_range: tuple[float, float] = (0.75, 1.25),
                            translate: float = 0.2, flip: float = 0.5, hue: float = 0.1, saturation: float = 1.5,
                            exposure: float = 1.5, cutout_holes: int = 1, cutout_size: int = 0
                            ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Random scale/translate, horizontal flip (probability ``flip``), HSV jitter, Cutout; boxes follow."""
    b = images_BxHxWx3.shape[0]
    k_scale, k_shift, k_flip, k_hsv, k_cut = jax.random.split(rng, 5)
    scales = jax.random.uniform(k_scale, (b,), minval=scale_range[0], maxval=scale_range[1])
    shifts = jax.random.uniform(k_shift, (b, 2), minval=-translate, maxval=translate)
    flips = jax.random.uniform(k_flip, (b,)) < flip

    def one(image, boxes, classes, scale, shift, flip_, key):
        image, boxes, classes = scale_translate(image, boxes, classes, scale, shift)
        image, boxes = hflip(image, boxes, flip_)
        if hue or saturation != 1 or exposure != 1:
            image = hsv_jitter(key, image, hue, saturation, exposure)
        return image, boxes, classes

    images, boxes, classes = jax.vmap(one)(images_BxHxWx3, boxes_BxMx4, classes_BxM, scales, shifts, flips,
                                           jax.random.split(k_hsv, b))
    images = cutout_jax(k_cut, images, cutout_size, cutout_holes)
    return images, boxes, classes
