"""Augmentations: Cutout (numpy and jax) and, for detection, random scale/translate, flip and HSV jitter that move
the boxes with the pixels (numpy, run on the host by the batch pipeline, ``data.DetectionSource``).

Cutout (DeVries & Taylor 2017, "Improved Regularization of Convolutional Neural Networks with Cutout"): per image,
``n_holes`` squares of side ``size`` pixels are set to zero; each square's centre is drawn uniformly over the
image and the square may extend past the border (the part outside is simply cut off), as in the paper. The
image classifiers use it the same way:

    images = augment.cutout(images_BxHxWxC, size=16, rng=np.random.default_rng(0))        # numpy
    images = augment.cutout_jax(jax.random.key(0), images_BxHxWxC, size=16)               # jax, jit-able

For detection, Cutout leaves the boxes unchanged (an object partly hidden keeps its label, as in YOLOv4's
training recipe). The detection augmentations run on the host (numpy, in the loader's prefetch thread, overlapping
the device step; the project's design: "host pipeline in numpy"), drawn from a generator seeded by the batch
number, so a resumed run sees the same augmented batches:

    options = augment.DetectionAugment(scale_range=(0.75, 1.25), translate=0.2, flip=0.5)
    image, boxes, classes = augment.augment_example(np.random.default_rng([seed, k]), image, boxes, classes, options)
"""

from __future__ import annotations

import dataclasses

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


def _bilinear(image_HxWxC: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill: float) -> np.ndarray:
    """Samples at pixel-centre coordinates (ys, xs) [H, W]; outside the image -> ``fill``."""
    h, w, _ = image_HxWxC.shape
    y0, x0 = np.floor(ys), np.floor(xs)
    dy, dx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)

    def at(y, x):
        inside = ((y >= 0) & (y < h) & (x >= 0) & (x < w))[..., None]
        return np.where(inside, image_HxWxC[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], np.float32(fill))

    out = ((1 - dy) * (1 - dx) * at(y0, x0) + (1 - dy) * dx * at(y0, x0 + 1)
           + dy * (1 - dx) * at(y0 + 1, x0) + dy * dx * at(y0 + 1, x0 + 1))
    return out.astype(np.float32)


