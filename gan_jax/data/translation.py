"""Building blocks of the image-to-image translation data (kinds ``paired`` and ``unpaired``).

- Offline photo crops: random rectangular crops of the photos bundled with scikit-image, held out by photo (test
  crops come only from :data:`TEST_PHOTOS`, train crops from the others), deterministic from a seed.
- The offline domains built from them: :func:`edge_map` (black strokes on white, an edges2shoes-like sketch),
  :func:`grayscale`, and :func:`posterize` (a "poster" domain: few colour levels, warm tint).
- Folder helpers shared by both kinds: image sizes, the minimum-size check, random crop / flip.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gan_jax.data import offline
from gan_jax.data.sources import DatasetError

TEST_PHOTOS = ("chelsea.png", "coffee.png")  # the same held-out photos as the offline super-resolution set
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, PIL's convert("L")
JITTER = 1.12  # cyclegan.py: Resize(int(1.12 * h)) then RandomCrop(h, w)


def image_size(config, img_size: int) -> tuple[int, int]:
    """(height, width) the model trains on: its img_height/img_width, else the square img_size."""
    return (getattr(config, "img_height", None) or img_size, getattr(config, "img_width", None) or img_size)


def min_size(config) -> int:
    """The smallest image side the model accepts (its ``min_size()``), 1 when it declares none."""
    fn = getattr(config, "min_size", None)
    return int(fn()) if callable(fn) else 1


def photo_names(split: str) -> list[str]:
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} for the offline translation sets: use 'train' or 'test'")
    names = [n for n in offline.bundled_photos() if (n in TEST_PHOTOS) == (split == "test")]
    if not names:
        raise DatasetError(f"scikit-image bundles no photos for the offline {split} split")
    return names


def photo_crops(split: str, n: int, size: tuple[int, int], seed) -> np.ndarray:
    """``n`` crops (uint8 [n, h, w, 3]) of the ``split``'s photos: aspect h:w, between half and all of the photo's
    short side, resized (bilinear) to ``size``. Deterministic in ``seed``."""
    photos = [offline.photo(name) for name in photo_names(split)]
    rng = np.random.default_rng(seed)
    h, w = size
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        ph, pw = photo.shape[:2]
        fit = min(ph / h, pw / w)  # the largest crop of this aspect inside the photo, in units of ``size``
        scale = fit * rng.uniform(0.5, 1.0)
        ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
        y, x = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
        crop = Image.fromarray(np.ascontiguousarray(photo[y:y + ch, x:x + cw]))
        out[i] = np.asarray(crop.resize((w, h), Image.BILINEAR))
    return out


def grayscale(images_uint8: np.ndarray) -> np.ndarray:
    """Luminance, replicated on 3 channels (uint8 NHWC)."""
    luma = np.round(images_uint8.astype(np.float32) @ LUMA).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


def edge_map(images_uint8: np.ndarray, fraction: float = 0.12) -> np.ndarray:
    """Sketches: black strokes on white where the Sobel gradient of the (3x3-box-smoothed) luminance is in the top
    ``fraction`` of each image; uint8 NHWC, 3 channels (edges2shoes' edge maps are black on white too)."""
    luma = images_uint8.astype(np.float32) @ LUMA  # [N, H, W]
    pad = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth = sum(pad[:, dy:dy + luma.shape[1], dx:dx + luma.shape[2]] for dy in range(3) for dx in range(3)) / 9
    p = np.pad(smooth, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, 1:-1, :-2] + p[:, 2:, :-2])
    gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]) - (p[:, :-2, :-2] + 2 * p[:, :-2, 1:-1] + p[:, :-2, 2:])
    magnitude = np.hypot(gx, gy)
    cut = np.quantile(magnitude.reshape(len(magnitude), -1), 1.0 - fraction, axis=1)[:, None, None]
    strokes = (magnitude > cut) & (magnitude > 1e-3)  # a flat image has no edges
    return np.repeat(np.where(strokes, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


WARM = (1.1, 1.0, 0.85)  # the offline poster domain's tint: red +10%, blue -15%


def posterize(images_uint8: np.ndarray, levels: int = 4, tint=WARM) -> np.ndarray:
    """The offline target style: a colour tint (channel gains; default :data:`WARM`; [N, 3] gives each image its
    own), then ``levels`` flat levels per channel."""
    gains = np.asarray(tint, np.float32)
    if gains.ndim == 2:
        gains = gains[:, None, None, :]
    x = images_uint8.astype(np.float32) * gains
    step = 256.0 / levels
    x = (np.floor(np.clip(x, 0, 255) / step) + 0.5) * step
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def random_tints(n: int, seed, spread: float = 0.35) -> np.ndarray:
    """``n`` colour casts [n, 3]: :data:`WARM` times a gain drawn per image and channel, log-uniform in
    [exp(-spread), exp(spread)] (0.70-1.42 for the default): red, green, blue, yellow ... posters of one photo.
    Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    return (np.asarray(WARM, np.float32) * np.exp(rng.uniform(-spread, spread, (n, 3)))).astype(np.float32)


def check_min_size(path: str, size: tuple[int, int], minimum: int, what: str = "image") -> None:
    """A clear error for an image (or one half of a pair) below the model's minimum side."""
    if min(size) < minimum:
        raise DatasetError(f"{what} {path} is {size[1]}x{size[0]} (WxH), smaller than this model's minimum side of "
                           f"{minimum} px")


def random_crop_flip(images_uint8: np.ndarray, size: tuple[int, int], rng: np.random.Generator,
                     flip: bool = True, same: bool = False) -> np.ndarray:
    """Random ``size`` crops of images at least that large, each flipped left-right with probability 1/2
    (``same``: one crop position and flip for the whole stack, as pix2pix flips both halves of a pair together)."""
    n, ih, iw = images_uint8.shape[:3]
    h, w = size
    out = np.empty((n, h, w) + images_uint8.shape[3:], images_uint8.dtype)
    draws = [(rng.integers(0, ih - h + 1), rng.integers(0, iw - w + 1), flip and rng.random() < 0.5)
             for _ in range(1 if same else n)]
    for i in range(n):
        y, x, mirror = draws[0 if same else i]
        crop = images_uint8[i, y:y + h, x:x + w]
        out[i] = crop[:, ::-1] if mirror else crop
    return out


def center_crop(images_uint8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    ih, iw = images_uint8.shape[1:3]
    y, x = (ih - size[0]) // 2, (iw - size[1]) // 2
    return images_uint8[:, y:y + size[0], x:x + size[1]]


def resize(image_uint8: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """One uint8 HxWxC image to ``size`` (h, w) with PIL's bicubic (the scripts' ``Resize(..., BICUBIC)``)."""
    pil = Image.fromarray(image_uint8[..., 0] if image_uint8.shape[-1] == 1 else image_uint8)
    pil = pil.convert("L" if channels == 1 else "RGB")
    if pil.size != (size[1], size[0]):
        pil = pil.resize((size[1], size[0]), Image.BICUBIC)
    arr = np.asarray(pil)
    return arr[..., None] if channels == 1 else arr


def jitter_size(size: tuple[int, int]) -> tuple[int, int]:
    """cyclegan.py's load size: ``Resize(int(img_height * 1.12))`` (square, before the random crop)."""
    return int(size[0] * JITTER), int(size[1] * JITTER)
