"""The train state of one network, and the helpers every model uses to run and update it.

A model's ``State`` holds one :class:`Net` per network (params, BatchNorm statistics, optimizer state) plus the
step and its config as a static field, so ``train_step(state, batch, rng)`` needs nothing else.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import core, struct
from flax import linen as nn


@struct.dataclass
class Net:
    params: Any
    batch_stats: Any  # {} for networks without BatchNorm
    opt_state: Any


def create(module: nn.Module, tx: optax.GradientTransformation, rng: jax.Array, *inputs, **kwargs) -> Net:
    """Initialise ``module`` on example ``inputs`` (called with ``train=True``) and its optimizer state."""
    params_key, dropout_key = jax.random.split(rng)
    variables = module.init({"params": params_key, "dropout": dropout_key}, *inputs, train=True, **kwargs)
    params = variables["params"]
    stats = variables.get("batch_stats", {})
    return Net(params=params, batch_stats=stats, opt_state=tx.init(params))


def apply(module: nn.Module, net: Net, *inputs, train: bool, params=None, **kwargs):
    """Run ``module``; returns ``(output, new_batch_stats)`` (the stats unchanged when ``train`` is False).

    ``params`` overrides ``net.params`` (what ``jax.grad`` differentiates); the stats update is returned, never
    hidden, so a step decides which forward pass's statistics it keeps.
    """
    variables = {"params": net.params if params is None else params}
    if net.batch_stats:
        variables["batch_stats"] = net.batch_stats
        if train:
            out, updates = module.apply(variables, *inputs, train=True, mutable=["batch_stats"], **kwargs)
            return out, updates["batch_stats"]
    return module.apply(variables, *inputs, train=train, **kwargs), net.batch_stats


def update(net: Net, tx: optax.GradientTransformation, grads, batch_stats=None) -> Net:
    """One optimizer step; optionally install new BatchNorm statistics."""
    updates, opt_state = tx.update(grads, net.opt_state, net.params)
    return net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state,
                       batch_stats=net.batch_stats if batch_stats is None else batch_stats)


def adam(config) -> optax.GradientTransformation:
    """PyTorch-GAN's ``torch.optim.Adam(lr, betas=(b1, b2))`` (eps 1e-8, no weight decay)."""
    return optax.adam(config.lr, b1=config.b1, b2=config.b2, eps=1e-8)


def epoch_decay_factor(config, count: jax.Array) -> jax.Array:
    """PyTorch-GAN's ``utils.LambdaLR`` (cyclegan, munit, unit): the LR factor 1 - max(0, epoch - decay_epoch) /
    (n_epochs - decay_epoch), constant over each epoch (the scripts step their schedulers after an epoch), with
    epoch = count // ``config.steps_per_epoch``; 1 throughout when ``steps_per_epoch`` is 0 (length unknown)."""
    if not config.steps_per_epoch:
        return jnp.ones((), jnp.float32)
    epoch = count // config.steps_per_epoch
    return 1.0 - jnp.maximum(0, epoch - config.decay_epoch) / (config.n_epochs - config.decay_epoch)


def check_epoch_decay(config) -> None:
    """``utils.LambdaLR``'s own assertion, as a flag error: the decay must start before training ends."""
    if config.steps_per_epoch and config.n_epochs <= config.decay_epoch:
        raise ValueError(f"the LR decay must start before training ends: --decay_epoch {config.decay_epoch} >= "
                         f"--n_epochs {config.n_epochs}")


def adam_epoch_decay(config) -> optax.GradientTransformation:
    """:func:`adam` whose learning rate follows :func:`epoch_decay_factor`."""
    return optax.adam(lambda count: config.lr * epoch_decay_factor(config, count), b1=config.b1, b2=config.b2,
                      eps=1e-8)


def rmsprop(lr: float) -> optax.GradientTransformation:
    """``torch.optim.RMSprop(lr)``: alpha 0.99, eps 1e-8 added outside the sqrt, no momentum."""
    return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)


def count_params(tree) -> int:
    return sum(x.size for x in jax.tree.leaves(tree))


def latent(rng: jax.Array, n: int, dim: int) -> jax.Array:
    """z ~ N(0, I), as PyTorch-GAN's ``np.random.normal(0, 1, (n, latent_dim))``."""
    return jax.random.normal(rng, (n, dim), jnp.float32)


unfreeze = core.unfreeze
