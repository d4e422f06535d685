"""Image grids (torchvision's ``save_image(..., normalize=True)`` look) written as PNG."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] float -> uint8 (values outside the range are clipped)."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, H, W, C] in [-1, 1] -> one uint8 image [rows*(H+pad)+pad, cols*(W+pad)+pad, C]."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y:y + h, x:x + w] = img
    return out


def save_grid(images: np.ndarray, path: str, cols: int | None = None) -> str:
    arr = grid(images, cols)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(tmp)
    os.replace(tmp, path)
    return path
