"""AAE: Makhzani et al., "Adversarial Autoencoders" (2015).

Networks (PyTorch-GAN ``implementations/aae/aae.py``): an MLP encoder image -> 512 -> 512 (BatchNorm) -> (mu,
logvar) with the reparameterised code z = mu + exp(logvar / 2) * eps, an MLP decoder z -> 512 -> 512 (BatchNorm) ->
image (tanh), LeakyReLU 0.2 throughout, and an MLP discriminator on the *latent code* z -> 512 -> 256 -> 1. The
encoder/decoder minimise 0.999 L1(decoded, x) + 0.001 BCE(D(z), real): reconstruct, and make the aggregate code
distribution q(z) look like the prior N(0, I) to D; D learns prior samples (real) from codes (fake). New images are
decoder(z), z ~ N(0, I). PyTorch's default initialisation; Adam(2e-4, 0.5, 0.999), batch 64, latent 10, 32x32 MNIST.

Deviations from PyTorch-GAN:
- D emits a logit and the loss applies the sigmoid (its Sigmoid + BCELoss, fused for stability).
- The encoder and decoder keep one Adam state each; the script chains their parameters into one Adam, which is the
  same update (Adam is per parameter).
- Samples decode with BatchNorm on its running averages (the script never calls ``eval()``).
- ``BatchNorm1d(512)`` is PyTorch's momentum 0.1 (Flax 0.9); no eps/momentum bug in this script.

Run:    python -m gan_jax.train --model aae
Result: ``python -m benchmarks.domain --models aae`` measures reconstruction error, prior samples (Frechet distance
        on the project's MNIST classifier) and how close the aggregate code is to N(0, I); see
        benchmarks/out/domain.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers
from gan_jax.nets import state as netstate

DATA = "images"
DESCRIPTION = "Adversarial Autoencoder (Makhzani 2015): MLP autoencoder, adversarial prior matching of its code"
DEFAULT_STEPS = 3000  # the quick CPU run (about 2 minutes); --n_epochs 200 is PyTorch-GAN's length
N_SAMPLES = 100  # the script's 10 x 10 grid of decoded prior samples
LAMBDA_ADV = 0.001  # aae.py's loss weights (not flags there)
LAMBDA_PIXEL = 0.999


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 10
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 400


class Encoder(nn.Module):
    """Image -> (mu, logvar), each [N, latent_dim]."""

    latent_dim: int

    @nn.compact
    def __call__(self, img, train: bool):
        x = img.reshape((img.shape[0], -1))
        x = nn.leaky_relu(layers.Dense(512)(x), 0.2)
        x = nn.leaky_relu(layers.batch_norm(train, momentum=0.9)(layers.Dense(512)(x)), 0.2)
        return layers.Dense(self.latent_dim, name="mu")(x), layers.Dense(self.latent_dim, name="logvar")(x)


class Decoder(nn.Module):
    img_shape: tuple[int, int, int]

    @nn.compact
    def __call__(self, z, train: bool):
        x = nn.leaky_relu(layers.Dense(512)(z), 0.2)
        x = nn.leaky_relu(layers.batch_norm(train, momentum=0.9)(layers.Dense(512)(x)), 0.2)
        x = jnp.tanh(layers.Dense(int(np.prod(self.img_shape)))(x))
        return x.reshape((z.shape[0], *self.img_shape))


class Discriminator(nn.Module):
    """Code z -> logit (prior sample or encoded image?)."""

    @nn.compact
    def __call__(self, z, train: bool = True):
        x = nn.leaky_relu(layers.Dense(512)(z), 0.2)
        x = nn.leaky_relu(layers.Dense(256)(x), 0.2)
        return layers.Dense(1)(x)[:, 0]


@struct.dataclass
class State:
    step: jax.Array
    encoder: netstate.Net
    decoder: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return (Encoder(config.latent_dim), Decoder((config.img_size, config.img_size, config.channels)),
            Discriminator())


def init(rng: jax.Array, config: Config) -> State:
    enc, dec, disc = _nets(config)
    tx = netstate.adam(config)
    e_key, g_key, d_key = jax.random.split(rng, 3)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    z = jnp.zeros((2, config.latent_dim))
    return State(step=jnp.zeros((), jnp.int32), encoder=netstate.create(enc, tx, e_key, img),
                 decoder=netstate.create(dec, tx, g_key, z), d=netstate.create(disc, tx, d_key, z), config=config)


def reparameterize(mu: jax.Array, logvar: jax.Array, rng: jax.Array) -> jax.Array:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (aae.py's ``reparameterization``)."""
    return mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape, mu.dtype)


