"""The n_critic iteration shared by WGAN, WGAN-GP and WGAN-div (PyTorch-GAN's wgan*.py): ``n_critic`` critic
updates, each on its own real batch, then one generator update -- all inside one jitted ``train_step``.

PyTorch-GAN consumes one loader batch per critic update and updates G every ``n_critic`` batches. To keep that data
usage with one pure step per iteration, the step takes ``n_critic`` batches at once: ``batch["image"]`` has
``batch_size * n_critic`` rows (the models export :func:`loader_batch_size`, which the CLI uses to size the loader),
split here into ``n_critic`` batches of ``batch_size`` and scanned over with ``jax.lax.scan`` (fully unrolled).

A model supplies only what defines it: the critic loss (``critic_loss(critic, real, fake, key) -> (loss, metrics)``,
with ``critic`` the critic closed over the parameters being differentiated) and, for WGAN, the constraint applied to
the critic's parameters after each update (weight clipping).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.nets import mlp
from gan_jax.nets import state as netstate

CriticLoss = Callable[[Callable[[jax.Array], jax.Array], jax.Array, jax.Array, jax.Array], tuple[jax.Array, dict]]


def loader_batch_size(config) -> int:
    """Rows one train_step consumes: ``n_critic`` batches of ``batch_size`` (one per critic update)."""
    return config.batch_size * config.n_critic


def critic_batches(images_NxHxWxC: jax.Array, config) -> jax.Array:
    """[batch_size * n_critic, H, W, C] -> [n_critic, batch_size, H, W, C].

    Critic batch i takes rows i, i + n_critic, i + 2 n_critic, ...: the rows are already shuffled, and splitting the
    second axis keeps the first (the one sharded over the devices' 'data' axis) intact, so every critic batch stays
    spread over all devices instead of landing on 1/n_critic of them.
    """
    n, b = config.n_critic, config.batch_size
    if images_NxHxWxC.shape[0] != n * b:
        raise ValueError(f"this model's train_step takes n_critic={n} batches at once: batch['image'] must have "
                         f"batch_size * n_critic = {n * b} rows (loader_batch_size(config)), got "
                         f"{images_NxHxWxC.shape[0]}")
    return jnp.swapaxes(images_NxHxWxC.reshape(b, n, *images_NxHxWxC.shape[1:]), 0, 1)


def train_step(state: Any, batch: dict, rng: jax.Array, *, g_tx: optax.GradientTransformation,
               d_tx: optax.GradientTransformation, critic_loss: CriticLoss,
               constrain: Callable[[Any], Any] | None = None) -> tuple[Any, dict]:
    """``n_critic`` critic updates (a ``lax.scan``), then one generator update on fresh noise.

    ``state`` has ``step``, ``g``, ``d`` (:class:`netstate.Net`) and ``config``. Metrics: ``d_loss`` (and the critic
    loss's own metrics) of the *last* critic update -- what PyTorch-GAN prints next to the generator's loss --
    and ``g_loss``.
    """
    config = state.config
    gen, disc = mlp.nets(config)
    real_KxBxHxWxC = critic_batches(batch["image"], config)
    critic_key, g_key = jax.random.split(rng)
    keys = jax.random.split(critic_key, config.n_critic)

    def critic_update(carry, xs):
        d, g_stats = carry
        real, key = xs
        z_key, loss_key = jax.random.split(key)
        z = netstate.latent(z_key, config.batch_size, config.latent_dim)
        # G runs in train mode (batch statistics) and its running averages advance, as PyTorch-GAN's generator(z)
        # does in every critic step; only D's parameters receive gradients.
        fake, g_stats = netstate.apply(gen, state.g.replace(batch_stats=g_stats), z, train=True)
        fake = jax.lax.stop_gradient(fake)

        def loss_fn(d_params):
            def critic(x):
                return netstate.apply(disc, d, x, train=True, params=d_params)[0]

            return critic_loss(critic, real, fake, loss_key)

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
        d = netstate.update(d, d_tx, grads)
        if constrain is not None:
            d = d.replace(params=constrain(d.params))
        return (d, g_stats), {"d_loss": loss, **metrics}

    # Unrolled: XLA:CPU runs a convolution inside a loop body (scan/while/cond) ~30-100x slower than the same
    # convolution outside one (measured on the 2-core CPU), so convolutional critics must not be looped.
    (d, g_stats), critic_metrics = jax.lax.scan(critic_update, (state.d, state.g.batch_stats),
                                                (real_KxBxHxWxC, keys), unroll=True)
    g = state.g.replace(batch_stats=g_stats)

    # Deviation (also the papers' Algorithm 1): fresh noise for G; PyTorch-GAN reuses the z of the critic step it
    # updates G after. Same distribution, one draw more.
    z = netstate.latent(g_key, config.batch_size, config.latent_dim)

    def g_loss_fn(g_params):
        fake, g_stats = netstate.apply(gen, g, z, train=True, params=g_params)
        scores, _ = netstate.apply(disc, d, fake, train=True)
        return losses.wasserstein_g_loss(scores), g_stats

    (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g.params)
    g = netstate.update(g, g_tx, g_grads, g_stats)
    metrics = {name: values[-1] for name, values in critic_metrics.items()}
    return state.replace(step=state.step + 1, g=g, d=d), {**metrics, "g_loss": g_loss}
