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

``--arch paper``: Chen et al.'s own MNIST setup instead of the script's (their appendix C.1 and the authors'
``launchers/run_mnist_exp.py``), for what the paper reports (the categorical code finds the digit classes). D/Q: conv4
s2 64 -> lrelu 0.1 -> conv4 s2 128 -> BN -> lrelu -> FC 1024 -> BN -> lrelu, then D's logit, and Q: FC 128 -> BN ->
lrelu -> (10 categorical logits, 2 code means). G: FC 1024 -> BN -> relu -> FC 128 (s/4)^2 -> BN -> relu -> deconv4 s2
64 -> BN -> relu -> deconv4 s2 1 -> tanh (the paper's sigmoid Bernoulli mean, rescaled to our [-1, 1] images). Loss:
the minimax D loss and the non-saturating G loss, each plus L_I (the code's cross-entropy + the unit-variance
Gaussian NLL of the continuous codes, summed over them, weight 1); one D update then one G update per iteration, each
on its own draw of z ~ U[-1, 1]^62, c, s; G's Adam at ``PAPER_G_LR_RATIO`` x ``--lr`` (1e-3 vs D's 2e-4, beta1 0.5).
Weights N(0, 0.02). What stays ours: 32 px images (the networks follow s/4), batch 64 unless ``--batch_size 128``
(the authors').

Measured (``benchmarks.conditional``, offline MNIST: 4,500 digits, 2-core CPU): with ``--arch paper --batch_size 128``
the categorical code matches the digit class for 84.5% of 10,000 samples after 2,000 steps (65 / 70 / 75 / 84% at 400
/ 800 / 1,200 / 1,600; FD 546 -> 11.8; what is left is 4, 7 and 9 sharing two codes), and the second continuous code
sets the slant. Longer is worse on this small set: D overfits it (142 epochs at 5,000 steps, the authors' length on
60,000 digits; D's loss 1.2 -> 0.1) and the code accuracy, 84% from 2,000 to 4,000 steps, fell to 68% at 5,000. The
script's networks and losses reach 48.6% at 2,000 steps (54.7% at 4,638).

Run:    python -m gan_jax.train --model infogan
        python -m gan_jax.train --model infogan --arch paper --batch_size 128     (the code finds the digits)
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
from gan_jax.nets import layers
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "InfoGAN (Chen 2016): categorical + continuous codes recovered by a Q head, mutual-information loss"
DEFAULT_STEPS = 2000  # the quick CPU run; --n_epochs 200 is PyTorch-GAN's length
GRID_COLS = 10  # sample grids: one row per categorical code value
N_SAMPLES = 100
LAMBDA_CAT = 1.0  # infogan.py's loss weights (module constants there)
LAMBDA_CON = 0.1
ARCHS = ("script", "paper")
PAPER_G_LR_RATIO = 5.0  # --arch paper: G's learning rate over D's (the authors' 1e-3 / 2e-4)
PAPER_LEAK = 0.1  # the paper's leaky ReLU slope


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
    arch: str = "script"  # "paper": Chen et al.'s MNIST networks, losses and learning rates (module docstring)

    def validate(self):
        if self.arch not in ARCHS:
            raise ValueError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        dcgan_nets.check_img_size(self.img_size, 4 if self.arch == "paper" else 16)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    info_opt_state: optax.OptState  # the information update's Adam moments over {'g': G params, 'd': D params}
    # (--arch paper has no separate information update: L_I is part of the D and G losses; this is then empty)
    config: Config = struct.field(pytree_node=False)


class Generator(nn.Module):
    n_classes: int
    img_size: int
    channels: int

    @nn.compact
    def __call__(self, z, labels, code, train: bool):
        gen_input = jnp.concatenate([z, jax.nn.one_hot(labels, self.n_classes), code], axis=-1)
        return dcgan_nets.Generator(self.img_size, self.channels)(gen_input, train)


class PaperGenerator(nn.Module):
    """Chen et al.'s MNIST generator (``--arch paper``), on the same inputs as :class:`Generator`."""

    n_classes: int
    img_size: int
    channels: int

    @nn.compact
    def __call__(self, z, labels, code, train: bool):
        x = jnp.concatenate([z, jax.nn.one_hot(labels, self.n_classes), code], axis=-1)
        s = self.img_size // 4
        for features in (1024, 128 * s * s):
            x = layers.Dense(features, kernel_init=layers.normal_002)(x)
            x = nn.relu(layers.batch_norm(train, momentum=0.9)(x))
        x = x.reshape((x.shape[0], s, s, 128))
        x = layers.ConvTranspose(64, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
        x = nn.relu(layers.batch_norm(train, momentum=0.9)(x))
        x = layers.ConvTranspose(self.channels, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
        return jnp.tanh(x)


class PaperDiscriminator(nn.Module):
    """Chen et al.'s MNIST D with its Q head (``--arch paper``): image -> (validity logit [N], categorical logits
    [N, n_classes], continuous code means [N, code_dim]), the same outputs as the script's D."""

    n_classes: int
    code_dim: int

    @nn.compact
    def __call__(self, img, train: bool):
        def lrelu(x):
            return nn.leaky_relu(x, PAPER_LEAK)

        x = lrelu(layers.Conv(64, 4, strides=2, padding=1, kernel_init=layers.normal_002)(img))
        x = layers.Conv(128, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
        x = lrelu(layers.batch_norm(train, momentum=0.9)(x)).reshape((img.shape[0], -1))
        shared = lrelu(layers.batch_norm(train, momentum=0.9)(layers.Dense(1024, kernel_init=layers.normal_002)(x)))
        validity = layers.Dense(1, kernel_init=layers.normal_002)(shared)[:, 0]
        q = layers.Dense(128, kernel_init=layers.normal_002)(shared)
        q = layers.Dense(self.n_classes + self.code_dim, kernel_init=layers.normal_002)(
            lrelu(layers.batch_norm(train, momentum=0.9)(q)))
        return validity, q[:, :self.n_classes], q[:, self.n_classes:]


def _nets(config: Config):
    if config.arch == "paper":
        return (PaperGenerator(config.n_classes, config.img_size, config.channels),
                PaperDiscriminator(config.n_classes, config.code_dim))
    gen = Generator(config.n_classes, config.img_size, config.channels)
    return gen, conditional.HeadsDiscriminator((config.n_classes, config.code_dim))


def _inputs(key: jax.Array, n: int, config: Config) -> dict:
    """z ~ N(0, I) (``--arch paper``: U[-1, 1], the authors'), a uniform categorical code, a continuous code
    ~ U[-1, 1]^code_dim."""
    key, code_key = jax.random.split(key)
    inputs = conditional.z_and_labels(key, n, config.latent_dim, config.n_classes)
    if config.arch == "paper":
        inputs["z"] = jax.random.uniform(jax.random.fold_in(key, 1), (n, config.latent_dim), jnp.float32, -1.0, 1.0)
    inputs["code"] = jax.random.uniform(code_key, (n, config.code_dim), jnp.float32, -1.0, 1.0)
    return inputs


def info_loss(d_out, inputs: dict) -> tuple[jax.Array, dict]:
    """L_I on D's outputs for G(**inputs): categorical CE against the sampled code + 0.1 x MSE on the continuous."""
    _, code_logits, code_estimate = d_out
    cat = losses.info_categorical_loss(code_logits, inputs["labels"])
    con = losses.info_continuous_loss(code_estimate, inputs["code"])
    loss = LAMBDA_CAT * cat + LAMBDA_CON * con
    return loss, {"info_loss": loss, "info_cat": cat, "info_con": con}


def paper_info_loss(d_out, inputs: dict) -> tuple[jax.Array, dict]:
    """The paper's L_I (``--arch paper``): -log Q(c | x) + the unit-variance Gaussian NLL of the continuous codes
    summed over them (the authors' ``Uniform(1, fix_std=True)`` codes; the constant 1/2 log 2 pi dropped), weight 1."""
    _, code_logits, code_mean = d_out
    cat = losses.info_categorical_loss(code_logits, inputs["labels"])
    con = 0.5 * jnp.mean(jnp.sum(jnp.square(code_mean - inputs["code"]), axis=-1))
    loss = cat + con
    return loss, {"info_loss": loss, "info_cat": cat, "info_con": con}


def paper_g_loss(f: conditional.Forward):
    adversarial = losses.nonsaturating_g_loss(f.d_fake[0])
    info, metrics = paper_info_loss(f.d_fake, f.inputs)
    return adversarial + info, {"g_loss": adversarial, **metrics}


def paper_d_loss(f: conditional.Forward):
    # the authors' -mean(log D(x) + log(1 - D(G))): twice PyTorch-GAN's halved minimax loss
    adversarial = 2.0 * losses.minimax_d_loss(f.d_real[0], f.d_fake[0])
    info, _ = paper_info_loss(f.d_fake, f.inputs)
    return adversarial + info, {"d_loss": adversarial, "d_info_loss": info}


def g_loss(f: conditional.Forward):
    loss = losses.least_squares_g_loss(f.d_fake[0])
    return loss, {"g_loss": loss}


def d_loss(f: conditional.Forward):
    loss = losses.least_squares_d_loss(f.d_real[0], f.d_fake[0])
    return loss, {"d_loss": loss}


def _g_tx(config: Config):
    if config.arch == "paper":
        return netstate.adam(dataclasses.replace(config, lr=config.lr * PAPER_G_LR_RATIO))
    return netstate.adam(config)


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    g_key, d_key = jax.random.split(rng)
    tx = netstate.adam(config)
    g = netstate.create(gen, _g_tx(config), g_key, z=jnp.zeros((2, config.latent_dim)),
                        labels=jnp.zeros((2,), jnp.int32), code=jnp.zeros((2, config.code_dim)))
    d = netstate.create(disc, tx, d_key, jnp.zeros((2, config.img_size, config.img_size, config.channels)))
    info_opt_state = () if config.arch == "paper" else tx.init({"g": g.params, "d": d.params})
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, info_opt_state=info_opt_state, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """A G update, a D update (PyTorch-GAN's order, on the real batch and G's pre-update images), then the
    information update of G and D together on freshly sampled codes. ``--arch paper``: :func:`paper_step`."""
    config = state.config
    if config.arch == "paper":
        return paper_step(state, batch, rng)
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


def paper_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """``--arch paper``: one D update (minimax loss + L_I on G's images, D and Q's parameters), then one G update
    (non-saturating loss + L_I), each on its own draw of z and codes, as the authors' trainer runs them."""
    config = state.config
    gen, disc = _nets(config)
    real = batch["image"]
    n = real.shape[0]
    d_input_key, d_drop_key, g_input_key, g_drop_key = jax.random.split(rng, 4)

    d_inputs = _inputs(d_input_key, n, config)
    fake, _ = netstate.apply(gen, state.g, train=True, **d_inputs)
    fake = jax.lax.stop_gradient(fake)

    def d_objective(d_params):
        (d_real, d_fake), stats = conditional.run_d(disc, state.d, d_params, [(real,), (fake,)], d_drop_key)
        loss, metrics = paper_d_loss(conditional.Forward(batch, d_inputs, fake, d_fake, d_real))
        return loss, (stats, metrics)

    (_, (d_stats, d_metrics)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(state.d.params)
    d = netstate.update(state.d, netstate.adam(config), d_grads, d_stats)

    g_inputs = _inputs(g_input_key, n, config)

    def g_objective(g_params):
        fake, g_stats = netstate.apply(gen, state.g, train=True, params=g_params, **g_inputs)
        (d_fake,), d_stats = conditional.run_d(disc, d, d.params, [(fake,)], g_drop_key)
        loss, metrics = paper_g_loss(conditional.Forward(batch, g_inputs, fake, d_fake))
        return loss, (g_stats, d_stats, metrics)

    (_, (g_stats, d_stats, g_metrics)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(state.g.params)
    g = netstate.update(state.g, _g_tx(config), g_grads, g_stats)
    d = d.replace(batch_stats=d_stats)
    return state.replace(step=state.step + 1, g=g, d=d), {**d_metrics, **g_metrics}


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
