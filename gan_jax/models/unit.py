"""UNIT: Liu, Breuel & Kautz, "Unsupervised Image-to-Image Translation Networks" (2017).

Two domains share one latent space: each domain has a VAE encoder and a generator, and their last encoder block and
first generator block are *shared* weights, so a code from domain A decodes as an image of domain B. Trained without
pairs: VAE reconstruction within each domain, a GAN per domain on translated images, and cycle reconstruction
A -> B -> A through the shared space, with a KL term pulling codes toward N(0, I).

Networks (PyTorch-GAN ``implementations/unit/models.py``): encoder = reflect-pad conv7 ``dim`` -> InstanceNorm ->
LeakyReLU 0.2, ``n_downsample`` x [conv4 stride 2 -> IN -> ReLU], 3 residual blocks (reflect conv3, IN), then the
shared residual block -> mu; z = mu + N(0, I) (unit variance: the KL is mean(mu^2)). Generator = the shared residual
block, 3 residual blocks, ``n_downsample`` x [transposed conv4 stride 2 -> IN -> LeakyReLU 0.2], reflect conv7 ->
tanh. D per domain: PatchGAN of conv4 stride 2 blocks (64, 128, 256, 512; IN from the second; LeakyReLU 0.2) and a
conv3 to one score per 16 x 16 patch. Losses (weights lambda_0..4 = 10, 0.1, 100, 0.1, 100 in the script): G (both
encoders and generators, one Adam) minimises 10 LSGAN(D_A(G_A(z_B))) + 10 LSGAN(D_B(G_B(z_A))) + 0.1 KL(mu_A) +
0.1 KL(mu_B) + 100 L1 reconstructions + 0.1 KL of the re-encoded translations + 100 L1 cycles; each D minimises
MSE(D(real), 1) + MSE(D(translated), 0). Init N(0, 0.02) convolutions. Adam(1e-4, 0.5, 0.999), batch 1, 256 px.

Deviations from PyTorch-GAN:
- the script's LR decay (constant for ``decay_epoch`` epochs, then linear to 0 at ``n_epochs``, every optimizer)
  needs the epoch length: ``steps_per_epoch`` (ours; ``python -m gan_jax.train`` fills it in from the dataset; 0,
  the Config default for Python callers, means no decay). ``netstate.adam_epoch_decay``.
- the script's data augmentation (resize x1.12, random crop, flip) is the data kind's business, not the model's.
- ``remat``: each residual block is rematerialised in the backward pass (memory for compute).

Run:    python -m gan_jax.train --model unit   (offline photo -> poster domains, gan_jax/data/kinds/unpaired.py;
        --dataset DIR or tfds:cycle_gan/apple2orange, PyTorch-GAN's default). 256 px is ~1.5 TFLOP a step (~25 s
        on a 2-core CPU); a CPU-sized run: --img_height 64 --img_width 64 --dim 32.
Result: python -m benchmarks.multimodal --models unit: cycle L1 falls over training; Frechet distance of translations
        to the target domain (benchmarks/out/multimodal.md); peak memory at 256 px with and without --remat.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.models import _two_way
from gan_jax.nets import layers, patchgan, styles
from gan_jax.nets import state as netstate

DATA = "unpaired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "UNIT (Liu 2017): unpaired translation through a shared latent space (coupled VAE-GANs)"
DEFAULT_STEPS = 20  # a smoke run at the script's 256 px, batch 1: ~1.5 TFLOP a step (XLA cost analysis), ~25 s at
# ~60 GFLOP/s on 2 CPU cores (estimated, not timed). See Run: for a CPU size.
N_SAMPLES = 4
GRID_COLS = 4  # rows: A | A -> B | B | B -> A (the script's grid)
LAMBDA_GAN, LAMBDA_KL, LAMBDA_ID, LAMBDA_KL_TRANSLATED, LAMBDA_CYCLE = 10.0, 0.1, 100.0, 0.1, 100.0
N_RESIDUAL = 3  # models.py's residual blocks per encoder / generator


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 1
    lr: float = 0.0001
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100
    img_height: int = 256
    img_width: int = 256
    channels: int = 3
    sample_interval: int = 100
    n_downsample: int = 2
    dim: int = 64
    steps_per_epoch: int = 0  # ours: the epoch length the LR decay counts in (0: no decay)
    remat: bool = False

    @property
    def img_size(self) -> int:
        return self.img_height

    def min_size(self) -> int:
        return max(32, 2 ** self.n_downsample)  # D halves four times and its last InstanceNorm needs 2x2 maps

    def multiple(self) -> int:
        return max(16, 2 ** self.n_downsample)  # G's down/up-sampling must give back the input size

    def validate(self):
        if self.img_height != self.img_width:
            raise ValueError(f"unit trains on square images: --img_height {self.img_height} != --img_width "
                             f"{self.img_width}")
        styles.check_image_size(self.img_height, self.min_size(), self.multiple())
        if self.n_downsample < 0 or self.dim <= 0:
            raise ValueError("--n_downsample must be >= 0 and --dim > 0")
        netstate.check_epoch_decay(self)


def _block(remat: bool):
    return nn.remat(styles.ResidualBlock) if remat else styles.ResidualBlock


class Encoder(nn.Module):
    dim: int
    n_downsample: int
    remat: bool

    @nn.compact
    def __call__(self, x):
        x = nn.leaky_relu(patchgan.instance_norm()(styles.reflect_conv(self.dim, 7, x)), 0.2)
        dim = self.dim
        for _ in range(self.n_downsample):
            dim *= 2
            x = nn.relu(patchgan.instance_norm()(layers.dcgan_conv(dim, 4, strides=2, padding=1)(x)))
        for i in range(N_RESIDUAL):
            x = _block(self.remat)(dim, name=f"ResidualBlock_{i}")(x)
        return x


class Generator(nn.Module):
    channels: int
    dim: int
    n_upsample: int
    remat: bool

    @nn.compact
    def __call__(self, x):
        dim = self.dim * 2 ** self.n_upsample
        for i in range(N_RESIDUAL):
            x = _block(self.remat)(dim, name=f"ResidualBlock_{i}")(x)
        for _ in range(self.n_upsample):
            dim //= 2
            x = layers.ConvTranspose(dim, 4, strides=2, padding=1, kernel_init=layers.normal_002)(x)
            x = nn.leaky_relu(patchgan.instance_norm()(x), 0.2)
        return jnp.tanh(styles.reflect_conv(self.channels, 7, x))


class Translators(nn.Module):
    """E_A, E_B, G_A, G_B and the shared blocks; domain 0 = A, 1 = B."""

    channels: int
    dim: int
    n_downsample: int
    remat: bool = False

    def setup(self):
        shared = self.dim * 2 ** self.n_downsample
        self.encoders = [Encoder(self.dim, self.n_downsample, self.remat) for _ in range(2)]
        self.generators = [Generator(self.channels, self.dim, self.n_downsample, self.remat) for _ in range(2)]
        self.shared_e = styles.ResidualBlock(shared)
        self.shared_g = styles.ResidualBlock(shared)

    def encode(self, x, domain: int):
        """mu of the shared latent code (the reparameterised z = mu + N(0, I) is drawn by the caller)."""
        return self.shared_e(self.encoders[domain](x))

    def decode(self, z, domain: int):
        return self.generators[domain](self.shared_g(z))

    def __call__(self, x_a, x_b, train: bool = True):  # every parameter, for init
        return self.decode(self.encode(x_a, 0), 1), self.decode(self.encode(x_b, 1), 0)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net  # both encoders and generators (the script's one optimizer)
    d_a: netstate.Net
    d_b: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return Translators(config.channels, config.dim, config.n_downsample, config.remat), styles.PatchD("instance")


def init(rng: jax.Array, config: Config) -> State:
    trans, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    g_key, a_key, b_key = jax.random.split(rng, 3)
    img = jnp.zeros((1, config.img_height, config.img_width, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(trans, tx, g_key, img, img),
                 d_a=netstate.create(disc, tx, a_key, img), d_b=netstate.create(disc, tx, b_key, img), config=config)


def kl(mu: jax.Array) -> jax.Array:
    """unit.py's compute_kl: mean(mu^2) (KL to N(0, I) of a unit-variance Gaussian, up to a constant factor)."""
    return jnp.mean(jnp.square(mu))


