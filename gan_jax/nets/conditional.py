"""What PyTorch-GAN's conditional and auxiliary-head GANs share (cgan, acgan, infogan, sgan, cluster_gan).

- :func:`embedding`: ``nn.Embedding`` with PyTorch's N(0, 1) initialisation (cgan's and acgan's label embeddings).
- :class:`HeadsDiscriminator`: the DCGAN discriminator trunk of :mod:`gan_jax.nets.dcgan` with one linear layer per
  head: the validity logit, then acgan's/sgan's class logits, infogan's categorical and continuous code heads.
- :func:`step`: one PyTorch-GAN iteration of a generator that takes conditions (labels, codes) and a discriminator
  that may take the label too: a G update, then a D update on the real batch and on the images G made *before* its
  update (``gen_imgs.detach()``), both Adam(lr, b1, b2). It is :func:`gan_jax.nets.alternating.step` with the
  generator's inputs sampled by the model and the label passed to D where it is conditioned on it.
- :func:`check_labels`, :func:`check_code`, :func:`class_rows`: the conditions ``generate`` accepts, validated with
  clear errors, and the one-row-per-class grid.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import layers
from gan_jax.nets import state as netstate


def embedding(num: int, features: int) -> nn.Embed:
    """``nn.Embedding(num, features)``: rows drawn from N(0, 1) as PyTorch does (Flax's default is scaled)."""
    return nn.Embed(num, features, embedding_init=nn.initializers.normal(1.0))


class HeadsDiscriminator(nn.Module):
    """Image -> (validity logit [N], one [N, k] output per entry k of ``heads``), all linear on the DCGAN trunk's
    features. Outputs are raw (logits, or a code estimate): the scripts' Sigmoid/Softmax live in the losses."""

    heads: tuple[int, ...]

    @nn.compact
    def __call__(self, img, train: bool):
        features = dcgan_nets.DiscriminatorTrunk()(img, train)
        validity = layers.Dense(1)(features)[:, 0]
        return (validity, *(layers.Dense(k)(features) for k in self.heads))


# ---- the conditions generate() takes ----

def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def check_labels(labels, n: int, n_classes: int, what: str = "label") -> jax.Array:
    """``labels`` (an int, or ints of shape [n]) as int32 [n]; a value outside [0, n_classes) raises ValueError.

    Values can only be checked when they are known: under ``jax.jit`` a traced label is not checked (an embedding
    lookup out of range then gives NaN images, never a silent wrong class).
    """
    if not _is_traced(labels):
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise ValueError(f"{what}s must be integers, got dtype {labels.dtype}")
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if bad.size:
            raise ValueError(f"{what} {int(bad.reshape(-1)[0])} is outside [0, {n_classes}): this model has "
                             f"{n_classes} {what}s, 0 to {n_classes - 1}")
    if jnp.ndim(labels) == 0:
        labels = jnp.full((n,), labels)
    if jnp.shape(labels) != (n,):
        raise ValueError(f"expected one {what} per image ({n}), got {what}s of shape {jnp.shape(labels)}")
    return jnp.asarray(labels, jnp.int32)


def check_code(code, n: int, code_dim: int) -> jax.Array:
    """``code`` ([code_dim], used for every image, or [n, code_dim]) as float32 [n, code_dim]."""
    code = jnp.asarray(code, jnp.float32)
    if code.ndim not in (1, 2) or code.shape[-1] != code_dim:
        size = code.shape[-1] if code.ndim else 1
        raise ValueError(f"this model's code has code_dim={code_dim} values, got a code of {size} "
                         f"(shape {tuple(code.shape)})")
    if code.ndim == 2 and code.shape[0] != n:
        raise ValueError(f"expected one code per image ({n}) or one for all, got {code.shape[0]} codes")
    return jnp.broadcast_to(code, (n, code_dim))


def z_and_labels(key: jax.Array, n: int, latent_dim: int, n_classes: int) -> dict:
    """G's inputs in cgan/acgan: z ~ N(0, I) [n, latent_dim] and uniform labels [n] (``np.random.randint``)."""
    z_key, label_key = jax.random.split(key)
    return {"z": netstate.latent(z_key, n, latent_dim), "labels": jax.random.randint(label_key, (n,), 0, n_classes)}


def class_rows(n_classes: int, cols: int) -> np.ndarray:
    """Labels of a grid with one row per class: 0 x cols, 1 x cols, ... (int32 [n_classes * cols])."""
    return np.repeat(np.arange(n_classes, dtype=np.int32), cols)


# ---- one iteration ----

@dataclasses.dataclass(frozen=True)
class Forward:
    """What a loss function sees.

    ``batch`` is the real batch ('image', and 'label' / 'label_mask' where the data has them); ``inputs`` what G
    was given this step ('z' and the sampled conditions, e.g. 'labels', 'code'); ``fake`` = G(**inputs), which depends
    on G's parameters in the G step and is constant in the D step. ``d_real`` is None in the G step.
    """

    batch: dict
    inputs: dict
    fake: jax.Array
    d_fake: Any
    d_real: Any = None


LossFn = Callable[[Forward], tuple[jax.Array, dict]]
SampleInputs = Callable[[jax.Array, int], dict]


def run_d(disc: nn.Module, net: netstate.Net, params, calls, key: jax.Array):
    """D (train mode) on each argument tuple in turn, threading its BatchNorm statistics like successive PyTorch
    calls and drawing a dropout mask per call; returns (outputs, final statistics)."""
    outs, stats = [], net.batch_stats
    for args, k in zip(calls, jax.random.split(key, len(calls))):
        out, stats = netstate.apply(disc, net.replace(batch_stats=stats), *args, train=True, params=params,
                                    rngs={"dropout": k})
        outs.append(out)
    return outs, stats


def step(state, batch: dict, rng: jax.Array, gen: nn.Module, disc: nn.Module, sample_inputs: SampleInputs,
         g_loss: LossFn, d_loss: LossFn, *, d_takes_label: bool = False):
    """One G update then one D update; returns ``(state with step + 1, g, d replaced; metrics of both losses)``.

    ``sample_inputs(key, n)`` draws G's keyword inputs (``gen(**inputs, train=...)``). With ``d_takes_label`` D is
    called as ``disc(image, label)``: the batch's labels for real images, G's sampled ``inputs['labels']`` for fakes
    (cgan). BatchNorm statistics follow :mod:`gan_jax.nets.alternating`: G keeps its one pass's, D's thread through
    the G step's D(fake) and the D step's D(real), D(fake). ``state`` is any flax struct with ``step``, ``g``, ``d``
    and ``config`` (lr, b1, b2); models may add fields (infogan's information optimizer).
    """
    tx = netstate.adam(state.config)
    real_BxHxWxC = batch["image"]
    input_key, g_drop_key, d_drop_key = jax.random.split(rng, 3)
    inputs = sample_inputs(input_key, real_BxHxWxC.shape[0])

    def d_args(images, labels):
        return (images, labels) if d_takes_label else (images,)

    def g_objective(g_params):
        fake, g_stats = netstate.apply(gen, state.g, train=True, params=g_params, **inputs)
        (d_fake,), d_stats = run_d(disc, state.d, state.d.params, [d_args(fake, inputs.get("labels"))], g_drop_key)
        loss, metrics = g_loss(Forward(batch, inputs, fake, d_fake))
        return loss, (fake, g_stats, d_stats, metrics)

    (_, (fake, g_stats, d_stats, g_metrics)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads, g_stats)
    fake = jax.lax.stop_gradient(fake)
    d_net = state.d.replace(batch_stats=d_stats)

    def d_objective(d_params):
        calls = [d_args(real_BxHxWxC, batch.get("label")), d_args(fake, inputs.get("labels"))]
        (d_real, d_fake), stats = run_d(disc, d_net, d_params, calls, d_drop_key)
        loss, metrics = d_loss(Forward(batch, inputs, fake, d_fake, d_real))
        return loss, (stats, metrics)

    (_, (d_stats, d_metrics)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d_net.params)
    d = netstate.update(d_net, tx, d_grads, d_stats)
    return state.replace(step=state.step + 1, g=g, d=d), {**g_metrics, **d_metrics}


def generate(gen: nn.Module, net: netstate.Net, inputs: dict) -> jax.Array:
    """G on given inputs, BatchNorm on its running averages: images in [-1, 1], NHWC."""
    return netstate.apply(gen, net, train=False, **inputs)[0]
