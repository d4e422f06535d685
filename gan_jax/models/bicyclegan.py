"""BicycleGAN: Zhu et al., "Toward Multimodal Image-to-Image Translation" (2017).

Paired translation A -> B where one input has many valid outputs (an edge map and its many shoe colourings). A latent
code z carries what A does not determine. Two cycles tie z to the output: cVAE-GAN encodes the real B into z (a
Gaussian pulled to N(0, I) by a KL term) and asks G(A, z) to rebuild B (L1) and fool a discriminator; cLR-GAN feeds a
random z, asks G(A, z) to fool a second discriminator, and asks the encoder to recover that z from the output (L1),
so the output must depend on z: different z, visibly different translations.

Networks (PyTorch-GAN ``implementations/bicyclegan/models.py``): G is a U-Net: z goes through Linear(latent_dim ->
H W) to one extra input channel; downs are conv3 stride 2 (no bias) -> BN -> LeakyReLU 0.2 (64, 128, 256, 512, 512,
512, 512; no BN on the first and last), ups are nearest-upsample -> conv3 -> BN -> ReLU, concatenated with the
mirror down's output, then upsample -> conv3 -> tanh. The encoder is ResNet-18's trunk up to layer3 (256 channels,
stride 16; torchvision's random init), average-pooled, then Linear to mu and to log variance. Two 3-scale PatchGAN
discriminators with BatchNorm (D_VAE and D_LR, :class:`gan_jax.nets.styles.MultiDiscriminator`). Losses: E and G
minimise LSGAN(D_VAE(G(A, E(B)))) + LSGAN(D_LR(G(A, z))) + ``lambda_pixel`` L1(G(A, E(B)), B) + ``lambda_kl`` KL;
G alone also minimises ``lambda_latent`` L1(mu(E(G(A, z))), z) (the script steps E before that term's backward).
Each D minimises the multi-scale MSE to 1 on B and 0 on the matching fakes. KL = 0.5 sum over the batch and the
dimensions of (exp(logvar) + mu^2 - logvar - 1), as the script (it grows with the batch size). N(0, 0.02) conv init
for G and both Ds. Adam(2e-4, 0.5, 0.999), batch 8, 128 px, latent_dim 8.

Deviations from PyTorch-GAN:
- its MultiDiscriminator pools with ``nn.AvgPool2d(in_channels, ...)``, an undefined name (DESIGN.md's bug list):
  the 3x3 pool munit's identical code uses.
- sizes other than 128: the U-Net has log2(size) levels (7 at 128, the script's; extra levels are 512 wide) and
  the encoder averages over all of layer3's output (the script's AvgPool2d(8) does exactly that at 128 px).
  ``d_scales`` (3 in the script) is a flag: fewer scales allow images below 64 px.
- ``BatchNorm2d(C, 0.8)`` = momentum 0.8, eps 1e-5 (DESIGN.md); ``translate`` runs BN on running averages.

Run:    python -m gan_jax.train --model bicyclegan   (offline sketch -> photo pairs, gan_jax/data/kinds/paired.py;
        PyTorch-GAN trains it on edges2shoes: python -m gan_jax.data.download edges2shoes, then --dataset DIR).
        A CPU-sized run: --img_height 64 --img_width 64 --batch_size 4.
Result: python -m benchmarks.multimodal --models bicyclegan: mean pairwise L1 between the outputs of one input under
        different z (> 0: multimodal), L1 to the target with the encoded z, Frechet distance to the target domain.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, styles
from gan_jax.nets import state as netstate

DATA = "paired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "BicycleGAN (Zhu 2017): multimodal paired translation, cVAE-GAN + cLR-GAN with a latent encoder"
DEFAULT_STEPS = 80  # a smoke run at the script's 128 px, batch 8: ~0.4 TFLOP a step (XLA cost analysis), ~7 s at
# ~60 GFLOP/s on 2 CPU cores (estimated, not timed).
N_SAMPLES = 4  # grid rows: an input A, then GRID_COLS - 1 outputs for random z
GRID_COLS = 8
WIDTHS = (64, 128, 256, 512)  # U-Net widths, then 512 for every further level
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision's ResNet conv init


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 8
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    img_height: int = 128
    img_width: int = 128
    channels: int = 3
    latent_dim: int = 8
    sample_interval: int = 400
    lambda_pixel: float = 10.0
    lambda_latent: float = 0.5
    lambda_kl: float = 0.01
    d_scales: int = 3  # not a flag in the script (fixed at 3)
    remat: bool = False  # rematerialise the U-Net's blocks in the backward pass

    @property
    def img_size(self) -> int:
        return self.img_height

    def min_size(self) -> int:
        return max(32, styles.multi_d_min_size(self.d_scales, "batch"))

    def validate(self):
        if self.img_height != self.img_width:
            raise ValueError(f"bicyclegan trains on square images: --img_height {self.img_height} != --img_width "
                             f"{self.img_width}")
        if self.d_scales <= 0:
            raise ValueError(f"--d_scales must be > 0, got {self.d_scales}")
        size = self.img_height
        if size < self.min_size() or size & (size - 1):
            raise ValueError(f"--img_height must be a power of 2 and at least {self.min_size()} for bicyclegan's "
                             f"U-Net and {self.d_scales}-scale discriminator, got {size}")


def unet_widths(size: int) -> list[int]:
    depth = int(math.log2(size))
    return [WIDTHS[i] if i < len(WIDTHS) else 512 for i in range(depth)]


class Down(nn.Module):
    features: int
    normalize: bool

    @nn.compact
    def __call__(self, x, train: bool):
        x = layers.Conv(self.features, 3, strides=2, padding=1, use_bias=False, kernel_init=layers.normal_002)(x)
        if self.normalize:
            x = layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x)
        return nn.leaky_relu(x, 0.2)


class Up(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x, skip, train: bool):
        x = layers.Conv(self.features, 3, padding=1, use_bias=False, kernel_init=layers.normal_002, upsample=2)(x)
        x = nn.relu(layers.batch_norm(train, scale_init=layers.bn_scale_normal)(x))
        return jnp.concatenate([x, skip], axis=-1)


class Generator(nn.Module):
    """(A [N, s, s, C], z [N, latent_dim]) -> B [N, s, s, C]."""

    channels: int
    remat: bool = False

    @nn.compact
    def __call__(self, x, z, train: bool):
        n, h, w, _ = x.shape
        z_map = layers.Dense(h * w, name="fc")(z).reshape(n, h, w, 1)
        down = nn.remat(Down, static_argnums=(2,)) if self.remat else Down
        up = nn.remat(Up, static_argnums=(3,)) if self.remat else Up
        widths = unet_widths(h)
        skips, out = [], jnp.concatenate([x, z_map], axis=-1)
        for i, width in enumerate(widths):
            out = down(width, normalize=0 < i < len(widths) - 1, name=f"down{i + 1}")(out, train)
            skips.append(out)
        for i, skip in enumerate(reversed(skips[:-1])):
            out = up(skip.shape[-1], name=f"up{i + 1}")(out, skip, train)
        out = layers.dcgan_conv(self.channels, 3, padding=1, upsample=2, name="final")(out)
        return jnp.tanh(out)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (BN momentum 0.1 -> Flax 0.9)."""

    features: int
    strides: int = 1

    @nn.compact
    def __call__(self, x, train: bool):
        conv = lambda f, k, s, p: layers.Conv(f, k, strides=s, padding=p, use_bias=False, kernel_init=kaiming_fan_out)
        y = nn.relu(layers.batch_norm(train, momentum=0.9)(conv(self.features, 3, self.strides, 1)(x)))
        y = layers.batch_norm(train, momentum=0.9)(conv(self.features, 3, 1, 1)(y))
        if self.strides != 1 or x.shape[-1] != self.features:
            x = layers.batch_norm(train, momentum=0.9)(conv(self.features, 1, self.strides, 0)(x))
        return nn.relu(x + y)