def check_batch(batch: dict, config: Config):
    if "image_a" not in batch or "image_b" not in batch:
        raise ValueError(f"this model trains on unpaired {{'image_a', 'image_b'}} batches, got keys {sorted(batch)}")
    for key in ("image_a", "image_b"):
        styles.check_images(batch[key], config, minimum=config.min_size(), multiple=config.multiple(), exact=True,
                            what=key)
    return batch["image_a"], batch["image_b"]


def generator_losses(state: State, g_params, x_a, x_b, rng):
    """The G objective of unit.py and its parts; rng draws the four reparameterisation noises."""
    trans, disc = _nets(state.config)

    def run(method, *args):
        return trans.apply({"params": g_params}, *args, method=method)

    keys = jax.random.split(rng, 4)
    noise = lambda k, mu: mu + jax.random.normal(k, mu.shape, mu.dtype)
    mu_a, mu_b = run(Translators.encode, x_a, 0), run(Translators.encode, x_b, 1)
    z_a, z_b = noise(keys[0], mu_a), noise(keys[1], mu_b)
    recon_a, recon_b = run(Translators.decode, z_a, 0), run(Translators.decode, z_b, 1)
    fake_a, fake_b = run(Translators.decode, z_b, 0), run(Translators.decode, z_a, 1)  # B -> A, A -> B
    mu_a_, mu_b_ = run(Translators.encode, fake_a, 0), run(Translators.encode, fake_b, 1)
    cycle_a = run(Translators.decode, noise(keys[3], mu_b_), 0)  # A -> B -> A
    cycle_b = run(Translators.decode, noise(keys[2], mu_a_), 1)  # B -> A -> B
    gan = (losses.least_squares_g_loss(disc.apply({"params": state.d_a.params}, fake_a, True))
           + losses.least_squares_g_loss(disc.apply({"params": state.d_b.params}, fake_b, True)))
    kl_real, kl_fake = kl(mu_a) + kl(mu_b), kl(mu_a_) + kl(mu_b_)
    recon = losses.l1_loss(recon_a, x_a) + losses.l1_loss(recon_b, x_b)
    cycle = losses.cycle_consistency_loss(cycle_a, x_a) + losses.cycle_consistency_loss(cycle_b, x_b)
    loss = (LAMBDA_GAN * gan + LAMBDA_KL * kl_real + LAMBDA_ID * recon + LAMBDA_KL_TRANSLATED * kl_fake
            + LAMBDA_CYCLE * cycle)
    return loss, {"fake_a": fake_a, "fake_b": fake_b, "g_gan": gan, "g_kl": kl_real, "g_recon": recon,
                  "g_cycle": cycle}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of both encoders and generators, then one of each domain's D on the translations made before it."""
    config = state.config
    _, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    x_a, x_b = check_batch(batch, config)
    (g_loss, aux), grads = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, state.g.params, x_a, x_b, rng)
    g = netstate.update(state.g, tx, grads)

    def d_loss(params, real, fake):
        scores = lambda x: disc.apply({"params": params}, x, True)
        return 2.0 * losses.least_squares_d_loss(scores(real), scores(fake))  # the script's sum, unhalved

    d_a, d_b, loss_a, loss_b = _two_way.update_discriminators(state, tx, d_loss, x_a, aux["fake_a"], x_b,
                                                              aux["fake_b"])
    metrics = {"g_loss": g_loss, "d_loss": loss_a + loss_b,
               **{k: v for k, v in aux.items() if k.startswith("g_")}}
    return state.replace(step=state.step + 1, g=g, d_a=d_a, d_b=d_b), metrics


