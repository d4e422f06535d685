"""Images with binary attributes, for stargan.

Batches: ``image`` [N, s, s, C] in [-1, 1] and ``attrs`` float32 [N, len(selected_attrs)] in {0, 1}, in the order of
the model's ``selected_attrs``.

``--dataset`` names:
- ``offline`` (default): 1,800 train / 200 test random square crops of scikit-image's bundled photos, each given
  five attributes drawn independently (probability 1/2) and *applied* to the crop, so the labels are exact by
  construction and visible to a classifier: ``Grayscale`` (colour replaced by its luminance), ``Warm`` (red up
  by 15% + 20, blue down by 15%), ``Blurred`` (Gaussian blur, sigma 1.5 px of the output size), ``Noisy``
  (monochrome Gaussian noise, sigma 20 of 255) and ``Bright`` (1: lifted towards white, x -> 255 - 0.6 (255 - x);
  0: darkened, x -> 0.6 x). Applied in that order, after resizing to ``img_size``. Deterministic from :data:`SEED`.
  ``--selected_attrs`` picks among these names (stargan's default: all five, in this order).
- a CelebA folder as PyTorch-GAN's ``datasets.py`` reads it: ``DIR/*.jpg`` (``img_align_celeba``) with
  ``list_attr_celeba.txt`` in the same folder (any ``*.txt`` there, as the script's glob); files sorted by name, the
  last 2,000 are the test split; attribute 1 where the file says ``1`` (CelebA writes -1 / 1).
- ``tfds:celeb_a``: a prepared tensorflow-datasets CelebA (its ``attributes`` features); split ``test`` reads
  tfds' ``test``.
Images are squashed to ``img_size`` (bilinear; the script's training transform also crops and flips at random,
not done here).
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
from PIL import Image, ImageFilter

from gan_jax.data.kinds.inpainting import photo_crops
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.sources import DatasetError, check_readable, read_image

SEED = 2018  # StarGAN, Choi et al.
OFFLINE_ATTRS = ("Grayscale", "Warm", "Blurred", "Noisy", "Bright")
N_IMAGES = {"train": 1800, "test": 200}
TEST_FILES = 2000  # stargan/datasets.py: files[-2000:] are 'val'
NAMES = {"offline": "photo crops with 5 applied attributes (default)", "tfds:celeb_a": "CelebA prepared with tfds",
         "DIR": "img_align_celeba/ with list_attr_celeba.txt"}


def apply_attributes(image_uint8: np.ndarray, attrs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 image with the offline attributes (in OFFLINE_ATTRS order) applied where attrs is 1."""
    x = image_uint8.astype(np.float32)
    gray, warm, blurred, noisy, bright = (bool(a) for a in attrs)
    if gray:
        x[...] = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    if warm:
        x[..., 0] = x[..., 0] * 1.15 + 20.0
        x[..., 2] = x[..., 2] * 0.85
    x = np.clip(x, 0, 255)
    if blurred:
        pil = Image.fromarray(np.round(x).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))
        x = np.asarray(pil).astype(np.float32)
    if noisy:
        x = np.clip(x + rng.normal(0, 20.0, x.shape[:2] + (1,)), 0, 255)  # monochrome: gray stays gray
    x = 255.0 - 0.6 * (255.0 - x) if bright else 0.6 * x
    return np.round(x).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def offline_set(split: str, img_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, s, s, 3], attrs float32 [N, 5]) of the offline attribute set; cached."""
    if split not in N_IMAGES:
        raise DatasetError(f"unknown split {split!r} for the offline attribute set: use 'train' or 'test'")
    seed = [SEED, list(N_IMAGES).index(split)]
    crops = photo_crops(N_IMAGES[split], img_size, seed)
    rng = np.random.default_rng(seed + [1])
    attrs = rng.integers(0, 2, (len(crops), len(OFFLINE_ATTRS))).astype(np.float32)
    images = np.stack([apply_attributes(c, a, rng) for c, a in zip(crops, attrs)])
    images.setflags(write=False)
    return images, attrs


def select(available: tuple[str, ...], wanted, where: str) -> list[int]:
    missing = [a for a in wanted if a not in available]
    if missing:
        raise DatasetError(f"{where} has no attribute(s) {missing}; it has {list(available)}")
    return [available.index(a) for a in wanted]


class AttributeSource:
    """Images (uint8 in memory, or files read on demand) with float attribute vectors."""

    def __init__(self, attrs: np.ndarray, *, images=None, files=None, img_size: int, channels: int, name: str):
        self.attrs, self.images, self.files = attrs, images, files
        self.img_size, self.channels, self.name = img_size, channels, name

    def __len__(self) -> int:
        return len(self.attrs)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        if self.images is not None:
            images = resize_uint8(self.images[indices], self.img_size, self.channels)
        else:
            images = np.stack([resize_uint8(read_image(self.files[i], 3)[None], self.img_size, self.channels)[0]
                               for i in indices])
        return {"image": to_model_range(images), "attrs": self.attrs[indices]}


def read_attr_file(path: str, selected) -> dict[str, np.ndarray]:
    """``list_attr_celeba.txt``: a count line, the attribute names, then ``FILE v1 v2 ...`` (-1 / 1) per image."""
    with open(path) as f:
        lines = [line.split() for line in f if line.strip()]
    if len(lines) < 2:
        raise DatasetError(f"{path}: not a CelebA attribute file (needs a count line and a names line)")
    names = tuple(lines[1])
    columns = select(names, selected, path)
    table = {}
    for n, parts in enumerate(lines[2:], 3):
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{path}:{n}: expected a file name and {len(names)} values, got {len(parts)} fields")
        table[parts[0]] = np.asarray([parts[1 + c] == "1" for c in columns], np.float32)
    return table


def celeba_folder(root: str, split: str, selected, img_size: int, channels: int) -> AttributeSource:
    files = sorted(glob.glob(os.path.join(root, "*.jpg")))
    texts = sorted(glob.glob(os.path.join(root, "*.txt")))
    if not files or not texts:
        raise DatasetError(f"{root!r} is not a CelebA folder: expected *.jpg images and list_attr_celeba.txt in it "
                           f"(PyTorch-GAN's layout: copy list_attr_celeba.txt into img_align_celeba/)")
    table = read_attr_file(texts[0], selected)
    n_test = TEST_FILES if len(files) > 2 * TEST_FILES else max(1, len(files) // 10)
    files = files[:-n_test] if split == "train" else files[-n_test:]
    missing = [os.path.basename(f) for f in files if os.path.basename(f) not in table]
    if missing:
        raise DatasetError(f"{len(missing)} image(s) have no attributes in {texts[0]} (e.g. {missing[0]})")
    check_readable(files)
    attrs = np.stack([table[os.path.basename(f)] for f in files])
    return AttributeSource(attrs, files=files, img_size=img_size, channels=channels, name=f"{root}/{split}")


class TfdsCeleba:
    def __init__(self, name: str, split: str, selected, img_size: int, channels: int, data_dir: str | None):
        from gan_jax.data.sources import TfdsSource

        self.src = TfdsSource(name, split, img_size=img_size, channels=channels, data_dir=data_dir, label_key=None)
        self.selected, self.name = list(selected), self.src.name

    def __len__(self) -> int:
        return len(self.src)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = self.src.get(indices)
        rows = [self.src.records[int(i)]["attributes"] for i in indices]
        try:
            out["attrs"] = np.asarray([[float(r[a]) for a in self.selected] for r in rows], np.float32)
        except KeyError as e:
            raise DatasetError(f"{self.name} has no attribute {e}; it has {sorted(rows[0])}") from None
        return out


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None):
    selected = tuple(getattr(config, "selected_attrs", None) or OFFLINE_ATTRS)
    if name == "offline":
        columns = select(OFFLINE_ATTRS, selected, "the offline attribute set")
        images, attrs = offline_set(split, img_size)
        return AttributeSource(attrs[:, columns], images=images, img_size=img_size, channels=channels,
                               name=f"offline attributes/{split}")
    if name.startswith("tfds:"):
        return TfdsCeleba(name[5:], split, selected, img_size, channels, data_dir)
    if os.path.isdir(name):
        return celeba_folder(name, split, selected, img_size, channels)
    raise DatasetError(f"unknown dataset {name!r} for attribute models: use 'offline', tfds:celeb_a or a CelebA "
                       f"folder (img_align_celeba/ with list_attr_celeba.txt)")

