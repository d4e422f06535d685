"""Low/high-resolution image pairs for the super-resolution models (srgan, esrgan).

Batches: ``hr`` [N, H, W, C] and ``lr`` [N, H/4, W/4, C], float32 in [-1, 1]. As PyTorch-GAN's ``ImageDataset``,
each image is resized to H x W for ``hr`` and, separately, to H/4 x W/4 for ``lr`` with PIL's bicubic filter
(``transforms.Resize(..., Image.BICUBIC)``: antialiased). Sizes come from the model's ``hr_height``/``hr_width``.

``--dataset`` names:
- ``offline`` (default): square crops of the photos bundled with scikit-image, at 1-2x the HR size (downscaled to
  it, never upscaled beyond the photo's own resolution unless the photo is smaller than the crop). Held out by
  photo: test crops come only from ``chelsea.png`` and ``coffee.png``, train crops from the other photos. 600 train /
  100 test crops, deterministic from :data:`SEED`, built once per process and size.
- a folder of HR images (PyTorch-GAN's ``../../data/img_align_celeba``, any image folder): with ``train/`` and
  ``test/`` subfolders those are the splits, otherwise files sorted by name and the last tenth is the test split.
- ``tfds:div2k`` (``tfds:div2k/bicubic_x4``, any config): a prepared DIV2K; its 2K ``hr`` images are cut to one
  H x W crop each (position fixed per image from :data:`SEED`; images smaller than the crop are resized) and ``lr``
  is made from the crop the same bicubic way (split ``test`` reads DIV2K's ``validation``).

Deviation: PyTorch-GAN resizes to ``(hr_height, hr_height)`` (its ``hr_width`` is unused); here both are honoured.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image

from gan_jax.data import offline
from gan_jax.data.pipeline import to_model_range
from gan_jax.data.sources import DatasetError, check_readable, list_images, read_image

SEED = 2017  # SRGAN, Ledig et al.
SCALE = 4
TEST_PHOTOS = ("chelsea.png", "coffee.png")
N_CROPS = {"train": 600, "test": 100}
NAMES = {"offline": "HR crops of scikit-image's bundled photos (test: held-out photos) (default)",
         "tfds:div2k": "DIV2K prepared with tensorflow-datasets", "DIR": "a folder of HR images"}


def hr_size(config, img_size: int) -> tuple[int, int]:
    """(height, width) of HR images: the config's hr_height/hr_width, else img_size."""
    h = getattr(config, "hr_height", None) or img_size
    w = getattr(config, "hr_width", None) or img_size
    if h % SCALE or w % SCALE:
        raise DatasetError(f"HR size {h}x{w} must be a multiple of {SCALE} (the LR image is a quarter of it)")
    return h, w


