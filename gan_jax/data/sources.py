"""Dataset sources beyond the in-memory offline sets: tensorflow-datasets and image folders."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.data.pipeline import resize_uint8, to_model_range

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


class DatasetError(ValueError):
    """A dataset that cannot be used as asked (missing, not prepared, empty, unreadable)."""


def tfds_prepare_hint(name: str, data_dir: str | None) -> str:
    where = f" --data_dir {data_dir}" if data_dir else ""
    return (f"prepare it once with TensorFlow installed (pip install -e '.[tf]'): "
            f"tfds build {name}{where}   (or: python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}'{', data_dir=' + repr(data_dir) if data_dir else ''}).download_and_prepare()\")")


class TfdsSource:
    """Random access to a prepared tensorflow-datasets dataset via ``tfds.data_source`` (no TensorFlow needed).

    Never downloads: an unprepared dataset raises :class:`DatasetError` with the command that prepares it (letting
    tfds try a download on an offline machine retries for minutes).
    """

    def __init__(self, name: str, split: str, *, img_size: int, channels: int, data_dir: str | None = None,
                 image_key: str = "image", label_key: str | None = "label"):
        import tensorflow_datasets as tfds

        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except Exception as e:  # unknown name / config
            raise DatasetError(f"tensorflow-datasets has no dataset {name!r}: {e}") from None
        if not builder.is_prepared():
            raise DatasetError(f"tfds dataset {name!r} is not prepared in {builder.data_dir!s}; "
                               + tfds_prepare_hint(name, data_dir))
        if builder.info.splits and split.split("[")[0] not in builder.info.splits:
            raise DatasetError(f"tfds dataset {name!r} has no split {split!r} (it has {sorted(builder.info.splits)})")
        self.records = tfds.data_source(name, split=split, data_dir=data_dir)
        features = builder.info.features
        self.image_key = image_key
        self.label_key = label_key if label_key and label_key in features else None
        self.num_classes = (features[self.label_key].num_classes if self.label_key
                            and hasattr(features[self.label_key], "num_classes") else None)
        self.img_size, self.channels, self.name = img_size, channels, f"tfds:{name}/{split}"

    def __len__(self) -> int:
        return len(self.records)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        rows = [self.records[int(i)] for i in indices]
        images = np.stack([resize_uint8(np.asarray(r[self.image_key])[None], self.img_size, self.channels)[0]
                           for r in rows])
        out = {"image": to_model_range(images)}
        if self.label_key:
            out["label"] = np.asarray([r[self.label_key] for r in rows], np.int32)
        return out


def list_images(folder: str) -> list[str]:
    """All image files under ``folder`` (recursive, sorted); raises if there are none."""
    if not os.path.isdir(folder):
        raise DatasetError(f"image folder {folder!r} does not exist")
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise DatasetError(f"image folder {folder!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def check_readable(files: list[str]) -> None:
    """Open every file's header (cheap); name all that are not images."""
    bad = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.size  # noqa: B018 - parses the header
        except (UnidentifiedImageError, OSError) as e:
            bad.append(f"{f} ({type(e).__name__})")
    if bad:
        shown = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise DatasetError(f"{len(bad)} unreadable image file(s):\n  {shown}")


def read_image(path: str, channels: int) -> np.ndarray:
    """One image file as uint8 HxWxC (C = 1 or 3; grayscale, palette and RGBA are converted)."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
    return arr[..., None] if channels == 1 else arr


class FolderSource:
    """Images from a folder (recursive). With class subfolders (``root/<class>/*.png``, torchvision's ImageFolder
    layout) each image is labelled by its subfolder, classes sorted by name."""

    def __init__(self, folder: str, *, img_size: int, channels: int):
        self.files = list_images(folder)
        check_readable(self.files)
        rel_dirs = [os.path.relpath(os.path.dirname(f), folder) for f in self.files]
        top = [d.split(os.sep)[0] for d in rel_dirs]
        if all(t != "." for t in top) and len(set(top)) > 1:
            self.classes = sorted(set(top))
            self.labels = np.asarray([self.classes.index(t) for t in top], np.int32)
        else:
            self.classes, self.labels = None, None
        self.img_size, self.channels, self.name = img_size, channels, folder

    def __len__(self) -> int:
        return len(self.files)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        images = np.stack([resize_uint8(read_image(self.files[i], self.channels)[None], self.img_size,
                                        self.channels)[0] for i in indices])
        out = {"image": to_model_range(images)}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        return out