class Encoder(nn.Module):
    """B image -> (mu, logvar) [N, latent_dim]: ResNet-18 up to layer3, average pool, two Linear heads."""

    latent_dim: int

    @nn.compact
    def __call__(self, img, train: bool):
        x = layers.Conv(64, 7, strides=2, padding=3, use_bias=False, kernel_init=kaiming_fan_out)(img)
        x = nn.relu(layers.batch_norm(train, momentum=0.9)(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for width, strides in ((64, 1), (128, 2), (256, 2)):
            x = BasicBlock(width, strides)(x, train)
            x = BasicBlock(width)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return layers.Dense(self.latent_dim, name="fc_mu")(x), layers.Dense(self.latent_dim, name="fc_logvar")(x)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    e: netstate.Net
    d_vae: netstate.Net
    d_lr: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return (Generator(config.channels, config.remat), Encoder(config.latent_dim),
            styles.MultiDiscriminator("batch", config.d_scales))


def init(rng: jax.Array, config: Config) -> State:
    gen, enc, disc = _nets(config)
    tx = netstate.adam(config)
    keys = jax.random.split(rng, 4)
    img = jnp.zeros((2, config.img_height, config.img_width, config.channels))
    z = jnp.zeros((2, config.latent_dim))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, keys[0], img, z),
                 e=netstate.create(enc, tx, keys[1], img), d_vae=netstate.create(disc, tx, keys[2], img),
                 d_lr=netstate.create(disc, tx, keys[3], img), config=config)


