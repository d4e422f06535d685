"""What the unpaired two-domain models share: the batch check, the input-size check, the direction -> generator
choice, the cycle and the sample grid (cyclegan, discogan, dualgan, around their G_AB / G_BA pair), and the update
of one discriminator per domain (cyclegan, discogan, unit, munit). (A leading underscore keeps this file out of the
model registry.)"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gan_jax.nets import state as netstate


def unpaired_batch(batch: dict) -> tuple[jax.Array, jax.Array]:
    if "image_a" not in batch or "image_b" not in batch:
        raise ValueError(f"this model trains on unpaired {{'image_a', 'image_b'}} batches (data kind 'unpaired'), got "
                         f"keys {sorted(batch)}")
    return batch["image_a"], batch["image_b"]


def check_images(images: jax.Array, config, multiple: int = 4) -> None:
    if images.ndim != 4 or images.shape[-1] != config.channels:
        raise ValueError(f"expected input images [N, H, W, {config.channels}], got shape {tuple(images.shape)}")
    h, w = images.shape[1:3]
    if min(h, w) < multiple or h % multiple or w % multiple:
        raise ValueError(f"input images are {h}x{w}; the generators need sides that are multiples of {multiple}")


def generator_name(direction: str) -> str:
    """``AtoB`` -> ``G_AB``, ``BtoA`` -> ``G_BA`` (the keys of the models' generator parameters)."""
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    return "G_AB" if direction == "AtoB" else "G_BA"


def reconstruct(translate: Callable, state, images: jax.Array, direction: str = "AtoB") -> jax.Array:
    """The cycle through a model's ``translate``: A -> B -> A (``AtoB``) or B -> A -> B."""
    back = "BtoA" if direction == "AtoB" else "AtoB"
    return translate(state, translate(state, images, direction=direction), direction=back)


def samples(translate: Callable, state, batch: dict) -> jax.Array:
    """Rows: real A, G_AB(A), real B, G_BA(B) (PyTorch-GAN's sample grid)."""
    real_a, real_b = unpaired_batch(batch)
    return jnp.concatenate([real_a, translate(state, real_a), real_b, translate(state, real_b, direction="BtoA")])


def update_discriminators(state, tx: optax.GradientTransformation, d_loss: Callable, real_a: jax.Array,
                          fake_a: jax.Array, real_b: jax.Array, fake_b: jax.Array):
    """One step of ``state.d_a`` and ``state.d_b``, each on ``d_loss(params, real, fake)`` with its own domain's real
    images and the translations into that domain (held constant). Returns (d_a, d_b, loss_a, loss_b)."""
    def update(net: netstate.Net, real, fake):
        loss, grads = jax.value_and_grad(d_loss)(net.params, real, jax.lax.stop_gradient(fake))
        return netstate.update(net, tx, grads), loss

    (d_a, loss_a), (d_b, loss_b) = update(state.d_a, real_a, fake_a), update(state.d_b, real_b, fake_b)
    return d_a, d_b, loss_a, loss_b
