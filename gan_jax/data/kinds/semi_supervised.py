"""Semi-supervised data (sgan): a labelled dataset of which only ``config.n_labelled`` training examples keep labels.

The labelled examples are the first ``n_labelled`` of the training split in a fixed shuffled order (seed
``LABELLED_SEED``, independent of the run's seed, so every run and the supervised baseline see the same ones); the
rest are unlabelled. ``get(indices)`` yields 'image', 'label' (-1 where hidden: nothing downstream can peek) and
'label_mask' (float32, 1 = labelled). Every other split (e.g. 'test') keeps all its labels, for measuring accuracy.
``n_labelled`` >= the split's size labels everything (PyTorch-GAN's sgan.py); 0 labels nothing.

When only some examples are labelled, each batch also carries a labelled batch of the same size drawn from the
labelled pool ('labelled_image', 'labelled_label'; without replacement when the pool is large enough), as
semi-supervised GAN implementations feed their classifier (Salimans et al. 2016's code draws a labelled batch every
step): with 100 labels among 4,500 images a plain batch of 64 holds 1.4 labelled ones on average, and the class head
would see 45x fewer labelled examples than the same network trained on the labels alone. The draw is a function of
the batch's indices, so a resumed run sees the same labelled batches.
"""

from __future__ import annotations

import numpy as np

from gan_jax import data
from gan_jax.data.sources import DatasetError

LABELLED_SEED = 0
DEFAULT_N_LABELLED = 100


class SemiSupervisedSource:
    def __init__(self, base, n_labelled: int):
        if n_labelled < 0:
            raise DatasetError(f"--n_labelled must be >= 0, got {n_labelled}")
        self.base = base
        order = np.random.default_rng(LABELLED_SEED).permutation(len(base))
        self.labelled_indices = np.sort(order[:n_labelled])  # which examples keep their label
        self.is_labelled = np.zeros(len(base), bool)
        self.is_labelled[self.labelled_indices] = True
        self.name = f"{getattr(base, 'name', 'data')} ({len(self.labelled_indices)} labelled)"

    def __len__(self) -> int:
        return len(self.base)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = self.base.get(indices)
        if "label" not in out:
            raise DatasetError(f"dataset {self.name!r} yields no labels; semi-supervised training needs some")
        mask = self.is_labelled[np.asarray(indices)]
        out["label"] = np.where(mask, out["label"], -1).astype(np.int32)
        out["label_mask"] = mask.astype(np.float32)
        pool = len(self.labelled_indices)
        if 0 < pool < len(self.base):
            rng = np.random.default_rng([LABELLED_SEED, *np.asarray(indices, np.int64).tolist()])
            drawn = self.labelled_indices[rng.choice(pool, len(indices), replace=pool < len(indices))]
            labelled = self.base.get(drawn)
            out["labelled_image"], out["labelled_label"] = labelled["image"], labelled["label"].astype(np.int32)
        return out


def load(name: str, split: str = "train", *, img_size: int, channels: int, data_dir: str | None = None,
         config=None) -> SemiSupervisedSource:
    base = data.load(name, "labelled", img_size=img_size, channels=channels, split=split, data_dir=data_dir)
    n_labelled = getattr(config, "n_labelled", DEFAULT_N_LABELLED) if split == "train" else len(base)
    return SemiSupervisedSource(base, n_labelled)
