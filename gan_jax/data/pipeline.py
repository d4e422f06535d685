"""The host input pipeline: sources with random access, and a deterministic, resumable batch loader.

A *source* is anything with ``len(source)`` and ``source.get(indices) -> dict of numpy arrays`` (already resized
and scaled for the model: images float32 NHWC in [-1, 1]). The :class:`Loader` turns one into an endless stream of
batches whose order is a pure function of (seed, batch number): batch ``k`` is rows ``k % steps_per_epoch`` of the
permutation drawn for epoch ``k // steps_per_epoch``. Its whole state is therefore one integer, saved with every
checkpoint, and a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol

import numpy as np
from PIL import Image


class Source(Protocol):
    def __len__(self) -> int: ...

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...


def to_model_range(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1] (torchvision's ToTensor + Normalize([0.5], [0.5]))."""
    return images_uint8.astype(np.float32) * (2.0 / 255.0) - 1.0


def resize_uint8(images: np.ndarray, size: int | tuple[int, int], channels: int) -> np.ndarray:
    """Resize uint8 NHWC images to ``size`` (bilinear, as torchvision's Resize) and convert to ``channels`` (1 or 3).

    A square ``size`` resizes the whole image (PyTorch-GAN's MNIST use ``Resize(img_size)`` on square digits).
    """
    if images.ndim != 4:
        raise ValueError(f"expected images [N, H, W, C], got shape {images.shape}")
    h, w = (size, size) if isinstance(size, int) else size
    out = np.empty((len(images), h, w, channels), np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        pil = pil.convert("L" if channels == 1 else "RGB")
        if pil.size != (w, h):
            pil = pil.resize((w, h), Image.BILINEAR)
        arr = np.asarray(pil)
        out[i] = arr[..., None] if channels == 1 else arr
    return out


class ArraySource:
    """An in-memory dataset: images (uint8 NHWC, resized once here) and optional integer labels."""

    def __init__(self, images_uint8: np.ndarray, labels: np.ndarray | None = None, *, img_size: int | None = None,
                 channels: int | None = None, name: str = "arrays"):
        if len(images_uint8) == 0:
            raise ValueError(f"dataset {name!r} is empty")
        if img_size is not None or channels is not None:
            size = img_size or images_uint8.shape[1]
            images_uint8 = resize_uint8(images_uint8, size, channels or images_uint8.shape[-1])
        self.images = to_model_range(images_uint8)
        self.labels = None if labels is None else np.asarray(labels, np.int32)
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"dataset {name!r}: {len(self.images)} images but {len(self.labels)} labels")
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = {"image": self.images[indices]}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        return out


class Loader:
    """Shuffled fixed-size batches from a source, epoch after epoch, with a background prefetch thread.

    ``position`` is the number of the next batch; set it (or pass ``start``) to resume.
    """

    def __init__(self, source: Source, batch_size: int, seed: int, *, start: int = 0, shuffle: bool = True,
                 prefetch: int = 2):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if len(source) < batch_size:
            raise ValueError(f"the dataset has {len(source)} examples, fewer than one batch of {batch_size}")
        self.source, self.batch_size, self.seed, self.shuffle = source, batch_size, seed, shuffle
        self.steps_per_epoch = len(source) // batch_size  # the last partial batch is dropped (fixed shapes)
        self.position = start
        self._prefetch = prefetch
        self._perm_epoch, self._perm = -1, None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def indices(self, k: int) -> np.ndarray:
        epoch, i = divmod(k, self.steps_per_epoch)
        if epoch != self._perm_epoch:
            n = len(self.source)
            self._perm = (np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle
                          else np.arange(n))
            self._perm_epoch = epoch
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]

    def batch(self, k: int) -> dict[str, np.ndarray]:
        """Batch number ``k`` (pure in (seed, k))."""
        indices = self.indices(k)
        if getattr(self.source, "random_augment", False):  # augmenting sources draw from (seed, k): resumable
            return self.source.get(indices, rng=np.random.default_rng([self.seed, k, 1]))
        return self.source.get(indices)

    @property
    def epoch(self) -> int:
        return self.position // self.steps_per_epoch

    def _worker(self, start: int):
        k = start
        while not self._stop.is_set():
            item = self.batch(k)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            k += 1

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._prefetch <= 0:
            item = self.batch(self.position)
        else:
            if self._thread is None:
                self._queue = queue.Queue(self._prefetch)
                self._stop.clear()
                self._thread = threading.Thread(target=self._worker, args=(self.position,), daemon=True)
                self._thread.start()
            item = self._queue.get()
        self.position += 1
        return item

    def close(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