def scale_translate(image_HxWxC: np.ndarray, boxes_Mx4: np.ndarray, classes_M: np.ndarray, scale: float,
                    shift_yx: tuple[float, float], fill: float = 0.5, min_visible: float = 0.4,
                    min_pixels: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zooms one float image by ``scale`` about its centre and shifts it by ``shift_yx`` (fractions of the image);
    uncovered pixels get ``fill`` (darknet's 0.5 grey). Boxes (normalised cxcywh) follow; a box is clipped to the
    image and dropped (class -1, box 0) when less than ``min_visible`` of it stays inside or a side falls under
    ``min_pixels`` pixels."""
    h, w, _ = image_HxWxC.shape
    boxes_Mx4, classes_M = np.asarray(boxes_Mx4, np.float32), np.asarray(classes_M, np.int32)
    if scale == 1.0 and shift_yx[0] == 0 and shift_yx[1] == 0:
        return np.asarray(image_HxWxC, np.float32), boxes_Mx4.copy(), classes_M.copy()
    # output pixel centre p' (normalised) <- source p = (p' - 0.5 - shift) / scale + 0.5
    v = (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    src_y = ((v - 0.5 - shift_yx[0]) / scale + 0.5) * h - 0.5
    src_x = ((u - 0.5 - shift_yx[1]) / scale + 0.5) * w - 0.5
    ys, xs = np.meshgrid(src_y, src_x, indexing="ij")
    out = _bilinear(np.asarray(image_HxWxC, np.float32), ys, xs, fill)

    cx = (boxes_Mx4[:, 0] - 0.5) * scale + 0.5 + shift_yx[1]
    cy = (boxes_Mx4[:, 1] - 0.5) * scale + 0.5 + shift_yx[0]
    bw, bh = boxes_Mx4[:, 2] * scale, boxes_Mx4[:, 3] * scale
    x0, x1 = np.clip(cx - bw / 2, 0, 1), np.clip(cx + bw / 2, 0, 1)
    y0, y1 = np.clip(cy - bh / 2, 0, 1), np.clip(cy + bh / 2, 0, 1)
    visible = (x1 - x0) * (y1 - y0) / np.maximum(bw * bh, 1e-12)
    keep = (classes_M >= 0) & (visible >= min_visible) & ((x1 - x0) * w >= min_pixels) & ((y1 - y0) * h >= min_pixels)
    new = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1).astype(np.float32)
    return out, np.where(keep[:, None], new, 0.0).astype(np.float32), np.where(keep, classes_M, -1).astype(np.int32)


def hflip(image_HxWxC: np.ndarray, boxes_Mx4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; padding boxes (width 0) stay all zero."""
    boxes = np.array(boxes_Mx4, np.float32)
    boxes[:, 0] = np.where(boxes[:, 2] > 0, 1.0 - boxes[:, 0], 0.0)
    return image_HxWxC[:, ::-1].copy(), boxes


# ----------------------------------------------------------------------------------------------------------------
# Colour: darknet's hue / saturation / exposure jitter in HSV


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.max(rgb, axis=-1)
    delta = v - np.min(rgb, axis=-1)
    s = np.where(v > 0, delta / np.where(v > 0, v, 1.0), 0.0)
    safe = np.where(delta > 0, delta, 1.0)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def rand_scale(rng: np.random.Generator, s: float) -> float:
    """darknet's rand_scale: s^u for u ~ U(-1, 1) (so 1/s..s, symmetric in log)."""
    return float(s ** rng.uniform(-1.0, 1.0))


def hsv_jitter(rng: np.random.Generator, image_HxWx3: np.ndarray, hue: float, saturation: float,
               exposure: float) -> np.ndarray:
    """darknet's random_distort_image: hue shifted by U(-hue, hue), saturation and value scaled by
    ``rand_scale``; float RGB in [0, 1]."""
    dh = rng.uniform(-hue, hue) if hue else 0.0
    ds, de = rand_scale(rng, saturation), rand_scale(rng, exposure)
    hsv = rgb_to_hsv(image_HxWx3)
    hsv = np.stack([(hsv[..., 0] + dh) % 1.0, np.clip(hsv[..., 1] * ds, 0, 1), np.clip(hsv[..., 2] * de, 0, 1)],
                   axis=-1)
    return hsv_to_rgb(hsv)


# ----------------------------------------------------------------------------------------------------------------
# The detection pipeline


@dataclasses.dataclass(frozen=True)
class DetectionAugment:
    """What :func:`augment_example` does (``model.Config`` carries the same fields; ``from_config`` copies them)."""

    scale_range: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.2
    flip: float = 0.5
    hue: float = 0.1
    saturation: float = 1.5
    exposure: float = 1.5
    cutout_holes: int = 0
    cutout_size: int = 0  # pixels

    @classmethod
    def from_config(cls, config) -> "DetectionAugment":
        return cls(scale_range=(config.scale_min, config.scale_max), translate=config.translate, flip=config.flip,
                   hue=config.hue, saturation=config.saturation, exposure=config.exposure,
                   cutout_holes=config.cutout_holes, cutout_size=int(round(config.cutout_size * config.img_size)))


def augment_example(rng: np.random.Generator, image_HxWx3: np.ndarray, boxes_Mx4: np.ndarray,
                    classes_M: np.ndarray, options: DetectionAugment = DetectionAugment()
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random zoom (uniform in ``scale_range``) and shift (uniform in +-``translate``), horizontal flip (with
    probability ``flip``), HSV jitter, Cutout, on one float image in [0, 1] with padded boxes/classes; boxes follow.
    The draws are made in a fixed order, so the result is a function of the generator's state."""
    scale = rng.uniform(*options.scale_range)
    shift = tuple(rng.uniform(-options.translate, options.translate, 2)) if options.translate else (0.0, 0.0)
    flip = rng.uniform() < options.flip
    image, boxes, classes = scale_translate(image_HxWx3, boxes_Mx4, classes_M, scale, shift)
    if flip:
        image, boxes = hflip(image, boxes)
    if options.hue or options.saturation != 1 or options.exposure != 1:
        image = hsv_jitter(rng, image, options.hue, options.saturation, options.exposure)
    if options.cutout_holes > 0 and options.cutout_size > 0:
        image = cutout(image[None], options.cutout_size, options.cutout_holes, rng)[0]
    return image, boxes, classes
