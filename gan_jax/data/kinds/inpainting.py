"""Whole images for the inpainting models (context_encoder, ccgan); the models cut the holes themselves.

Batches: ``image`` [N, s, s, C] in [-1, 1]. Holes are not part of the data: each train step draws fresh ones from
its key (``gan_jax.nets.masks``), as PyTorch-GAN draws ``np.random.randint`` corners every time an image is loaded
(context_encoder) or batched (ccgan). A config whose ``mask_size`` does not fit ``img_size`` is refused here too.

``--dataset`` names:
- ``offline`` (default): random square crops (a quarter to two thirds of the short side) of the photos bundled with
  scikit-image, plus its 200 LFW faces (25x25 grayscale, upsampled: blurry), resized to ``img_size``. Train: 1,800
  crops + the first 180 faces; test: 200 other crops (drawn from the same photos) + the last 20 faces.
  Deterministic from :data:`SEED`, built once per process and size.
- ``tfds:celeb_a``: a prepared tensorflow-datasets CelebA (never downloaded here: an unprepared one raises with the
  command that prepares it).
- a folder of images, e.g. CelebA's ``img_align_celeba/`` (PyTorch-GAN's ``../../data/img_align_celeba``): files
  sorted by name; as context_encoder's ``datasets.py``, the last 4,000 are the test split (a tenth for folders of
  fewer than 40,000 images).
Images are squashed to ``img_size`` x ``img_size`` as the scripts' ``Resize((s, s))`` does (bilinear here, bicubic
there).
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image

from gan_jax.data import offline
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.sources import DatasetError, FolderSource, TfdsSource
from gan_jax.nets import masks

SEED = 2016
N_CROPS = {"train": 1800, "test": 200}
N_TRAIN_FACES = 180
TEST_FILES = 4000  # context_encoder/datasets.py: files[-4000:] are 'val'
NAMES = {"offline": "photo crops + LFW faces bundled with scikit-image (default)",
         "tfds:celeb_a": "CelebA prepared with tensorflow-datasets",
         "DIR": "a folder of images, e.g. img_align_celeba/"}


def photo_crops(n: int, size: int, seed) -> np.ndarray:
    """``n`` random square crops of the bundled photos, resized to ``size``: uint8 [n, size, size, 3]."""
    photos = [offline.photo(name) for name in offline.bundled_photos()]
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 4, 2 * min(h, w) // 3 + 1))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(np.ascontiguousarray(photo[y:y + side, x:x + side, :3]))
        out[i] = np.asarray(crop.resize((size, size), Image.BILINEAR))
    return out


@functools.lru_cache(maxsize=4)
def offline_images(split: str, img_size: int, channels: int) -> np.ndarray:
    """The offline inpainting set (uint8 [N, img_size, img_size, channels]); cached."""
    if split not in N_CROPS:
        raise DatasetError(f"unknown split {split!r} for the offline inpainting set: use 'train' or 'test'")
    crops = photo_crops(N_CROPS[split], img_size, [SEED, list(N_CROPS).index(split)])
    faces = offline.lfw_faces()
    faces = faces[:N_TRAIN_FACES] if split == "train" else faces[N_TRAIN_FACES:]
    images = np.concatenate([resize_uint8(crops, img_size, channels), resize_uint8(faces, img_size, channels)])
    images = images[np.random.default_rng([SEED, 7]).permutation(len(images))]  # faces spread through the set
    images.setflags(write=False)
    return images


class Uint8Source:
    """In-memory uint8 images, scaled to [-1, 1] per batch (a quarter of the memory of float32 at 128 px)."""

    def __init__(self, images_uint8: np.ndarray, name: str):
        self.images, self.name = images_uint8, name

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": to_model_range(self.images[np.asarray(indices)])}


def split_files(files: list[str], split: str) -> list[str]:
    """context_encoder's split: the last 4,000 files (sorted) are the test set; a tenth for small folders."""
    n_test = TEST_FILES if len(files) >= 10 * TEST_FILES else max(1, len(files) // 10)
    if split == "train":
        return files[:-n_test]
    if split == "test":
        return files[-n_test:]
    raise DatasetError(f"unknown split {split!r} for an image folder: use 'train' or 'test'")


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None):
    mask_size = getattr(config, "mask_size", None)
    if mask_size is not None:
        masks.check_mask(img_size, mask_size)
    if name == "offline":
        return Uint8Source(offline_images(split, img_size, channels), name=f"offline inpainting/{split}")
    if name.startswith("tfds:"):
        return TfdsSource(name[5:], split, img_size=img_size, channels=channels, data_dir=data_dir, label_key=None)
    if os.path.isdir(name):
        src = FolderSource(name, img_size=img_size, channels=channels)
        src.files, src.labels, src.classes = split_files(src.files, split), None, None
        if not src.files:
            raise DatasetError(f"image folder {name!r} has too few images for a {split} split")
        return src
    raise DatasetError(f"unknown dataset {name!r} for the inpainting models: use 'offline', 'tfds:celeb_a' or an "
                       f"image folder such as img_align_celeba/")
