"""InfoGAN: Chen et al., "InfoGAN: Interpretable Representation Learning by Information Maximizing Generative
Adversarial Nets" (2016).

Networks (PyTorch-GAN ``implementations/infogan/infogan.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` on
[z (62), one-hot categorical code c (n_classes), continuous code s (code_dim, U[-1, 1])]; the DCGAN discriminator
trunk with three linear heads (:class:`gan_jax.nets.conditional.HeadsDiscriminator`): a validity score, Q's
categorical logits and Q's estimate of s. One iteration: a G update (least squares: (D(G) - 1)^2), a D update
(1/2 [(D(x) - 1)^2 + D(G)^2]), then the information update: fresh z, c, s; L_I = CE(Q_c(G(z, c, s)), c) +
0.1 MSE(Q_s(G(z, c, s)), s) minimised over G's and D's parameters together by a third Adam (its own moments, as the
script's ``optimizer_info``). The codes are the ones *sampled* for G, never the data's labels: InfoGAN is
unsupervised (DATA = "images"). Init: ``weights_init_normal``. Adam(2e-4, 0.5, 0.999), batch 64, 32x32 MNIST.

Deviations from PyTorch-GAN: its categorical head ends in Softmax before CrossEntropyLoss (a second softmax): here
Q emits logits, ``losses.info_categorical_loss`` applies the softmax once (DESIGN.md's bug list; the paper's
-E log Q(c | G(z, c))). The continuous term keeps the script's MSE (``losses.info_continuous_loss``; the paper's
factored Gaussian with a fixed unit variance, up to scale). ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5.

Run:    python -m gan_jax.train --model infogan
        python -m gan_jax.sample --run runs/infogan --labels 3 --code 1,0      (categorical code 3, s = (1, 0))
Result: ``python -m benchmarks.conditional --models infogan`` (benchmarks/out/conditional.md): how well the
        categorical code matches the digit class (best-permutation accuracy against the project classifier), and
        grids of the continuous codes varying.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import conditional
from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "InfoGAN (Chen 2016): categorical + continuous codes recovered by a Q head, mutual-information loss"
DEFAULT_STEPS = 2000  # the quick CPU run; --n_epochs 200 is PyTorch-GAN's length
GRID_COLS = 10  # sample grids: one row per categorical code value
N_SAMPLES = 100
LAMBDA_CAT = 1.0  # infogan.py's loss weights (module constants there)
LAMBDA_CON = 0.1


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 62
    code_dim: int = 2
    n_classes: int = 10
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 400

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    info_opt_state: optax.OptState  # the information update's Adam moments over {'g': G params, 'd': D params}
    config: Config = struct.field(pytree_node=False)


class Generator(nn.Module):
    n_classes: int
    img_size: int
    channels: int

    @nn.compact
    def __call__(self, z, labels, code, train: bool):
        gen_input = jnp.concatenate([z, jax.nn.one_hot(labels, self.n_classes), code], axis=-1)
        return dcgan_nets.Generator(self.img_size, self.channels)(gen_input, train)


def _nets(config: Config):
    gen = Generator(config.n_classes, config.img_size, config.channels)
    return gen, conditional.HeadsDiscriminator((config.n_classes, config.code_dim))


def _inputs(key: jax.Array, n: int, config: Config) -> dict:
    """z ~ N(0, I), a uniform categorical code, a continuous code ~ U[-1, 1]^code_dim."""
    key, code_key = jax.random.split(key)
    inputs = conditional.z_and_labels(key, n, config.latent_dim, config.n_classes)
    inputs["code"] = jax.random.uniform(code_key, (n, config.code_dim), jnp.float32, -1.0, 1.0)
    return inputs


def info_loss(d_out, inputs: dict) -> tuple[jax.Array, dict]:
    """L_I on D's outputs for G(**inputs): categorical CE against the sampled code + 0.1 x MSE on the continuous."""
    _, code_logits, code_estimate = d_out
    cat = losses.info_categorical_loss(code_logits, inputs["labels"])
    con = losses.info_continuous_loss(code_estimate, inputs["code"])
    loss = LAMBDA_CAT * cat + LAMBDA_CON * con
    return loss, {"info_loss": loss, "info_cat": cat, "info_con": con}


