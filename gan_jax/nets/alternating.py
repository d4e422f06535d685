"""One PyTorch-GAN iteration of a generator/discriminator pair, parametrised by the loss functions.

dcgan, lsgan, dragan, relativistic_gan, began and ebgan run the same loop and differ only in their networks and
losses; this module is that loop, once. The order is the scripts': a G update on fresh z, then a D update on the
real batch and on the images G made *before* its update (``gen_imgs.detach()``). Both use Adam(lr, b1, b2).

Losses see a :class:`Forward` (the images and D's outputs on them) and return ``(loss, metrics)``.

BatchNorm statistics follow PyTorch's: every forward pass in train mode moves the running averages. G keeps its one
pass's statistics. D's thread through its passes in the script's order: the G step's D(real) (only where the G loss
needs it) and D(fake), then the D step's D(real) and D(fake). A gradient penalty's forward pass is not kept (its
statistics cannot leave ``jax.grad`` of the critic); D's running averages are never used anyway: D only ever runs
in train mode. Each D pass draws its own dropout mask, as each PyTorch call does.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import state as netstate


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Any = struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Forward:
    """What a loss function sees.

    In the G step ``fake`` depends on G's parameters (detach it where the script does), ``d_real`` is None unless
    the step was asked for it (``g_needs_real``), and there is no critic. In the D step ``fake`` is constant and
    ``critic(x)`` is D in train mode at the parameters being differentiated (for gradient penalties), with ``key``
    for the penalty's randomness.
    """

    real: jax.Array
    fake: jax.Array
    d_real: Any
    d_fake: Any
    critic: Callable[[jax.Array], Any] | None = None
    key: jax.Array | None = None


LossFn = Callable[[Forward], tuple[jax.Array, dict]]


def nonsaturating_g_loss(f: Forward):
    """The standard GAN's G loss on D's logits (BCE against 'real')."""
    loss = losses.nonsaturating_g_loss(f.d_fake)
    return loss, {"g_loss": loss}


def minimax_d_loss(f: Forward):
    """The standard GAN's D loss on D's logits ((BCE(real, 1) + BCE(fake, 0)) / 2)."""
    loss = losses.minimax_d_loss(f.d_real, f.d_fake)
    return loss, {"d_loss": loss}


def init_nets(rng: jax.Array, config, gen: nn.Module, disc: nn.Module, g_tx=None,
              d_tx=None) -> tuple[netstate.Net, netstate.Net]:
    """G and D (params, BatchNorm statistics, optimizer state) initialised on dummy inputs.

    The optimizers default to Adam(lr, b1, b2) (``netstate.adam``); ``d_tx`` defaults to ``g_tx``.
    """
    g_key, d_key = jax.random.split(rng)
    g_tx = g_tx or netstate.adam(config)
    z = jnp.zeros((2, config.latent_dim))
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    return netstate.create(gen, g_tx, g_key, z), netstate.create(disc, d_tx or g_tx, d_key, img)


def init(rng: jax.Array, config, gen: nn.Module, disc: nn.Module) -> State:
    g, d = init_nets(rng, config, gen, disc)
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def _run_d(disc: nn.Module, net: netstate.Net, params, images, key: jax.Array):
    """D on each batch in turn (train mode), threading its BatchNorm statistics like successive PyTorch calls."""
    outs, stats = [], net.batch_stats
    for x, k in zip(images, jax.random.split(key, len(images))):
        out, stats = netstate.apply(disc, net.replace(batch_stats=stats), x, train=True, params=params,
                                    rngs={"dropout": k})
        outs.append(out)
    return outs, stats


def step(state, batch: dict, rng: jax.Array, gen: nn.Module, disc: nn.Module, g_loss: LossFn, d_loss: LossFn,
         g_needs_real: bool = False):
    """One G update then one D update; returns ``(state with step + 1, g, d replaced; metrics of both losses)``.

    ``state`` is any flax struct with ``step``, ``g``, ``d`` and ``config`` (models may add fields, e.g. began's k).
    """
    config = state.config
    tx = netstate.adam(config)
    real_BxHxWxC = batch["image"]
    z_key, g_drop_key, d_drop_key, penalty_key = jax.random.split(rng, 4)
    z = netstate.latent(z_key, real_BxHxWxC.shape[0], config.latent_dim)

    def g_objective(g_params):
        fake, g_stats = netstate.apply(gen, state.g, z, train=True, params=g_params)
        images = (real_BxHxWxC, fake) if g_needs_real else (fake,)
        outs, d_stats = _run_d(disc, state.d, state.d.params, images, g_drop_key)
        d_real = outs[0] if g_needs_real else None
        loss, metrics = g_loss(Forward(real_BxHxWxC, fake, d_real, outs[-1]))
        return loss, (fake, g_stats, d_stats, metrics)

    (_, (fake, g_stats, d_stats, g_metrics)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    fake = jax.lax.stop_gradient(fake)
    d_net = state.d.replace(batch_stats=d_stats)
    drop_key, critic_drop_key = jax.random.split(d_drop_key)

    def d_objective(d_params):
        (d_real, d_fake), stats = _run_d(disc, d_net, d_params, (real_BxHxWxC, fake), drop_key)

        def critic(x):
            return netstate.apply(disc, d_net, x, train=True, params=d_params, rngs={"dropout": critic_drop_key})[0]

        loss, metrics = d_loss(Forward(real_BxHxWxC, fake, d_real, d_fake, critic, penalty_key))
        return loss, (stats, metrics)

    (_, (d_stats, d_metrics)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d_net.params)
    d = netstate.update(d_net, tx, d_grads, d_stats)
    return state.replace(step=state.step + 1, g=g, d=d), {**g_metrics, **d_metrics}


def generate(state, rng: jax.Array, n: int, gen: nn.Module) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (G's BatchNorm on its running averages)."""
    z = netstate.latent(rng, n, state.config.latent_dim)
    return netstate.apply(gen, state.g, z, train=False)[0]
