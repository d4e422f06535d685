"""Two unpaired digit domains for cogan and pixelda: A = MNIST (source), B = MNIST-M (target).

Batches: ``image_a`` [N, s, s, C] with ``label_a`` (MNIST digits and their classes), ``image_b`` with ``label_b``
(MNIST-M digits; their labels are for evaluation only: neither model trains on them). Row i of a batch pairs the
i-th source digit with an unrelated target digit (a fixed random permutation), as PyTorch-GAN zips two independently
shuffled loaders.

``--dataset`` names:
- ``mnistm`` (default, offline): MNIST-M built the way Ganin & Lempitsky (2015) built it (``create_mnistm.py``, whose
  pickle PyTorch-GAN's ``mnistm.py`` downloads): each MNIST digit, binarised (pixel > 0), is blended with a random
  28x28 crop of a natural photo as |crop - digit * 255|, per RGB channel. The photos are those bundled with
  scikit-image (BSDS500 in the original); the digits are the offline MNIST split (4,500 train / 500 test), and
  domain B is built from the same split's digits, shown unpaired. Deterministic from :data:`SEED` (and the split),
  built once per process.
- a folder holding the real MNIST-M as distributed by its authors (``mnist_m.tar.gz``): ``DIR/mnist_m_train/*.png``
  with ``DIR/mnist_m_train_labels.txt`` (lines ``00000000.png 5``), and the same for ``test``. The source domain
  stays the offline MNIST. (PyTorch-GAN's processed ``mnist_m_train.pt`` is a torch pickle, not read here.)
"""

from __future__ import annotations

import functools
import os

import numpy as np

from gan_jax.data import offline
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.sources import DatasetError, list_images, read_image

SEED = 2015  # Ganin & Lempitsky 2015
DIGIT_SIZE = 28
NAMES = {"mnistm": "MNIST -> MNIST-M built offline from MNIST digits and scikit-image's photos (default)"}


def build_mnistm(digits_Nx28x28x1: np.ndarray, seed, photos: list[np.ndarray] | None = None) -> np.ndarray:
    """MNIST-M images uint8 [N, 28, 28, 3]: |random photo crop - binarised digit * 255|, deterministic in ``seed``
    (anything ``np.random.default_rng`` takes).

    ``photos``: uint8 RGB arrays to crop from (default: scikit-image's bundled photos).
    """
    if photos is None:
        photos = [offline.photo(name) for name in offline.bundled_photos()]
    if not photos:
        raise DatasetError("no photos to build MNIST-M from (scikit-image ships none in this install)")
    rng = np.random.default_rng(seed)
    n, h, w = digits_Nx28x28x1.shape[:3]
    strokes = (digits_Nx28x28x1 > 0).astype(np.int16) * 255  # create_mnistm.py's mnist_to_img: (x > 0) * 255
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        y = rng.integers(0, photo.shape[0] - h)
        x = rng.integers(0, photo.shape[1] - w)
        crop = photo[y:y + h, x:x + w, :3].astype(np.int16)
        out[i] = np.abs(crop - strokes[i]).astype(np.uint8)
    return out


@functools.lru_cache(maxsize=4)
def offline_mnistm(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(MNIST-M images uint8 [N, 28, 28, 3], labels) built from the offline MNIST ``split``; cached."""
    digits, labels = offline.mnist(split)
    images = build_mnistm(digits, seed=[SEED, ("train", "test", "all").index(split)])
    images.setflags(write=False)
    return images, labels


def read_labels_file(path: str) -> dict[str, int]:
    """``NAME LABEL`` per line (the MNIST-M distribution's ``mnist_m_<split>_labels.txt``)."""
    labels = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DatasetError(f"{path}:{n}: expected 'FILE LABEL', got {line.strip()!r}")
            labels[parts[0]] = int(parts[1])
    return labels


class UnpairedDomains:
    """Source A (arrays) and target B (arrays, or image files read on demand) as one indexable source.

    ``len`` is the larger domain's size; index i takes A[i mod |A|] and B[perm(i mod |B|)] for a fixed permutation.
    """

    def __init__(self, a_uint8, labels_a, b, labels_b, *, img_size: int, channels: int, seed: int = SEED,
                 name: str = "mnistm"):
        self.a = resize_uint8(a_uint8, img_size, channels)
        self.labels_a = np.asarray(labels_a, np.int32)
        self.b_files = b if isinstance(b, list) else None
        self.b = None if self.b_files is not None else resize_uint8(b, img_size, channels)
        self.labels_b = np.asarray(labels_b, np.int32)
        self.n_b = len(self.labels_b)
        self.perm_b = np.random.default_rng(seed).permutation(self.n_b)
        self.img_size, self.channels, self.name = img_size, channels, name

    def __len__(self) -> int:
        return max(len(self.labels_a), self.n_b)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        ia = indices % len(self.labels_a)
        ib = self.perm_b[indices % self.n_b]
        if self.b_files is not None:
            b = np.stack([resize_uint8(read_image(self.b_files[i], 3)[None], self.img_size, self.channels)[0]
                          for i in ib])
        else:
            b = self.b[ib]
        return {"image_a": to_model_range(self.a[ia]), "label_a": self.labels_a[ia],
                "image_b": to_model_range(b), "label_b": self.labels_b[ib]}


def folder_mnistm(root: str, split: str) -> tuple[list[str], np.ndarray]:
    """(image files, labels) of the real MNIST-M's ``split`` under ``root``."""
    images_dir = os.path.join(root, f"mnist_m_{split}")
    labels_path = os.path.join(root, f"mnist_m_{split}_labels.txt")
    if not os.path.isdir(images_dir):
        raise DatasetError(f"{root!r} is not an MNIST-M folder: expected {images_dir}/ with "
                           f"mnist_m_{split}_labels.txt next to it (the layout of mnist_m.tar.gz)")
    if not os.path.isfile(labels_path):
        raise DatasetError(f"MNIST-M folder {root!r} has no labels file {labels_path}: the target labels are needed "
                           f"to evaluate (the layout of mnist_m.tar.gz has mnist_m_{split}_labels.txt)")
    table = read_labels_file(labels_path)
    files = list_images(images_dir)
    missing = [os.path.basename(f) for f in files if os.path.basename(f) not in table]
    if missing:
        raise DatasetError(f"{len(missing)} MNIST-M image(s) have no label in {labels_path} (e.g. {missing[0]})")
    return files, np.asarray([table[os.path.basename(f)] for f in files], np.int32)


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None) -> UnpairedDomains:
    digits, digit_labels = offline.mnist(split)
    if name == "mnistm":
        target, target_labels = offline_mnistm(split)
        return UnpairedDomains(digits, digit_labels, target, target_labels, img_size=img_size, channels=channels)
    if os.path.isdir(name):
        files, labels = folder_mnistm(name, split)
        return UnpairedDomains(digits, digit_labels, files, labels, img_size=img_size, channels=channels,
                               name=name)
    raise DatasetError(f"unknown dataset {name!r} for MNIST -> MNIST-M models: use 'mnistm' (offline) or the path "
                       f"of a real MNIST-M folder (mnist_m_train/ + mnist_m_train_labels.txt)")