def g_loss(f: conditional.Forward):
    loss = losses.least_squares_g_loss(f.d_fake[0])
    return loss, {"g_loss": loss}


def d_loss(f: conditional.Forward):
    loss = losses.least_squares_d_loss(f.d_real[0], f.d_fake[0])
    return loss, {"d_loss": loss}


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    g_key, d_key = jax.random.split(rng)
    tx = netstate.adam(config)
    g = netstate.create(gen, tx, g_key, z=jnp.zeros((2, config.latent_dim)), labels=jnp.zeros((2,), jnp.int32),
                        code=jnp.zeros((2, config.code_dim)))
    d = netstate.create(disc, tx, d_key, jnp.zeros((2, config.img_size, config.img_size, config.channels)))
    info_opt_state = tx.init({"g": g.params, "d": d.params})
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, info_opt_state=info_opt_state, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """A G update, a D update (PyTorch-GAN's order, on the real batch and G's pre-update images), then the
    information update of G and D together on freshly sampled codes."""
    config = state.config
    gen, disc = _nets(config)
    adversarial_key, info_key = jax.random.split(rng)
    state, metrics = conditional.step(state, batch, adversarial_key, gen, disc,
                                      lambda k, n: _inputs(k, n, config), g_loss, d_loss)
    input_key, drop_key = jax.random.split(info_key)
    inputs = _inputs(input_key, batch["image"].shape[0], config)

    def objective(params):
        fake, g_stats = netstate.apply(gen, state.g, train=True, params=params["g"], **inputs)
        (d_out,), d_stats = conditional.run_d(disc, state.d, params["d"], [(fake,)], drop_key)
        loss, info_metrics = info_loss(d_out, inputs)
        return loss, (g_stats, d_stats, info_metrics)

    params = {"g": state.g.params, "d": state.d.params}
    (_, (g_stats, d_stats, info_metrics)), grads = jax.value_and_grad(objective, has_aux=True)(params)
    updates, info_opt_state = netstate.adam(config).update(grads, state.info_opt_state, params)
    params = optax.apply_updates(params, updates)
    g = state.g.replace(params=params["g"], batch_stats=g_stats)
    d = state.d.replace(params=params["d"], batch_stats=d_stats)
    return state.replace(g=g, d=d, info_opt_state=info_opt_state), {**metrics, **info_metrics}


def generate(state: State, rng: jax.Array, n: int, labels=None, code=None) -> jax.Array:
    """``n`` images in [-1, 1], NHWC. ``labels``: the categorical code (int or ints [n] in [0, n_classes); default
    uniform); ``code``: the continuous code ([code_dim] for every image, or [n, code_dim]; default U[-1, 1]).
    The same ``rng`` and ``n`` give the same z whatever the codes, so varying a code shows what it controls."""
    config = state.config
    inputs = _inputs(rng, n, config)
    if labels is not None:
        inputs["labels"] = conditional.check_labels(labels, n, config.n_classes, what="categorical code")
    if code is not None:
        inputs["code"] = conditional.check_code(code, n, config.code_dim)
    return conditional.generate(_nets(config)[0], state.g, inputs)


def infer(state: State, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Q's (categorical logits [N, n_classes], continuous code estimate [N, code_dim]) for images in [-1, 1]
    (BatchNorm on its running averages, no dropout)."""
    _, code_logits, code_estimate = netstate.apply(_nets(state.config)[1], state.d, images, train=False)[0]
    return code_logits, code_estimate


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The training grid: one row per categorical code value, ``GRID_COLS`` samples each (continuous code 0, as the
    script's static grid)."""
    labels = conditional.class_rows(state.config.n_classes, GRID_COLS)
    return generate(state, rng, len(labels), labels=labels, code=jnp.zeros((state.config.code_dim,)))
