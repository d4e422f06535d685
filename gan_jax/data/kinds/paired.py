"""Aligned image pairs for paired translation (pix2pix, bicyclegan).

Batches: ``image_a`` [N, H, W, C] (the model's input) and ``image_b`` (its target, aligned pixel for pixel), float32
in [-1, 1]; H x W is the model's ``img_height`` x ``img_width`` (else ``img_size``).

``--dataset`` names:
- ``offline`` (default): sketch -> photo. Crops of the photos bundled with scikit-image (aspect H:W, half to all of
  the photo's short side, resized) as targets, their edge maps (black strokes on white where the Sobel gradient is
  in the top 12%, an edges2shoes-like sketch) as inputs. Held out by photo: the test split comes only from
  ``chelsea.png`` and ``coffee.png``. 400 train / 100 test pairs, deterministic from :data:`SEED`.
- ``offline_gray``: grayscale -> photo (colourisation), on the same crops.
- a pix2pix-style folder (what PyTorch-GAN's ``data/download_pix2pix_dataset.sh`` or ``python -m
  gan_jax.data.download facades`` unpacks): ``DIR/train/*.jpg``, ``DIR/val/``, ``DIR/test/``, each file one pair
  side by side, ``left | right``, width 2 x height. As PyTorch-GAN's ``pix2pix/datasets.py``, the train split reads
  ``train/`` and ``test/`` together (when ``val/`` exists to evaluate on); split ``test`` reads ``val/`` (``test/``
  when there is no ``val/``). Each half is resized to H x W (bicubic).
- the same folder with aligned pairs as two files (pix2pix's layout before ``combine_A_and_B.py``):
  ``DIR/<split>/A/NAME`` and ``DIR/<split>/B/NAME``, matched by file name; A and B of a pair must have one size.

Which half is the input: PyTorch-GAN's ``datasets.py`` calls the left half ``A`` and the right half ``B``; its
``pix2pix.py`` then translates B -> A (facades: label map on the right -> photo on the left) while ``bicyclegan.py``
translates A -> B (edges2shoes: edges on the left -> shoe on the right). The model's Config field
``which_direction`` (the flag of the original pix2pix; ``AtoB`` where a model has no such field) decides: ``AtoB``:
``image_a`` = left half, ``image_b`` = right half; ``BtoA`` swaps them. The offline sets are always sketch (or gray)
-> photo, whatever ``which_direction`` says.

Training batches are augmented as PyTorch-GAN's pix2pix: both halves of a pair flipped left-right together with
probability 1/2 (no crop). The loader asks for that by passing ``get(indices, rng=...)`` (see :class:`PairedSource`);
test splits and sample grids are never augmented.

tensorflow-datasets has no pix2pix-style paired sets, so no ``tfds:`` names here (``cycle_gan/*`` is unpaired).
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.data import translation
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.sources import DatasetError, list_images, read_image

SEED = 2017  # pix2pix, Isola et al.
N_PAIRS = {"train": 400, "test": 100}
OFFLINE = {"offline": "sketch (edge map) -> photo pairs from scikit-image's bundled photos (default)",
           "offline_gray": "grayscale -> photo pairs from the same photos"}
NAMES = {**OFFLINE, "DIR": "a pix2pix-style folder: DIR/train, DIR/val, DIR/test of side-by-side A|B images"}
DIRECTIONS = ("AtoB", "BtoA")


class PairedSource:
    """Pairs as uint8 arrays in memory, or side-by-side files read on demand.

    ``get(indices)`` gives the pairs as they are; ``get(indices, rng=np.random.Generator)`` flips each pair (both
    halves together) with probability 1/2. ``random_augment`` tells the loader that this source wants the rng.
    """

    def __init__(self, *, name: str, size: tuple[int, int], channels: int, a_uint8=None, b_uint8=None,
                 files: list[str] | None = None, swap: bool = False, augment: bool = False):
        self.name, self.size, self.channels = name, size, channels
        self.a, self.b, self.files, self.swap = a_uint8, b_uint8, files, swap
        self.random_augment = augment

    def __len__(self) -> int:
        return len(self.files) if self.files is not None else len(self.a)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self.files is None:
            return self.a[i], self.b[i]
        if isinstance(self.files[i], tuple):  # (A file, B file)
            left, right = (read_image(f, 3) for f in self.files[i])
        else:
            left, right = split_halves(read_image(self.files[i], 3), self.files[i])
        left, right = (translation.resize(x, self.size, self.channels) for x in (left, right))
        return (right, left) if self.swap else (left, right)

    def get(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        a, b = map(np.stack, zip(*(self.pair(int(i)) for i in np.asarray(indices))))
        if rng is not None:
            flips = rng.random(len(a)) < 0.5
            a = np.where(flips[:, None, None, None], a[:, :, ::-1], a)
            b = np.where(flips[:, None, None, None], b[:, :, ::-1], b)
        return {"image_a": to_model_range(a), "image_b": to_model_range(b)}


def split_halves(image_uint8: np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) halves of a side-by-side pair; a clear error when the image is not two halves."""
    h, w = image_uint8.shape[:2]
    if w != 2 * h:
        raise DatasetError(f"paired image {path} is {w}x{h} (WxH): a pix2pix-style pair is two square halves side "
                           f"by side, width 2 x height")
    return image_uint8[:, :w // 2], image_uint8[:, w // 2:]


@functools.lru_cache(maxsize=4)
def offline_pairs(name: str, split: str, size: tuple[int, int], channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) uint8 [N, h, w, channels] of an offline set; cached (read-only arrays)."""
    if split not in N_PAIRS:
        raise DatasetError(f"unknown split {split!r} for the offline paired sets: use 'train' or 'test'")
    photos = translation.photo_crops(split, N_PAIRS[split], size, [SEED, list(N_PAIRS).index(split)])
    inputs = translation.edge_map(photos) if name == "offline" else translation.grayscale(photos)
    inputs, photos = resize_uint8(inputs, size, channels), resize_uint8(photos, size, channels)
    for x in (inputs, photos):
        x.setflags(write=False)
    return inputs, photos


def folder_files(root: str, split: str) -> list:
    """The side-by-side files of ``split`` under a pix2pix-style folder (see the module docstring), or (A, B) file
    pairs where the split folder holds A/ and B/."""
    has = {s: os.path.isdir(os.path.join(root, s)) for s in ("train", "val", "test")}
    if not has["train"]:
        raise DatasetError(f"{root!r} is not a pix2pix-style folder: expected {os.path.join(root, 'train')}/ (and "
                           f"val/ or test/) of side-by-side A|B images; get one with: python -m "
                           f"gan_jax.data.download facades --out {os.path.dirname(os.path.abspath(root))}")
    if split == "train":
        files = split_files(os.path.join(root, "train"))
        if has["val"] and has["test"]:  # pix2pix/datasets.py trains on train/ + test/ and samples from val/
            files += split_files(os.path.join(root, "test"))
        return files
    if split in ("test", "val"):
        held_out = "val" if has["val"] else "test"
        if not has[held_out]:
            raise DatasetError(f"pix2pix-style folder {root!r} has no val/ or test/ folder for the {split} split")
        return split_files(os.path.join(root, held_out))
    raise DatasetError(f"unknown split {split!r} for a pix2pix-style folder: use 'train', 'test' or 'val'")


def split_files(folder: str) -> list:
    """Side-by-side files of one split folder, or (A, B) pairs matched by name when it holds A/ and B/."""
    a_dir, b_dir = os.path.join(folder, "A"), os.path.join(folder, "B")
    if not (os.path.isdir(a_dir) and os.path.isdir(b_dir)):
        return list_images(folder)
    a_files, b_files = list_images(a_dir), list_images(b_dir)
    by_name = {os.path.relpath(f, b_dir): f for f in b_files}
    missing = [os.path.relpath(f, a_dir) for f in a_files if os.path.relpath(f, a_dir) not in by_name]
    if missing or len(a_files) != len(b_files):
        raise DatasetError(f"aligned pairs in {folder}: A/ has {len(a_files)} images and B/ {len(b_files)}, and "
                           f"{len(missing)} A file(s) have no B file of the same name (e.g. {(missing or ['-'])[0]})")
    return [(f, by_name[os.path.relpath(f, a_dir)]) for f in a_files]


def image_size_of(path: str) -> tuple[int, int]:
    """(height, width) from the file's header."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
    return h, w


def check_files(files: list, minimum: int) -> None:
    """Every file is readable and a pair (two halves side by side, or A and B of one size), each image at least
    ``minimum`` px on its short side (headers only)."""
    for path in files:
        if isinstance(path, tuple):
            (ha, wa), (hb, wb) = map(image_size_of, path)
            if (ha, wa) != (hb, wb):
                raise DatasetError(f"mismatched A/B sizes: {path[0]} is {wa}x{ha} but {path[1]} is {wb}x{hb} (WxH); "
                                   f"the images of an aligned pair must have one size")
            translation.check_min_size(path[0], (ha, wa), minimum, "paired image")
            continue
        h, w = image_size_of(path)
        if w != 2 * h:
            split_halves(np.empty((h, w, 0), np.uint8), path)  # raises the two-halves error
        translation.check_min_size(path, (h, w // 2), minimum, "each half of paired image")


def direction(config) -> str:
    which = getattr(config, "which_direction", "AtoB")
    if which not in DIRECTIONS:
        raise DatasetError(f"--which_direction must be one of {DIRECTIONS}, got {which!r}")
    return which


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None) -> PairedSource:
    size = translation.image_size(config, img_size)
    which = direction(config)
    if name in OFFLINE:
        inputs, targets = offline_pairs(name, split, size, channels)
        return PairedSource(name=f"{name}/{split}", size=size, channels=channels, a_uint8=inputs, b_uint8=targets,
                            augment=split == "train")
    if name.startswith("tfds:"):
        raise DatasetError(f"{name!r}: tensorflow-datasets has no pix2pix-style paired dataset; use 'offline' or a "
                           f"folder (python -m gan_jax.data.download facades)")
    if os.path.isdir(name):
        files = folder_files(name, split)
        check_files(files, translation.min_size(config))
        return PairedSource(name=f"{name}/{split}", size=size, channels=channels, files=files,
                            swap=which == "BtoA", augment=split == "train")
    raise DatasetError(f"unknown dataset {name!r} for paired translation: use one of {sorted(OFFLINE)} or a "
                       f"pix2pix-style folder (DIR/train, DIR/val of side-by-side A|B images; python -m "
                       f"gan_jax.data.download facades)")
