"""ClusterGAN: Mukherjee et al., "ClusterGAN: Latent Space Clustering in Generative Adversarial Networks" (2019).

Networks (PyTorch-GAN ``implementations/cluster_gan/clustergan.py``), for 28x28 MNIST:
- G on z = [z_n (30, sigma_n N(0, I)), z_c (one-hot of 10 clusters)]: Linear 1024 -> BN -> LeakyReLU 0.2 -> Linear
  128 x 7 x 7 -> BN -> LeakyReLU -> ConvTranspose 4x4/2 64 -> BN -> LeakyReLU -> ConvTranspose 4x4/2 1 -> Sigmoid.
- Encoder E: conv 4x4/2 64 -> LeakyReLU -> conv 4x4/2 128 -> LeakyReLU -> Linear 1024 -> LeakyReLU -> Linear to
  (z_n, z_c logits); z_c = softmax(logits) is the image's soft cluster assignment.
- D: E's trunk with a Linear to one logit.
Losses: G and E together minimise BCE(D(G(z)), 1) + 10 MSE(E_n(G(z)), z_n) + 10 CE(E_c(G(z)), c) (with --wass_flag,
mean critic score instead of BCE); D minimises 1/2 [BCE(D(x), 1) + BCE(D(G(z)), 0)] (--wass_flag: the WGAN critic
loss + 10 x gradient penalty). D updates every step, G and E every ``n_critic`` (5) steps, all on the images G made
at the start of the step. Init: N(0, 0.02) weights, zero biases (``initialize_weights``). Optimizers:
Adam(1e-4, 0.5, 0.9) for D, and for G and E the same with PyTorch's L2 ``weight_decay`` 2.5e-5. Batch 64.
Clustering: :func:`cluster` (argmax of E's z_c) on real images.

Deviations from PyTorch-GAN:
- The script runs D's backward pass through G's weights after ``optimizer_GE.step()`` changed them in place (a
  crash on current PyTorch; DESIGN.md's bug list). The intent, ported: D trains on D(x) and D(G(z)) with G(z) the
  images generated at the start of the iteration, detached (D's loss never reaches G).
- G's Sigmoid maps to [0, 1], the range of the script's data (ToTensor, no Normalize); the project's images are
  in [-1, 1], so G ends in 2 sigmoid - 1 (the same network, its output rescaled like the data).
- D emits a logit, its Sigmoid fused into the BCE. With --wass_flag the critic's sign convention is WGAN's (high
  on real; the script's is high on fake): the same losses with D negated.
- The script's constants (n_c, betan, betac, b1, b2, decay, channels) are flags here with its values as defaults;
  its flag ``-l/--lr`` keeps the name ``lr``. Images of any size divisible by 4 (>= 12), not only 28.
- BatchNorm: PyTorch's momentum 0.1 (Flax 0.9); the script has no eps/momentum bug here.
- z_n's scale ``--sigma_n`` defaults to the paper's and its authors' code's 0.10, not the script's 0.75 (its
  ``sample_z``; pass ``--sigma_n 0.75`` for it). The paper chooses a small sigma so that the one-hot part, not z_n,
  carries the cluster: with 0.75 the Gaussian part is wide enough to hold the digit identity. Measured on the CPU
  (``benchmarks.conditional``): encoder purity on test digits 0.316 with 0.10 vs 0.204 with 0.75 after 3,000 steps;
  0.308 with 0.10 after 8,000. Neither is near the paper's (its authors train 500,000 iterations of WGAN-GP).
  With ``--wass_flag`` (the authors' WGAN-GP) and sigma 0.10, 60,398 steps on an H200 give purity 0.830 / NMI 0.795
  / ARI 0.734 against 0.578 / 0.538 / 0.351 for k-means on the pixels (0.598, 0.762 at 20,000, 40,000 steps): the
  setting to use for clustering; ``python -m gan_jax.train --model cluster_gan --wass_flag true --steps 60000``.

Run:    python -m gan_jax.train --model cluster_gan
        python -m gan_jax.sample --run runs/cluster_gan --labels 0,1,2,3,4,5,6,7,8,9 --n 100 --cols 10  (clusters)
Result: ``python -m benchmarks.conditional --models cluster_gan`` (benchmarks/out/conditional.md): purity, NMI and ARI
        of real test digits clustered by E, against k-means on the raw pixels.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import conditional, layers
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "ClusterGAN (Mukherjee 2019): one-hot + Gaussian latent, an encoder that clusters real images"
DEFAULT_STEPS = 3000  # the quick CPU run; --n_epochs 200 is PyTorch-GAN's length
GRID_COLS = 10  # sample grids: one row per cluster
N_SAMPLES = 100
LAMBDA_GP = 10.0  # calc_gradient_penalty's LAMBDA (--wass_flag)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    img_size: int = 28
    latent_dim: int = 30
    lr: float = 0.0001
    n_critic: int = 5
    wass_flag: bool = False
    n_c: int = 10
    betan: float = 10.0
    betac: float = 10.0
    b1: float = 0.5
    b2: float = 0.9
    decay: float = 2.5e-5
    sigma_n: float = 0.1  # z_n = sigma_n N(0, I): the paper's 0.10 (the script's sample_z: 0.75); module docstring
    channels: int = 1
    sample_interval: int = 400

    def validate(self):
        if self.img_size % 4 or self.img_size < 12:
            raise ValueError(f"--img_size must be a multiple of 4 and >= 12 for this model, got {self.img_size}")
        if self.n_c <= 0:
            raise ValueError(f"--n_c must be > 0, got {self.n_c}")
        if not self.sigma_n > 0:
            raise ValueError(f"--sigma_n (the scale of z_n) must be > 0, got {self.sigma_n}")


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    e: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _dense(features):
    return layers.Dense(features, kernel_init=layers.normal_002)


def _conv(features):
    return layers.Conv(features, 4, strides=2, kernel_init=layers.normal_002)


class Generator(nn.Module):
    img_size: int
    channels: int

    @nn.compact
    def __call__(self, zn, zc, train: bool):
        s = self.img_size // 4
        x = jnp.concatenate([zn, zc], axis=-1)
        for features in (1024, 128 * s * s):
            x = nn.leaky_relu(layers.batch_norm(train, momentum=0.9)(_dense(features)(x)), 0.2)
        x = x.reshape((x.shape[0], s, s, 128))
        x = layers.ConvTranspose(64, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
        x = nn.leaky_relu(layers.batch_norm(train, momentum=0.9)(x), 0.2)
        x = layers.ConvTranspose(self.channels, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
        return 2.0 * nn.sigmoid(x) - 1.0


class Trunk(nn.Module):
    """E's and D's shared layout: conv 4x4/2 64, conv 4x4/2 128 (no padding), Linear 1024, LeakyReLU 0.2 each."""

    @nn.compact
    def __call__(self, img):
        x = nn.leaky_relu(_conv(64)(img), 0.2)
        x = nn.leaky_relu(_conv(128)(x), 0.2)
        return nn.leaky_relu(_dense(1024)(x.reshape((x.shape[0], -1))), 0.2)


class Encoder(nn.Module):
    """Image -> (z_n [N, latent_dim], z_c logits [N, n_c]); softmax(logits) is the cluster assignment."""

    latent_dim: int
    n_c: int

    @nn.compact
    def __call__(self, img, train: bool):
        z = _dense(self.latent_dim + self.n_c)(Trunk()(img))
        return z[:, :self.latent_dim], z[:, self.latent_dim:]


class Discriminator(nn.Module):
    @nn.compact
    def __call__(self, img, train: bool):
        return _dense(1)(Trunk()(img))[:, 0]


def _nets(config: Config):
    return (Generator(config.img_size, config.channels), Encoder(config.latent_dim, config.n_c), Discriminator())


def _ge_tx(config: Config) -> optax.GradientTransformation:
    """``Adam(lr, (b1, b2), weight_decay=decay)``: PyTorch's coupled L2 (decay x param added to the gradient)."""
    return optax.chain(optax.add_decayed_weights(config.decay), netstate.adam(config))


