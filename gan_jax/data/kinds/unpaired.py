"""Two unpaired image domains for unpaired translation (cyclegan, discogan, dualgan, unit, munit).

Batches: ``image_a`` [N, H, W, C] from domain A and ``image_b`` from domain B, float32 in [-1, 1], drawn
independently: row i of ``image_b`` has nothing to do with row i of ``image_a``. H x W is the model's
``img_height`` x ``img_width`` (else ``img_size``). As PyTorch-GAN's ``cyclegan/datasets.py`` (``unaligned=True``), an
epoch has max(|A|, |B|) examples: example i is A[i mod |A|] with a B image drawn at random (from the loader's
per-batch generator, so a resumed run draws the same ones); without that generator (test splits, sample grids) B
follows a fixed permutation.

``--dataset`` names:
- ``offline`` (default): photo -> poster. A: crops of the photos bundled with scikit-image; B: *other* crops of the
  same photos, warm-tinted and posterised to 4 levels per channel (a style domain: flat colour areas, hard contours).
  Held out by photo (the test split comes only from ``chelsea.png`` and ``coffee.png``); 400 train / 100 test
  images per domain, A and B drawn with different seeds. Deterministic from :data:`SEED`.
- ``offline_tints``: the same A, and B the same posters, each with its own colour cast (channel gains drawn per
  image, :func:`gan_jax.data.translation.random_tints`). In ``offline`` a poster is a fixed function of its photo,
  so B has no style apart from content and a multimodal translator's random styles can only move away from it;
  here the cast is independent of the content, as MUNIT assumes of a target domain (edges2shoes: one shoe's
  shape, many colourways): the set to measure munit's random styles on.
- a cyclegan-style folder: PyTorch-GAN's layout ``DIR/train/A``, ``DIR/train/B``, ``DIR/test/A``, ``DIR/test/B``
  (what its ``data/download_cyclegan_dataset.sh`` and ``python -m gan_jax.data.download NAME`` leave) or the
  original zip's ``DIR/trainA``, ``DIR/trainB``, ``DIR/testA``, ``DIR/testB``; the domains may differ in size.
- a pix2pix-style folder of side-by-side pairs (``DIR/train``, ``DIR/val``: what PyTorch-GAN's discogan and dualgan
  read, e.g. edges2shoes): A = the left halves, B = the right halves, drawn independently (the pairing is unused).
- ``tfds:cycle_gan/NAME`` (e.g. ``tfds:cycle_gan/horse2zebra``): a prepared tensorflow-datasets CycleGAN set (splits
  trainA/trainB/testA/testB).

Training batches are augmented as PyTorch-GAN's cyclegan: each image resized to 1.12 x (H, W) (bicubic), cropped
back to H x W at random and flipped left-right with probability 1/2, independently per image; test splits and sample
grids are resized to H x W, not augmented.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from gan_jax.data import translation
from gan_jax.data.pipeline import resize_uint8, to_model_range
from gan_jax.data.kinds import paired
from gan_jax.data.kinds.paired import image_size_of
from gan_jax.data.sources import IMAGE_EXTENSIONS, DatasetError, list_images, read_image

SEED = 2017  # CycleGAN, Zhu et al.
N_IMAGES = {"train": 400, "test": 100}
OFFLINE_SETS = ("offline", "offline_tints")  # built here; B: posters on the same four levels
NAMES = {"offline": "photo -> poster (posterised, warm-tinted) domains from scikit-image's photos (default)",
         "offline_tints": "photo -> poster as 'offline', each poster with its own random colour cast (multimodal B)",
         "tfds:cycle_gan/NAME": "a CycleGAN set prepared with tensorflow-datasets",
         "DIR": "DIR/train/A, DIR/train/B (or DIR/trainA, DIR/trainB) and the same for test"}


class ArrayDomain:
    def __init__(self, images_uint8: np.ndarray):
        self.images = images_uint8

    def __len__(self) -> int:
        return len(self.images)

    def image(self, i: int) -> np.ndarray:
        return self.images[i]


class FileDomain:
    def __init__(self, files: list[str], channels: int):
        self.files, self.channels = files, channels

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        return read_image(self.files[i], self.channels)


class HalvesDomain:
    """One side (0: left, 1: right) of pix2pix-style side-by-side pairs."""

    def __init__(self, files: list[str], side: int):
        self.files, self.side = files, side

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        return paired.split_halves(read_image(self.files[i], 3), self.files[i])[self.side]


class TfdsDomain:
    def __init__(self, name: str, split: str, data_dir: str | None, channels: int):
        from gan_jax.data.sources import TfdsSource

        self.records = TfdsSource(name, split, img_size=1, channels=channels, data_dir=data_dir,
                                  label_key=None).records

    def __len__(self) -> int:
        return len(self.records)

    def image(self, i: int) -> np.ndarray:
        return np.asarray(self.records[int(i)]["image"])


class UnpairedSource:
    """Domains A and B as one source; ``get(indices, rng=None)`` (see the module docstring).

    ``load_size``: the size images are brought to before cropping to ``size`` (the 1.12 x jitter when training).
    """

    def __init__(self, a, b, *, size: tuple[int, int], channels: int, name: str, augment: bool):
        self.a, self.b, self.size, self.channels, self.name = a, b, size, channels, name
        self.random_augment = augment
        self.load_size = translation.jitter_size(size) if augment else size
        self.perm_b = np.random.default_rng([SEED, len(b)]).permutation(len(b))

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def _load(self, domain, i: int) -> np.ndarray:
        image = domain.image(int(i))
        if image.shape[:2] == self.load_size and image.shape[2] == self.channels:
            return image
        return translation.resize(image, self.load_size, self.channels)

    def get(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        ib = rng.integers(0, len(self.b), len(indices)) if rng is not None else self.perm_b[indices % len(self.b)]
        a = np.stack([self._load(self.a, i) for i in indices % len(self.a)])
        b = np.stack([self._load(self.b, i) for i in ib])
        if rng is not None:
            a, b = (translation.random_crop_flip(x, self.size, rng) for x in (a, b))
        else:
            a, b = (translation.center_crop(x, self.size) for x in (a, b))
        return {"image_a": to_model_range(a), "image_b": to_model_range(b)}


@functools.lru_cache(maxsize=4)
def offline_domains(split: str, size: tuple[int, int], channels: int, tints: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(A photos, B posters) uint8 [N, h, w, channels]; ``tints``: each poster with its own colour cast (the
    ``offline_tints`` set). Cached (read-only)."""
    if split not in N_IMAGES:
        raise DatasetError(f"unknown split {split!r} for the offline unpaired set: use 'train' or 'test'")
    k, n = list(N_IMAGES).index(split), N_IMAGES[split]
    a = translation.photo_crops(split, n, size, [SEED, k, 0])
    tint = translation.random_tints(n, [SEED, k, 2]) if tints else translation.WARM
    b = translation.posterize(translation.photo_crops(split, n, size, [SEED, k, 1]), tint=tint)
    a, b = resize_uint8(a, size, channels), resize_uint8(b, size, channels)
    for x in (a, b):
        x.setflags(write=False)
    return a, b