def translate(state: State, images: jax.Array, rng: jax.Array, direction: str = "AtoB") -> jax.Array:
    """Images of one domain [N, H, W, C] in [-1, 1] -> the other domain (z = mu + N(0, I) from ``rng``, as the
    script's samples). ``direction``: 'AtoB' or 'BtoA'."""
    config = state.config
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    styles.check_images(images, config, minimum=config.min_size(), multiple=config.multiple())
    trans, _ = _nets(config)
    source = 0 if direction == "AtoB" else 1
    mu = trans.apply({"params": state.g.params}, images, source, method=Translators.encode)
    z = mu + jax.random.normal(rng, mu.shape, mu.dtype)
    return trans.apply({"params": state.g.params}, z, 1 - source, method=Translators.decode)


def cycle(state: State, images_a: jax.Array, rng: jax.Array) -> jax.Array:
    """A -> B -> A reconstructions (what the cycle loss compares with the input)."""
    k1, k2 = jax.random.split(rng)
    return translate(state, translate(state, images_a, k1, "AtoB"), k2, "BtoA")


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    k1, k2 = jax.random.split(rng)
    a, b = batch["image_a"], batch["image_b"]
    return jnp.concatenate([a, translate(state, a, k1, "AtoB"), b, translate(state, b, k2, "BtoA")])
