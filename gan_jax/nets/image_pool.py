"""The image pool of CycleGAN (Shrivastava et al. 2017): D learns from a history of generated images, not only the
latest ones -- PyTorch-GAN's ``ReplayBuffer(max_size=50)`` as a pure function whose state lives in the train state.

``push_and_pop(pool, images, rng)`` goes through the batch in order, as ``ReplayBuffer.push_and_pop``: while the pool
holds fewer than ``max_size`` images, each new image is stored and returned; once full, each new image is, with
probability 1/2, swapped with a uniformly chosen stored image (which is returned in its place), else returned as is.
The loop over the batch is a ``lax.scan``, so the whole thing runs inside the jitted train step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

MAX_SIZE = 50


@struct.dataclass
class Pool:
    images: jax.Array  # [max_size, H, W, C]; rows >= count are unused
    count: jax.Array  # int32: images stored so far (at most max_size)


def empty(shape_HxWxC: tuple[int, ...], max_size: int = MAX_SIZE) -> Pool:
    return Pool(images=jnp.zeros((max_size,) + tuple(shape_HxWxC), jnp.float32), count=jnp.zeros((), jnp.int32))


def push_and_pop(pool: Pool, images_NxHxWxC: jax.Array, rng: jax.Array) -> tuple[Pool, jax.Array]:
    """(updated pool, the images D should see): see the module docstring."""
    max_size = pool.images.shape[0]
    keys = jax.random.split(rng, images_NxHxWxC.shape[0])

    def one(carry, inputs):
        stored, count = carry
        image, key = inputs
        swap_key, index_key = jax.random.split(key)
        not_full = count < max_size
        swap = jax.random.uniform(swap_key) > 0.5  # random.uniform(0, 1) > 0.5
        slot = jnp.where(not_full, count, jax.random.randint(index_key, (), 0, max_size))
        out = jnp.where(~not_full & swap, stored[slot], image)
        write = not_full | swap
        stored = stored.at[slot].set(jnp.where(write, image, stored[slot]))
        return (stored, jnp.minimum(count + 1, max_size)), out

    (stored, count), out = jax.lax.scan(one, (pool.images, pool.count), (images_NxHxWxC, keys))
    return Pool(images=stored, count=count), out