def domain_folders(root: str, split: str) -> tuple[str, str]:
    """(A folder, B folder) of ``split``: ``split/A`` + ``split/B`` or ``splitA`` + ``splitB``."""
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} for a cyclegan-style folder: use 'train' or 'test'")
    for a, b in ((os.path.join(root, split, "A"), os.path.join(root, split, "B")),
                 (os.path.join(root, split + "A"), os.path.join(root, split + "B"))):
        if os.path.isdir(a) and os.path.isdir(b):
            return a, b
    raise DatasetError(f"{root!r} is not a cyclegan-style folder for the {split} split: expected {split}/A and "
                       f"{split}/B (or {split}A and {split}B) under it; get one with: python -m gan_jax.data.download "
                       f"horse2zebra --out {os.path.dirname(os.path.abspath(root))}")


def is_pix2pix_folder(root: str) -> bool:
    """train/ holds images itself (side-by-side pairs), not A/ and B/ domain folders."""
    train = os.path.join(root, "train")
    return (os.path.isdir(train) and not os.path.isdir(os.path.join(train, "A"))
            and any(f.lower().endswith(IMAGE_EXTENSIONS) for f in os.listdir(train)))


def check_sizes(files: list[str], minimum: int) -> None:
    if minimum > 1:
        for path in files:
            translation.check_min_size(path, image_size_of(path), minimum)


def load(name: str, *, split: str = "train", img_size: int, channels: int, data_dir: str | None = None,
         config=None) -> UnpairedSource:
    size = translation.image_size(config, img_size)
    augment = split == "train"
    if name in OFFLINE_SETS:
        a, b = offline_domains(split, translation.jitter_size(size) if augment else size, channels,
                               tints=name == "offline_tints")
        return UnpairedSource(ArrayDomain(a), ArrayDomain(b), size=size, channels=channels,
                              name=f"{name}/{split}", augment=augment)
    if name.startswith("tfds:"):
        tfds_split = split + "A", split + "B"
        a, b = (TfdsDomain(name[5:], s, data_dir, channels) for s in tfds_split)
        return UnpairedSource(a, b, size=size, channels=channels, name=f"{name}/{split}", augment=augment)
    if os.path.isdir(name) and is_pix2pix_folder(name):
        files = paired.folder_files(name, split)
        paired.check_files(files, translation.min_size(config))
        return UnpairedSource(HalvesDomain(files, 0), HalvesDomain(files, 1), size=size, channels=channels,
                              name=f"{name}/{split} (halves)", augment=augment)
    if os.path.isdir(name):
        a_files, b_files = (list_images(d) for d in domain_folders(name, split))
        minimum = translation.min_size(config)
        check_sizes(a_files, minimum)
        check_sizes(b_files, minimum)
        return UnpairedSource(FileDomain(a_files, channels), FileDomain(b_files, channels), size=size,
                              channels=channels, name=f"{name}/{split}", augment=augment)
    raise DatasetError(f"unknown dataset {name!r} for unpaired translation: use "
                       f"{', '.join(repr(n) for n in OFFLINE_SETS)}, tfds:cycle_gan/NAME or a cyclegan-style folder "
                       f"(DIR/train/A, DIR/train/B; python -m gan_jax.data.download horse2zebra)")