def kl_divergence(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """bicyclegan.py's KL: 0.5 sum over batch and dimensions of exp(logvar) + mu^2 - logvar - 1."""
    return losses.kl_standard_normal(mu, logvar) * mu.shape[0]


def check_batch(batch: dict, config: Config):
    if "image_a" not in batch or "image_b" not in batch:
        raise ValueError(f"bicyclegan trains on paired {{'image_a', 'image_b'}} batches, got keys {sorted(batch)}")
    for key in ("image_a", "image_b"):
        styles.check_images(batch[key], config, minimum=config.min_size(), multiple=1, exact=True, what=key)
    return batch["image_a"], batch["image_b"]


def _chain(module, net: netstate.Net, params, calls):
    """``module`` (train mode) on each argument tuple in turn, threading BatchNorm statistics like PyTorch calls."""
    outs, stats = [], net.batch_stats
    for args in calls:
        out, stats = netstate.apply(module, net.replace(batch_stats=stats), *args, train=True, params=params)
        outs.append(out)
    return outs, stats


def generator_losses(state: State, params, real_a, real_b, rng):
    """(G params, E params) -> the script's loss_GE + loss_latent, where loss_latent reaches G only."""
    config = state.config
    gen, enc, disc = _nets(config)
    g_params, e_params = params
    eps_key, z_key = jax.random.split(rng)
    (mu, logvar), e_stats = netstate.apply(enc, state.e, real_b, train=True, params=e_params)
    encoded_z = mu + jnp.exp(logvar / 2) * jax.random.normal(eps_key, mu.shape)  # reparameterisation
    sampled_z = jax.random.normal(z_key, mu.shape)
    (fake_b, fake_b_lr), g_stats = _chain(gen, state.g, g_params, [(real_a, encoded_z), (real_a, sampled_z)])
    pixel = losses.l1_loss(fake_b, real_b)
    kl = kl_divergence(mu, logvar)
    (vae_scores,), d_vae_stats = _chain(disc, state.d_vae, state.d_vae.params, [(fake_b,)])
    (lr_scores,), d_lr_stats = _chain(disc, state.d_lr, state.d_lr.params, [(fake_b_lr,)])
    gan = styles.multi_mse(vae_scores, 1.0) + styles.multi_mse(lr_scores, 1.0)
    # latent regression: E recovers z from G(A, z); E's parameters are constants here (the script has stepped E)
    (mu_rec, _), e_stats = netstate.apply(enc, state.e.replace(batch_stats=e_stats), fake_b_lr, train=True,
                                          params=jax.lax.stop_gradient(e_params))
    latent = losses.l1_loss(mu_rec, sampled_z)
    loss = gan + config.lambda_pixel * pixel + config.lambda_kl * kl + config.lambda_latent * latent
    aux = {"fake_b": fake_b, "fake_b_lr": fake_b_lr, "stats": (g_stats, e_stats, d_vae_stats, d_lr_stats),
           "metrics": {"g_gan": gan, "g_pixel": pixel, "g_kl": kl, "g_latent": latent}}
    return loss, aux


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of G and E (cVAE-GAN + cLR-GAN + latent regression), then of D_VAE and D_LR."""
    config = state.config
    _, _, disc = _nets(config)
    tx = netstate.adam(config)
    real_a, real_b = check_batch(batch, config)
    (g_loss, aux), (g_grads, e_grads) = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, (state.g.params, state.e.params), real_a, real_b, rng)
    g_stats, e_stats, d_vae_stats, d_lr_stats = aux["stats"]
    g = netstate.update(state.g, tx, g_grads, g_stats)
    e = netstate.update(state.e, tx, e_grads, e_stats)

    def d_update(net, stats, fake):
        net = net.replace(batch_stats=stats)

        def d_loss_fn(params):
            (real_scores, fake_scores), new_stats = _chain(disc, net, params, [(real_b,), (fake,)])
            return styles.multi_mse(real_scores, 1.0) + styles.multi_mse(fake_scores, 0.0), new_stats

        (loss, new_stats), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(net.params)
        return netstate.update(net, tx, grads, new_stats), loss

    d_vae, loss_vae = d_update(state.d_vae, d_vae_stats, jax.lax.stop_gradient(aux["fake_b"]))
    d_lr, loss_lr = d_update(state.d_lr, d_lr_stats, jax.lax.stop_gradient(aux["fake_b_lr"]))
    metrics = {"g_loss": g_loss, "d_vae_loss": loss_vae, "d_lr_loss": loss_lr, **aux["metrics"]}
    return state.replace(step=state.step + 1, g=g, e=e, d_vae=d_vae, d_lr=d_lr), metrics


def translate(state: State, images: jax.Array, rng: jax.Array, direction: str = "AtoB",
              n_styles: int | None = None, references: jax.Array | None = None) -> jax.Array:
    """A images [N, s, s, C] in [-1, 1] -> B with z ~ N(0, I) (G's BatchNorm on running averages).

    ``n_styles=None``: one z per image, [N, s, s, C]; ``n_styles=K``: K codes shared by all inputs, [K, N, s, s, C].
    ``references``: K B images [K, s, s, C] whose codes, the encoder's means (the cVAE-GAN path), replace the random
    ones: [K, N, s, s, C], reference k's look on every input (``n_styles``, if given, must be K).
    BicycleGAN translates A -> B only.
    """
    config = state.config
    if direction != "AtoB":
        raise ValueError(f"bicyclegan translates A -> B only (direction 'AtoB'), got {direction!r}")
    styles.check_images(images, config, minimum=config.min_size(), multiple=1, exact=True)
    gen, _, _ = _nets(config)
    n = images.shape[0]
    if references is None and n_styles is None:
        z = jax.random.normal(rng, (n, config.latent_dim))
        return netstate.apply(gen, state.g, images, z, train=False)[0]
    if references is not None:
        styles.check_images(references, config, minimum=config.min_size(), multiple=1, exact=True, what="reference")
        n_styles = styles.reference_count(n_styles, references)
        codes = encode(state, references)[0]
    else:
        codes = jax.random.normal(rng, (n_styles, config.latent_dim))
    out = netstate.apply(gen, state.g, jnp.tile(images, (n_styles, 1, 1, 1)), jnp.repeat(codes, n, axis=0),
                         train=False)[0]
    return out.reshape(n_styles, n, *out.shape[1:])


def encode(state: State, images_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The encoder's (mu, logvar) of B images (BatchNorm on running averages)."""
    _, enc, _ = _nets(state.config)
    return netstate.apply(enc, state.e, images_b, train=False)[0]


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """Each row: an A image, then GRID_COLS - 1 translations with random z (the script's grid)."""
    a = batch["image_a"]
    fakes = translate(state, a, rng, n_styles=GRID_COLS - 1)
    return jnp.concatenate([a[None], fakes], axis=0).swapaxes(0, 1).reshape(-1, *a.shape[1:])