def autoencoder_losses(state: State, params: tuple, images: jax.Array, rng: jax.Array):
    """The encoder/decoder objective at ``params`` = (encoder params, decoder params).

    Returns ``(loss, aux)``: loss = LAMBDA_ADV * adversarial + LAMBDA_PIXEL * L1 reconstruction; aux holds both terms,
    the codes z and the new BatchNorm statistics. The adversarial term reaches only the encoder (D judges z).
    """
    enc, dec, disc = _nets(state.config)
    enc_params, dec_params = params
    (mu, logvar), e_stats = netstate.apply(enc, state.encoder, images, train=True, params=enc_params)
    z = reparameterize(mu, logvar, rng)
    decoded, d_stats = netstate.apply(dec, state.decoder, z, train=True, params=dec_params)
    adv = losses.nonsaturating_g_loss(netstate.apply(disc, state.d, z, train=True)[0])
    pixel = losses.l1_loss(decoded, images)
    loss = LAMBDA_ADV * adv + LAMBDA_PIXEL * pixel
    return loss, {"adv": adv, "pixel": pixel, "z": z, "e_stats": e_stats, "d_stats": d_stats}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One encoder/decoder update, then one D update on prior samples (real) vs the codes of that update (fake)."""
    config = state.config
    _, _, disc = _nets(config)
    tx = netstate.adam(config)
    real_BxHxWxC = batch["image"]
    eps_key, prior_key = jax.random.split(rng)

    params = (state.encoder.params, state.decoder.params)
    (g_loss, aux), (e_grads, dec_grads) = jax.value_and_grad(autoencoder_losses, argnums=1, has_aux=True)(
        state, params, real_BxHxWxC, eps_key)
    encoder = netstate.update(state.encoder, tx, e_grads, aux["e_stats"])
    decoder = netstate.update(state.decoder, tx, dec_grads, aux["d_stats"])
    z_fake = jax.lax.stop_gradient(aux["z"])
    z_prior = netstate.latent(prior_key, real_BxHxWxC.shape[0], config.latent_dim)

    def d_loss_fn(d_params):
        prior_logits, _ = netstate.apply(disc, state.d, z_prior, train=True, params=d_params)
        code_logits, _ = netstate.apply(disc, state.d, z_fake, train=True, params=d_params)
        return losses.minimax_d_loss(prior_logits, code_logits)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.d.params)
    d = netstate.update(state.d, tx, d_grads)
    metrics = {"d_loss": d_loss, "g_loss": g_loss, "g_adv": aux["adv"], "g_pixel": aux["pixel"],
               "z_mean": jnp.mean(z_fake), "z_std": jnp.mean(jnp.std(z_fake, axis=0))}
    return state.replace(step=state.step + 1, encoder=encoder, decoder=decoder, d=d), metrics


def encode(state: State, images: jax.Array, rng: jax.Array) -> jax.Array:
    """Codes z [N, latent_dim] of images in [-1, 1] (BatchNorm on its running averages, sampled as in training)."""
    enc, _, _ = _nets(state.config)
    (mu, logvar), _ = netstate.apply(enc, state.encoder, images, train=False)
    return reparameterize(mu, logvar, rng)


def decode(state: State, z: jax.Array) -> jax.Array:
    _, dec, _ = _nets(state.config)
    return netstate.apply(dec, state.decoder, z, train=False)[0]


def reconstruct(state: State, images: jax.Array, rng: jax.Array) -> jax.Array:
    return decode(state, encode(state, images, rng))


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC: decoded prior samples z ~ N(0, I)."""
    return decode(state, netstate.latent(rng, n, state.config.latent_dim))
