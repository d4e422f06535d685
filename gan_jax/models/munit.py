"""MUNIT: Huang, Liu, Belongie & Kautz, "Multimodal Unsupervised Image-to-Image Translation" (2018).

Each image is split into a *content* code (spatial, shared by both domains) and a *style* code (a small vector,
specific to its domain). Translating A -> B keeps A's content and draws a style of B from N(0, I): a different style
code gives a different, equally plausible output, so one input has many translations. The decoder injects the style
through Adaptive Instance Normalisation: an MLP maps the style code to the scale and shift of every normalisation
layer in the decoder's residual blocks.

Networks (PyTorch-GAN ``implementations/munit/models.py``), per domain: content encoder = reflect conv7 ``dim`` ->
IN -> ReLU, ``n_downsample`` x [conv4 stride 2 -> IN -> ReLU] (doubling), ``n_residual`` IN residual blocks; style
encoder = reflect conv7 -> ReLU, 2 x [conv4 stride 2 -> ReLU] (doubling), ``n_downsample - 2`` more at constant
width, global average pool, conv1 to ``style_dim``; decoder = ``n_residual`` AdaIN residual blocks, ``n_downsample``
x [nearest upsample 2 -> conv5 -> LayerNorm -> ReLU], reflect conv7 -> tanh, with MLP(style_dim -> 256 -> 256 ->
4 * width * n_residual) giving the AdaIN parameters. D per domain: 3-scale PatchGAN with InstanceNorm
(:class:`gan_jax.nets.styles.MultiDiscriminator`). Losses (the script's weights): G (both encoders and decoders, one
Adam) minimises LSGAN on the translations (1) + within-domain reconstruction L1 (10) + style reconstruction of the
sampled style from the translation (1) + content reconstruction of the translation's content against the
(constant) source content (1); the script's cycle weight is 0, so no cycle term is computed. Each D minimises the
multi-scale MSE to 1 on real, 0 on translated images. N(0, 0.02) conv init. Adam(1e-4, 0.5, 0.999), batch 1, 128 px.

Deviations from PyTorch-GAN:
- ``d_scales`` (3, the script's fixed number of discriminator scales) is a flag: fewer scales allow smaller images
  (the coarsest scale's last InstanceNorm needs 2x2 maps: side >= 2^(d_scales + 4), 128 for 3).
- ``translate`` draws styles from N(0, I), the training prior (the script's sample grid uses U(-1, 1)), or, given
  ``references``, encodes them from images of the target domain (the paper's example-guided translation, which the
  script does not offer).
- the script's LR decay (constant for ``decay_epoch`` epochs, then linear to 0 at ``n_epochs``, every optimizer)
  needs the epoch length: ``steps_per_epoch`` (ours; ``python -m gan_jax.train`` fills it in from the dataset; 0,
  the Config default for Python callers, means no decay). ``netstate.adam_epoch_decay``.
- ``remat``: the residual blocks of encoders and decoders are rematerialised in the backward pass.

Run:    python -m gan_jax.train --model munit   (offline photo -> poster domains, each poster with its own colour
        cast: ``offline_tints``, gan_jax/data/kinds/unpaired.py; PyTorch-GAN trains it on edges2shoes: --dataset
        DIR). A CPU-sized run: --img_height 64 --img_width 64 --d_scales 2 --dim 32. Why ``offline_tints`` and not
        ``offline`` (the other unpaired models' default): MUNIT assumes a target domain whose style varies apart from
        its content; in ``offline`` a poster is a fixed function of its photo, so a random style can only move a
        translation off B (``--dataset offline`` still trains on it).
Result: python -m benchmarks.multimodal --models munit [--curve 500]: mean pairwise L1 between several styles of
        one input (> 0 means multimodal) and Frechet distance of translations to the target domain
        (benchmarks/out/multimodal.md), with random styles (mean of 5 draws) and with the styles of real B images.
        RESULTS.md: on offline_tints at 64 px on the CPU, random styles differ (0.23-0.37, init 0.039) and land
        in B at every checkpoint from 1,000 to 3,000 steps (FD 0.055-0.086 against the inputs' 0.096); on
        offline, by how far the checkpoint happens to be (0.053-0.124 at 1,500-2,000 steps against 0.068).
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
DEFAULT_DATASET = "offline_tints"  # see the docstring: a target domain with styles apart from content
DESCRIPTION = "MUNIT (Huang 2018): multimodal unpaired translation, content/style codes joined by AdaIN"
DEFAULT_STEPS = 80  # a smoke run at the script's 128 px, batch 1: 311 GFLOP a step (XLA's count), 1.0-2.4 s a step
# on the project's 2-core CPUs (benchmarks/RESULTS.md, speed).
N_SAMPLES = 4  # grid rows: an input image, then GRID_COLS - 1 translations with random styles
GRID_COLS = 8
LAMBDA_GAN, LAMBDA_ID, LAMBDA_STYLE, LAMBDA_CONTENT = 1.0, 10.0, 1.0, 1.0  # munit.py (lambda_cyc = 0)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 1
    lr: float = 0.0001
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100
    img_height: int = 128
    img_width: int = 128
    channels: int = 3
    sample_interval: int = 400
    n_downsample: int = 2
    n_residual: int = 3
    dim: int = 64
    style_dim: int = 8
    d_scales: int = 3  # not a flag in the script (fixed at 3)
    steps_per_epoch: int = 0  # ours: the epoch length the LR decay counts in (0: no decay)
    remat: bool = False

    @property
    def img_size(self) -> int:
        return self.img_height

    def min_size(self) -> int:
        return styles.multi_d_min_size(self.d_scales, "instance")

    def multiple(self) -> int:
        return 2 ** max(self.n_downsample, 2)

    def validate(self):
        if self.img_height != self.img_width:
            raise ValueError(f"munit trains on square images: --img_height {self.img_height} != --img_width "
                             f"{self.img_width}")
        if min(self.d_scales, self.style_dim, self.dim) <= 0 or self.n_downsample < 0 or self.n_residual < 0:
            raise ValueError("--d_scales, --style_dim, --dim must be > 0; --n_downsample, --n_residual >= 0")
        styles.check_image_size(self.img_height, self.min_size(), self.multiple())
        netstate.check_epoch_decay(self)


def _block(remat: bool):
    return nn.remat(styles.ResidualBlock) if remat else styles.ResidualBlock


class ContentEncoder(nn.Module):
    dim: int
    n_downsample: int
    n_residual: int
    remat: bool

    @nn.compact
    def __call__(self, x):
        x = nn.relu(patchgan.instance_norm()(styles.reflect_conv(self.dim, 7, x)))
        dim = self.dim
        for _ in range(self.n_downsample):
            dim *= 2
            x = nn.relu(patchgan.instance_norm()(layers.dcgan_conv(dim, 4, strides=2, padding=1)(x)))
        for i in range(self.n_residual):
            x = _block(self.remat)(dim, name=f"ResidualBlock_{i}")(x)
        return x


class StyleEncoder(nn.Module):
    dim: int
    n_downsample: int
    style_dim: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(styles.reflect_conv(self.dim, 7, x))
        dim = self.dim
        for i in range(max(self.n_downsample, 2)):
            dim = dim * 2 if i < 2 else dim
            x = nn.relu(layers.dcgan_conv(dim, 4, strides=2, padding=1)(x))
        x = jnp.mean(x, axis=(1, 2))  # AdaptiveAvgPool2d(1)
        return layers.dcgan_conv(self.style_dim, 1)(x[:, None, None, :])[:, 0, 0, :]


class Decoder(nn.Module):
    channels: int
    dim: int
    n_upsample: int
    n_residual: int
    remat: bool

    @nn.compact
    def __call__(self, content, style):
        dim = self.dim * 2 ** self.n_upsample
        adain_params = styles.MLP(4 * dim * self.n_residual, name="mlp")(style)  # per block: shift, scale x 2
        x = content
        for i in range(self.n_residual):
            x = _block(self.remat)(dim, name=f"ResidualBlock_{i}")(x, adain_params[:, 4 * dim * i:4 * dim * (i + 1)])
        for _ in range(self.n_upsample):
            dim //= 2
            x = layers.dcgan_conv(dim, 5, padding=2, upsample=2)(x)
            x = nn.relu(styles.LayerNorm()(x))
        return jnp.tanh(styles.reflect_conv(self.channels, 7, x))


class Translators(nn.Module):
    """Content/style encoders and decoders of both domains (0 = A, 1 = B)."""

    config: Config

    def setup(self):
        c = self.config
        self.content = [ContentEncoder(c.dim, c.n_downsample, c.n_residual, c.remat) for _ in range(2)]
        self.style = [StyleEncoder(c.dim, c.n_downsample, c.style_dim) for _ in range(2)]
        self.decoders = [Decoder(c.channels, c.dim, c.n_downsample, c.n_residual, c.remat) for _ in range(2)]

    def encode(self, x, domain: int):
        """(content [N, h, w, C'], style [N, style_dim])."""
        return self.content[domain](x), self.style[domain](x)

    def decode(self, content, style, domain: int):
        return self.decoders[domain](content, style)

    def __call__(self, x_a, x_b, train: bool = True):  # every parameter, for init
        (c_a, s_a), (c_b, s_b) = self.encode(x_a, 0), self.encode(x_b, 1)
        return self.decode(c_b, s_a, 0), self.decode(c_a, s_b, 1)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net  # both domains' encoders and decoders (the script's one optimizer)
    d_a: netstate.Net
    d_b: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return Translators(config), styles.MultiDiscriminator("instance", config.d_scales)


def init(rng: jax.Array, config: Config) -> State:
    trans, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    g_key, a_key, b_key = jax.random.split(rng, 3)
    img = jnp.zeros((1, config.img_height, config.img_width, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(trans, tx, g_key, img, img),
                 d_a=netstate.create(disc, tx, a_key, img), d_b=netstate.create(disc, tx, b_key, img), config=config)


def check_batch(batch: dict, config: Config):
    if "image_a" not in batch or "image_b" not in batch:
        raise ValueError(f"this model trains on unpaired {{'image_a', 'image_b'}} batches, got keys {sorted(batch)}")
    for key in ("image_a", "image_b"):
        styles.check_images(batch[key], config, minimum=config.min_size(), multiple=config.multiple(), exact=True,
                            what=key)
    return batch["image_a"], batch["image_b"]


def sample_styles(rng: jax.Array, n: int, config: Config) -> jax.Array:
    """Style codes ~ N(0, I): [n, style_dim]."""
    return jax.random.normal(rng, (n, config.style_dim), jnp.float32)


def generator_losses(state: State, g_params, x_a, x_b, rng):
    """munit.py's G objective and its parts; rng draws the two sampled styles."""
    trans, disc = _nets(state.config)
    run = lambda method, *args: trans.apply({"params": g_params}, *args, method=method)
    key_a, key_b = jax.random.split(rng)
    style_a, style_b = sample_styles(key_a, x_a.shape[0], state.config), sample_styles(key_b, x_b.shape[0],
                                                                                      state.config)
    (c_a, s_a), (c_b, s_b) = run(Translators.encode, x_a, 0), run(Translators.encode, x_b, 1)
    recon_a, recon_b = run(Translators.decode, c_a, s_a, 0), run(Translators.decode, c_b, s_b, 1)
    fake_a, fake_b = run(Translators.decode, c_b, style_a, 0), run(Translators.decode, c_a, style_b, 1)
    (c_ba, s_ba), (c_ab, s_ab) = run(Translators.encode, fake_a, 0), run(Translators.encode, fake_b, 1)
    gan = (styles.multi_mse(disc.apply({"params": state.d_a.params}, fake_a, True), 1.0)
           + styles.multi_mse(disc.apply({"params": state.d_b.params}, fake_b, True), 1.0))
    recon = losses.l1_loss(recon_a, x_a) + losses.l1_loss(recon_b, x_b)
    style = losses.l1_loss(s_ba, style_a) + losses.l1_loss(s_ab, style_b)
    content = (losses.l1_loss(c_ab, jax.lax.stop_gradient(c_a)) + losses.l1_loss(c_ba, jax.lax.stop_gradient(c_b)))
    loss = LAMBDA_GAN * gan + LAMBDA_ID * recon + LAMBDA_STYLE * style + LAMBDA_CONTENT * content
    return loss, {"fake_a": fake_a, "fake_b": fake_b, "g_gan": gan, "g_recon": recon, "g_style": style,
                  "g_content": content}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of all encoders and decoders, then one of each domain's multi-scale D."""
    config = state.config
    _, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    x_a, x_b = check_batch(batch, config)
    (g_loss, aux), grads = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, state.g.params, x_a, x_b, rng)
    g = netstate.update(state.g, tx, grads)

    def d_loss(params, real, fake):
        scores = lambda x: disc.apply({"params": params}, x, True)
        return styles.multi_mse(scores(real), 1.0) + styles.multi_mse(scores(fake), 0.0)

    d_a, d_b, loss_a, loss_b = _two_way.update_discriminators(state, tx, d_loss, x_a, aux["fake_a"], x_b,
                                                              aux["fake_b"])
    metrics = {"g_loss": g_loss, "d_loss": loss_a + loss_b, **{k: v for k, v in aux.items() if k.startswith("g_")}}
    return state.replace(step=state.step + 1, g=g, d_a=d_a, d_b=d_b), metrics


def translate(state: State, images: jax.Array, rng: jax.Array, direction: str = "AtoB",
              n_styles: int | None = None, references: jax.Array | None = None) -> jax.Array:
    """Images of one domain [N, H, W, C] in [-1, 1] -> the other domain with styles drawn from N(0, I).

    ``n_styles=None``: one style per image, [N, H, W, C]; ``n_styles=K``: K styles for every image,
    [K, N, H, W, C] (the same K style codes for every input, so column k shares a style). ``direction``:
    'AtoB' or 'BtoA'. ``references`` (example-guided translation, the paper's section 3): K images of the
    *target* domain [K, H', W', C] whose styles, read by that domain's style encoder, replace the random ones; the
    result is [K, N, H, W, C], reference k's style on every input (``n_styles``, if given, must be K).
    """
    config = state.config
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
    styles.check_images(images, config, minimum=config.min_size(), multiple=config.multiple())
    trans, _ = _nets(config)
    source = 0 if direction == "AtoB" else 1
    run = lambda method, *args: trans.apply({"params": state.g.params}, *args, method=method)
    content, _ = run(Translators.encode, images, source)
    n = images.shape[0]
    if references is None and n_styles is None:
        return run(Translators.decode, content, sample_styles(rng, n, config), 1 - source)
    if references is not None:
        styles.check_images(references, config, minimum=config.min_size(), multiple=config.multiple(),
                            what="reference")
        n_styles = styles.reference_count(n_styles, references)
        codes = run(Translators.encode, references, 1 - source)[1]
    else:
        codes = sample_styles(rng, n_styles, config)
    content = jnp.tile(content, (n_styles, 1, 1, 1))  # one decoder pass over all K x N pairs (style k: rows k*N..)
    out = run(Translators.decode, content, jnp.repeat(codes, n, axis=0), 1 - source)
    return out.reshape(n_styles, n, *out.shape[1:])


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """Each row: an A image, then GRID_COLS - 1 translations to B with random styles (the script's grid)."""
    a = batch["image_a"]
    fakes = translate(state, a, rng, "AtoB", n_styles=GRID_COLS - 1)  # [K, N, ...]
    rows = jnp.concatenate([a[None], fakes], axis=0).swapaxes(0, 1)  # [N, 1 + K, ...]
    return rows.reshape(-1, *a.shape[1:])