def bicubic(image_uint8: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """One uint8 HxWxC image resized to ``size`` (h, w) with PIL's bicubic, as ``channels`` (1 or 3)."""
    pil = Image.fromarray(image_uint8[..., 0] if image_uint8.shape[-1] == 1 else image_uint8)
    pil = pil.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(pil.resize((size[1], size[0]), Image.BICUBIC))
    return arr[..., None] if channels == 1 else arr


def pair(image_uint8: np.ndarray, hr: tuple[int, int], channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) uint8 from one image, as PyTorch-GAN's two transforms (both resized from the original)."""
    return bicubic(image_uint8, (hr[0] // SCALE, hr[1] // SCALE), channels), bicubic(image_uint8, hr, channels)


def photo_crops(names: list[str], n: int, hr: tuple[int, int], seed) -> list[np.ndarray]:
    """``n`` crops of the named photos, aspect ``hr``, 1-2x its size (capped by the photo)."""
    photos = [offline.photo(name) for name in names]
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        scale = rng.uniform(1.0, 2.0)
        ph, pw = photo.shape[:2]
        fit = min(ph / hr[0], pw / hr[1], scale)  # a crop never larger than the photo
        h, w = max(1, int(hr[0] * fit)), max(1, int(hr[1] * fit))
        y, x = rng.integers(0, ph - h + 1), rng.integers(0, pw - w + 1)
        crops.append(np.ascontiguousarray(photo[y:y + h, x:x + w]))
    return crops


class PairSource:
    """LR/HR pairs held in memory (uint8), scaled to [-1, 1] per batch."""

    def __init__(self, lr_uint8: np.ndarray, hr_uint8: np.ndarray, name: str):
        self.lr, self.hr, self.name = lr_uint8, hr_uint8, name

    def __len__(self) -> int:
        return len(self.hr)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        return {"lr": to_model_range(self.lr[indices]), "hr": to_model_range(self.hr[indices])}


@functools.lru_cache(maxsize=4)
def offline_pairs(split: str, hr: tuple[int, int], channels: int) -> PairSource:
    if split not in N_CROPS:
        raise DatasetError(f"unknown split {split!r} for the offline super-resolution set: use 'train' or 'test'")
    names = [n for n in offline.bundled_photos() if (n in TEST_PHOTOS) == (split == "test")]
    if not names:
        raise DatasetError(f"scikit-image bundles no photos for the offline {split} split")
    crops = photo_crops(names, N_CROPS[split], hr, [SEED, list(N_CROPS).index(split)])
    lr, hr_imgs = zip(*(pair(c, hr, channels) for c in crops))
    return PairSource(np.stack(lr), np.stack(hr_imgs), f"offline superres/{split}")


class FolderPairs:
    """HR image files read on demand, each giving an (LR, HR) pair."""

    def __init__(self, files: list[str], hr: tuple[int, int], channels: int, name: str):
        check_readable(files)
        self.files, self.hr_shape, self.channels, self.name = files, hr, channels, name

    def __len__(self) -> int:
        return len(self.files)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        lr, hr = zip(*(pair(read_image(self.files[i], 3), self.hr_shape, self.channels) for i in indices))
        return {"lr": to_model_range(np.stack(lr)), "hr": to_model_range(np.stack(hr))}


def folder_files(root: str, split: str) -> list[str]:
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} for an image folder: use 'train' or 'test'")
    if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "test")):
        return list_images(os.path.join(root, split))
    files = list_images(root)
    n_test = max(1, len(files) // 10)
    if len(files) < 2:
        raise DatasetError(f"image folder {root!r} needs at least 2 images for a train/test split")
    return files[:-n_test] if split == "train" else files[-n_test:]


class Div2k:
    """A prepared tfds DIV2K: one fixed crop of each ``hr`` image, and its bicubic LR."""

    def __init__(self, name: str, split: str, hr: tuple[int, int], channels: int, data_dir: str | None):
        from gan_jax.data.sources import TfdsSource

        split = "validation" if split == "test" else split
        self.records = TfdsSource(name, split, img_size=hr[0], channels=channels, data_dir=data_dir,
                                  image_key="hr", label_key=None).records
        self.hr_shape, self.channels, self.name = hr, channels, f"tfds:{name}/{split}"

    def __len__(self) -> int:
        return len(self.records)

    def crop(self, i: int) -> np.ndarray:
        image = np.asarray(self.records[int(i)]["hr"])
        h, w = self.hr_shape
        if image.shape[0] < h or image.shape[1] < w:
            return image
        rng = np.random.default_rng([SEED, int(i)])
        y, x = rng.integers(0, image.shape[0] - h + 1), rng.integers(0, image.shape[1] - w + 1)
        return image[y:y + h, x:x + w]

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        lr, hr = zip(*(pair(self.crop(i), self.hr_shape, self.channels) for i in indices))
        return {"lr": to_model_range(np.stack(lr)), "hr": to_model_range(np.stack(hr))}


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None):
    hr = hr_size(config, img_size)
    if name == "offline":
        return offline_pairs(split, hr, channels)
    if name.startswith("tfds:"):
        return Div2k(name[5:], split, hr, channels, data_dir)
    if os.path.isdir(name):
        return FolderPairs(folder_files(name, split), hr, channels, name=f"{name}/{split}")
    raise DatasetError(f"unknown dataset {name!r} for super-resolution: use 'offline', tfds:div2k or a folder of "
                       f"HR images (e.g. img_align_celeba/)")