def initialize_weights(params):
    """The script's ``initialize_weights``: Linear/Conv/ConvTranspose biases 0 (their weights are N(0, 0.02) from
    ``kernel_init``); BatchNorm keeps scale 1, bias 0."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if path[-1].key == "bias" else x, params)


def _inputs(key: jax.Array, n: int, config: Config, labels=None) -> tuple[dict, jax.Array]:
    """(G's inputs {'zn', 'zc'}, the cluster indices): the script's sample_z, z_n scaled by ``sigma_n``."""
    zn_key, c_key = jax.random.split(key)
    if labels is None:
        labels = jax.random.randint(c_key, (n,), 0, config.n_c)
    zn = config.sigma_n * netstate.latent(zn_key, n, config.latent_dim)
    return {"zn": zn, "zc": jax.nn.one_hot(labels, config.n_c)}, labels


def init(rng: jax.Array, config: Config) -> State:
    gen, enc, disc = _nets(config)
    g_key, e_key, d_key = jax.random.split(rng, 3)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    g = netstate.create(gen, _ge_tx(config), g_key, zn=jnp.zeros((2, config.latent_dim)),
                        zc=jnp.zeros((2, config.n_c)))
    e = netstate.create(enc, _ge_tx(config), e_key, img)
    d = netstate.create(disc, netstate.adam(config), d_key, img)
    g, e, d = (net.replace(params=initialize_weights(net.params)) for net in (g, e, d))
    return State(step=jnp.zeros((), jnp.int32), g=g, e=e, d=d, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """G(z) on fresh z; on every ``n_critic``-th step (0, n_critic, ...) the G + E update; then the D update on the
    real batch and the images G made at the start of the step."""
    config = state.config
    gen, enc, disc = _nets(config)
    ge_tx = _ge_tx(config)
    real_BxHxWxC = batch["image"]
    input_key, gp_key = jax.random.split(rng)
    inputs, idx = _inputs(input_key, real_BxHxWxC.shape[0], config)

    def ge_objective(params):
        fake, g_stats = netstate.apply(gen, state.g, train=True, params=params["g"], **inputs)
        d_fake, _ = netstate.apply(disc, state.d, fake, train=True)
        (enc_zn, enc_zc_logits), _ = netstate.apply(enc, state.e, fake, train=True, params=params["e"])
        zn_loss = losses.mse_loss(enc_zn, inputs["zn"])
        zc_loss = losses.classification_loss(enc_zc_logits, idx)
        adversarial = losses.wasserstein_g_loss(d_fake) if config.wass_flag else losses.nonsaturating_g_loss(d_fake)
        loss = adversarial + config.betan * zn_loss + config.betac * zc_loss
        return loss, (fake, g_stats, {"ge_loss": loss, "zn_loss": zn_loss, "zc_loss": zc_loss})

    params = {"g": state.g.params, "e": state.e.params}

    # G and E update on every n_critic-th step. Both branches are computed and one is selected: XLA:CPU runs
    # convolutions inside a lax.cond ~20x slower than outside one (measured: 950 vs 90 ms a step), and the gradient
    # costs less than that. The forward-only branch keeps G's new BatchNorm statistics, as the script's G always
    # runs in train mode.
    (_, (fake, g_stats, metrics)), grads = jax.value_and_grad(ge_objective, has_aux=True)(params)
    updated = (netstate.update(state.g, ge_tx, grads["g"], g_stats), netstate.update(state.e, ge_tx, grads["e"]))
    kept = (state.g.replace(batch_stats=g_stats), state.e)
    g, e = jax.tree.map(lambda u, k: jnp.where(state.step % config.n_critic == 0, u, k), updated, kept)
    fake = jax.lax.stop_gradient(fake)

    def d_objective(d_params):
        def critic(x):
            return netstate.apply(disc, state.d, x, train=True, params=d_params)[0]

        if config.wass_flag:
            penalty = losses.wgan_gp_penalty(critic, real_BxHxWxC, fake, gp_key)
            loss = losses.wasserstein_critic_loss(critic(real_BxHxWxC), critic(fake)) + LAMBDA_GP * penalty
            return loss, {"d_loss": loss, "gradient_penalty": penalty}
        loss = losses.minimax_d_loss(critic(real_BxHxWxC), critic(fake))
        return loss, {"d_loss": loss}

    (_, d_metrics), d_grads = jax.value_and_grad(d_objective, has_aux=True)(state.d.params)
    d = netstate.update(state.d, netstate.adam(config), d_grads)
    return state.replace(step=state.step + 1, g=g, e=e, d=d), {**metrics, **d_metrics}


def generate(state: State, rng: jax.Array, n: int, labels=None) -> jax.Array:
    """``n`` images in [-1, 1], NHWC, from the clusters ``labels`` (int or ints [n] in [0, n_c); default uniform).
    Cluster k is whatever mode G put there: not digit k."""
    config = state.config
    if labels is not None:
        labels = conditional.check_labels(labels, n, config.n_c, what="cluster")
    inputs, _ = _inputs(rng, n, config, labels)
    return conditional.generate(_nets(config)[0], state.g, inputs)


def encode(state: State, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """E's (z_n [N, latent_dim], cluster probabilities softmax(z_c logits) [N, n_c]) for images in [-1, 1]."""
    enc = _nets(state.config)[1]
    zn, zc_logits = netstate.apply(enc, state.e, images, train=False)[0]
    return zn, jax.nn.softmax(zc_logits, axis=-1)


def cluster(state: State, images: jax.Array) -> jax.Array:
    """The cluster of each image: argmax of E's z_c, int [N]."""
    return jnp.argmax(encode(state, images)[1], axis=-1)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The training grid: one row per cluster (the script's gen_classes grid), ``GRID_COLS`` samples each."""
    labels = conditional.class_rows(state.config.n_c, GRID_COLS)
    return generate(state, rng, len(labels), labels=labels)
