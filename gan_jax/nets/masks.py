"""Square holes for the inpainting models (context_encoder, ccgan): where they go, and cutting/filling them.

PyTorch-GAN places a ``mask_size`` square either at random, ``np.random.randint(0, img_size - mask_size)`` for each
of y and x (context_encoder's training masks, ccgan's masks), or at the centre, offset ``(img_size - mask_size) // 2``
(context_encoder's test masks). A hole is described by its top-left corner: ``offsets_Nx2`` int32 (y, x), one per
image. Everything here is pure jnp (traceable, per-image dynamic offsets) on NHWC images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MASKS = ("random", "center")


def check_mask(img_size: int, mask_size: int) -> None:
    """A clear error for a hole that does not fit: PyTorch-GAN draws corners in [0, img_size - mask_size)."""
    if mask_size <= 0:
        raise ValueError(f"--mask_size must be > 0, got {mask_size}")
    if mask_size >= img_size:
        raise ValueError(f"--mask_size {mask_size} does not fit in --img_size {img_size}: the mask must be smaller "
                         f"than the image (PyTorch-GAN draws its corner in [0, img_size - mask_size))")


def random_offsets(rng: jax.Array, n: int, img_size: int, mask_size: int) -> jax.Array:
    """Top-left corners uniform in [0, img_size - mask_size), as the scripts' ``np.random.randint``: int32 [n, 2]."""
    check_mask(img_size, mask_size)
    return jax.random.randint(rng, (n, 2), 0, img_size - mask_size, jnp.int32)


def center_offsets(n: int, img_size: int, mask_size: int) -> jax.Array:
    """The centred hole of context_encoder's test images: int32 [n, 2]."""
    check_mask(img_size, mask_size)
    return jnp.full((n, 2), (img_size - mask_size) // 2, jnp.int32)


def offsets(kind: str, rng: jax.Array, n: int, img_size: int, mask_size: int) -> jax.Array:
    """``kind`` 'random' or 'center'."""
    if kind == "random":
        return random_offsets(rng, n, img_size, mask_size)
    if kind == "center":
        return center_offsets(n, img_size, mask_size)
    raise ValueError(f"unknown mask {kind!r}: use one of {', '.join(MASKS)}")


def region(offsets_Nx2: jax.Array, img_size: int, mask_size: int) -> jax.Array:
    """bool [N, H, W, 1]: True inside each image's hole."""
    idx = jnp.arange(img_size)
    y0, x0 = offsets_Nx2[:, 0, None], offsets_Nx2[:, 1, None]
    rows = (idx >= y0) & (idx < y0 + mask_size)  # [N, H]
    cols = (idx >= x0) & (idx < x0 + mask_size)  # [N, W]
    return (rows[:, :, None] & cols[:, None, :])[..., None]


def apply_mask(images_NxHxWxC: jax.Array, offsets_Nx2: jax.Array, mask_size: int, fill: float) -> jax.Array:
    """The images with each hole set to ``fill`` (context_encoder fills with 1, ccgan with -1)."""
    inside = region(offsets_Nx2, images_NxHxWxC.shape[1], mask_size)
    return jnp.where(inside, jnp.asarray(fill, images_NxHxWxC.dtype), images_NxHxWxC)


def crop(images_NxHxWxC: jax.Array, offsets_Nx2: jax.Array, mask_size: int) -> jax.Array:
    """What each hole covers: [N, mask_size, mask_size, C] (context_encoder's ``masked_parts``)."""
    c = images_NxHxWxC.shape[-1]
    cut = lambda img, off: jax.lax.dynamic_slice(img, (off[0], off[1], 0), (mask_size, mask_size, c))
    return jax.vmap(cut)(images_NxHxWxC, offsets_Nx2)


def paste(images_NxHxWxC: jax.Array, patches_NxSxSxC: jax.Array, offsets_Nx2: jax.Array) -> jax.Array:
    """The images with each patch written into its hole (context_encoder's ``filled_samples``)."""
    put = lambda img, patch, off: jax.lax.dynamic_update_slice(img, patch.astype(img.dtype), (off[0], off[1], 0))
    return jax.vmap(put)(images_NxHxWxC, patches_NxSxSxC, offsets_Nx2)


def fill_holes(images_NxHxWxC: jax.Array, generated_NxHxWxC: jax.Array, offsets_Nx2: jax.Array,
               mask_size: int) -> jax.Array:
    """Context outside the holes from ``images``, inside from ``generated`` (same size): the in-painted image."""
    inside = region(offsets_Nx2, images_NxHxWxC.shape[1], mask_size)
    return jnp.where(inside, generated_NxHxWxC, images_NxHxWxC)
