"""StarGAN: Choi et al., "StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image
Translation" (2018).

One generator translates an image to any combination of binary attributes: the target attribute vector is tiled
over the image and stacked on its channels. The discriminator is a WGAN-GP critic with a second head, an attribute
classifier: D learns to classify real images' attributes, and G is trained so that D's classifier reads the
*requested* attributes on its output, while translating back to the original attributes must rebuild the input (a
cycle L1), which keeps everything but the attributes.

Networks (PyTorch-GAN ``implementations/stargan/models.py``): G = conv7 64 -> IN (affine) -> ReLU, 2 x [conv4
stride 2 -> IN -> ReLU] (128, 256), ``residual_blocks`` x [conv3 -> IN -> ReLU -> conv3 -> IN] + x, 2 x [transposed
conv4 stride 2 -> IN -> ReLU], conv7 -> tanh (no biases before IN). D = ``n_strided`` (6) x [conv4 stride 2 ->
LeakyReLU 0.01] (64 ... 2048), then conv3 -> one score per patch, and a conv of the remaining size -> c_dim logits.
Losses: D minimises -mean D(x) + mean D(G(x, c)) + ``lambda_gp`` GP + ``lambda_cls`` BCE(cls(x), attrs(x)); G
minimises -mean D(G(x, c)) + ``lambda_cls`` BCE(cls(G(x, c)), c) + ``lambda_rec`` L1(G(G(x, c), attrs(x)), x),
c ~ U{0, 1}^c_dim. The BCE is summed over attributes and averaged over images (the script's criterion_cls).
N(0, 0.02) conv init. Adam(2e-4, 0.5, 0.999), batch 16, 128 px, n_critic 5.

n_critic: the script updates D on every batch and G on every ``n_critic``-th. Here one ``train_step`` is one such
cycle: it takes ``n_critic`` batches at once (``loader_batch_size``), scans D updates over them (fully unrolled
``lax.scan``, as gan_jax.nets.wasserstein: XLA:CPU runs convolutions in a loop body or ``lax.cond`` ~30x slower),
then updates G on the last batch with its sampled attributes. Same ratio and data use as the script; the G update
comes after a group of D updates instead of after the first of the group.

Deviations from PyTorch-GAN:
- InstanceNorm uses each image's statistics always (the script's ``track_running_stats`` buffers are never used:
  it never calls ``eval()``).
- ``n_strided`` (the script's Discriminator argument, 6) is a flag, so small images (> = 2^n_strided) can train.
- ``decay_epoch`` is parsed and unused, as in the script.
- ``selected_attrs`` defaults to the offline set's five attributes (the default dataset); PyTorch-GAN's CelebA
  default (Black_Hair, Blond_Hair, Brown_Hair, Male, Young) is one flag away, and its sample grid's hair-colour rule
  (setting one hair colour clears the others) applies whenever those names are selected.

Run:    python -m gan_jax.train --model stargan   (offline photo crops with 5 applied attributes,
        gan_jax/data/kinds/attributes.py; --dataset img_align_celeba/ or tfds:celeb_a for CelebA).
        A CPU-sized run: --img_height 32 --img_width 32 --n_strided 4 --residual_blocks 2. CelebA as the script:
        --dataset img_align_celeba/ --selected_attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young.
Result: python -m benchmarks.multimodal --models stargan: how often D's own classifier reads a flipped attribute on
        translated test images (benchmarks/out/multimodal.md).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, styles
from gan_jax.nets import state as netstate
from gan_jax.nets import wasserstein

DATA = "attributes"
DEFAULT_DATASET = "offline"
DESCRIPTION = "StarGAN (Choi 2018): multi-attribute translation, WGAN-GP critic with an attribute classifier"
DEFAULT_STEPS = 8  # a smoke run: one step = 5 critic updates + 1 G update at 128 px, batch 16, ~4.3 TFLOP (XLA cost
# analysis; the 2048-wide critic dominates), ~70 s at ~60 GFLOP/s on 2 CPU cores (estimated, not timed).
N_SAMPLES = 4
GRID_COLS = 4  # rows: the inputs, then one row per selected attribute flipped
HAIR = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")  # exclusive: setting one clears the others


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 16
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100  # parsed, unused (as in the script)
    img_height: int = 128
    img_width: int = 128
    channels: int = 3
    sample_interval: int = 400
    residual_blocks: int = 6
    # PyTorch-GAN's default is Black_Hair,Blond_Hair,Brown_Hair,Male,Young (CelebA); the default here names the
    # attributes of the default (offline) dataset. With CelebA, pass --selected_attrs as the script does.
    selected_attrs: tuple[str, ...] = ("Grayscale", "Warm", "Blurred", "Noisy", "Bright")
    n_critic: int = 5
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    n_strided: int = 6  # the script's Discriminator(n_strided=6), not a flag there
    remat: bool = False

    @property
    def img_size(self) -> int:
        return self.img_height

    @property
    def c_dim(self) -> int:
        return len(self.selected_attrs)

    def validate(self):
        if self.img_height != self.img_width:
            raise ValueError(f"stargan trains on square images: --img_height {self.img_height} != --img_width "
                             f"{self.img_width}")
        if not self.selected_attrs:
            raise ValueError("--selected_attrs must name at least one attribute")
        if self.n_strided <= 0 or self.residual_blocks < 0:
            raise ValueError("--n_strided must be > 0 and --residual_blocks >= 0")
        styles.check_image_size(self.img_height, 2 ** self.n_strided, 2 ** self.n_strided)


def instance_norm():
    """``InstanceNorm2d(C, affine=True)``: per-image statistics, learned scale (1) and shift (0)."""
    return nn.InstanceNorm(epsilon=1e-5)


def conv(features, kernel, strides=1, padding=0, use_bias=False, name=None, polyphase_input_grad=False):
    return layers.Conv(features, kernel, strides=strides, padding=padding, use_bias=use_bias,
                       kernel_init=layers.normal_002, name=name, polyphase_input_grad=polyphase_input_grad)


class ResidualBlock(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        y = nn.relu(instance_norm()(conv(self.features, 3, padding=1)(x)))
        return x + instance_norm()(conv(self.features, 3, padding=1)(y))


class Generator(nn.Module):
    """(image [N, s, s, C], attributes [N, c_dim]) -> image with those attributes."""

    channels: int
    residual_blocks: int
    remat: bool = False

    @nn.compact
    def __call__(self, x, c, train: bool = True):
        n, h, w, _ = x.shape
        x = jnp.concatenate([x, jnp.broadcast_to(c[:, None, None, :], (n, h, w, c.shape[-1]))], axis=-1)
        x = nn.relu(instance_norm()(conv(64, 7, padding=3)(x)))
        for width in (128, 256):
            x = nn.relu(instance_norm()(conv(width, 4, strides=2, padding=1)(x)))
        block = nn.remat(ResidualBlock) if self.remat else ResidualBlock
        for i in range(self.residual_blocks):
            x = block(256, name=f"ResidualBlock_{i}")(x)
        for width in (128, 64):
            x = layers.ConvTranspose(width, 4, strides=2, padding=1, use_bias=False, kernel_init=layers.normal_002)(x)
            x = nn.relu(instance_norm()(x))
        return jnp.tanh(conv(self.channels, 7, padding=3, use_bias=True)(x))


class Discriminator(nn.Module):
    """Image -> (patch scores [N, s/2^n, s/2^n, 1], attribute logits [N, c_dim])."""

    c_dim: int
    n_strided: int = 6

    @nn.compact
    def __call__(self, img, train: bool = True):
        x = img
        for i in range(self.n_strided):
            # the gradient penalty differentiates these convolutions' input gradients: see layers.Conv
            x = nn.leaky_relu(conv(64 * 2**i, 4, strides=2, padding=1, use_bias=True, polyphase_input_grad=True)(x),
                              0.01)
        scores = conv(1, 3, padding=1, name="out1")(x)
        logits = conv(self.c_dim, x.shape[1], name="out2")(x)  # VALID: kernel = the remaining size -> 1 x 1
        return scores, logits.reshape(logits.shape[0], -1)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    return Generator(config.channels, config.residual_blocks, config.remat), \
        Discriminator(config.c_dim, config.n_strided)


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    g_key, d_key = jax.random.split(rng)
    img = jnp.zeros((2, config.img_height, config.img_width, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, img, jnp.zeros((2, config.c_dim))),
                 d=netstate.create(disc, tx, d_key, img), config=config)


def loader_batch_size(config: Config) -> int:
    """Rows one train_step consumes: ``n_critic`` batches (one per D update)."""
    return wasserstein.loader_batch_size(config)


def classification_loss(logits: jax.Array, attrs: jax.Array) -> jax.Array:
    """stargan.py's criterion_cls: BCE with logits summed over attributes, averaged over images."""
    return losses.bce_with_logits(logits, attrs) * logits.shape[-1]


def check_batch(batch: dict, config: Config):
    if "image" not in batch or "attrs" not in batch:
        raise ValueError(f"stargan trains on {{'image', 'attrs'}} batches (data kind 'attributes'), got keys "
                         f"{sorted(batch)}")
    images, attrs = batch["image"], batch["attrs"]
    styles.check_images(images, config, minimum=2 ** config.n_strided, multiple=1, exact=True)
    if attrs.shape != (images.shape[0], config.c_dim):
        raise ValueError(f"expected attrs [{images.shape[0]}, {config.c_dim}] (one value per selected attribute: "
                         f"{', '.join(config.selected_attrs)}), got {tuple(attrs.shape)}")
    n, b = config.n_critic, config.batch_size
    split = lambda x: jnp.swapaxes(x.reshape(b, n, *x.shape[1:]), 0, 1)
    return wasserstein.critic_batches(images, config), split(attrs.astype(jnp.float32))


def random_attrs(rng: jax.Array, n: int, c_dim: int) -> jax.Array:
    """Target attributes c ~ U{0, 1}^c_dim (``np.random.randint(0, 2, ...)``)."""
    return jax.random.bernoulli(rng, 0.5, (n, c_dim)).astype(jnp.float32)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """``n_critic`` critic updates (one per batch, unrolled scan), then one G update on the last batch."""
    config = state.config
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    images_KxB, attrs_KxB = check_batch(batch, config)
    keys = jax.random.split(rng, config.n_critic)

    def critic_update(d, xs):
        real, attrs, key = xs
        c_key, gp_key = jax.random.split(key)
        target = random_attrs(c_key, config.batch_size, config.c_dim)
        fake = jax.lax.stop_gradient(gen.apply({"params": state.g.params}, real, target))

        def loss_fn(params):
            run = lambda x: disc.apply({"params": params}, x)
            (real_scores, real_logits), (fake_scores, _) = run(real), run(fake)
            gp = losses.wgan_gp_penalty(lambda x: run(x)[0], real, fake, gp_key)
            adv = losses.wasserstein_critic_loss(real_scores, fake_scores) + config.lambda_gp * gp
            cls = classification_loss(real_logits, attrs)
            acc = jnp.mean((real_logits > 0) == (attrs > 0.5))
            return adv + config.lambda_cls * cls, {"d_adv": adv, "d_cls": cls, "d_gp": gp, "d_cls_acc": acc}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
        return netstate.update(d, tx, grads), ({"d_loss": loss, **metrics}, target)

    d, (critic_metrics, targets) = jax.lax.scan(critic_update, state.d, (images_KxB, attrs_KxB, keys), unroll=True)
    real, attrs, target = images_KxB[-1], attrs_KxB[-1], targets[-1]

    def g_loss_fn(params):
        fake = gen.apply({"params": params}, real, target)
        recovered = gen.apply({"params": params}, fake, attrs)
        scores, logits = disc.apply({"params": d.params}, fake)
        adv, cls = losses.wasserstein_g_loss(scores), classification_loss(logits, target)
        rec = losses.l1_loss(recovered, real)
        return adv + config.lambda_cls * cls + config.lambda_rec * rec, {"g_adv": adv, "g_cls": cls, "g_rec": rec}

    (g_loss, g_metrics), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, grads)
    metrics = {name: values[-1] for name, values in critic_metrics.items()}
    return state.replace(step=state.step + 1, g=g, d=d), {**metrics, "g_loss": g_loss, **g_metrics}


def check_attrs(attrs, n: int, config: Config) -> jax.Array:
    """``attrs`` ([c_dim] for every image, or [n, c_dim]) in {0, 1} as float32 [n, c_dim]."""
    attrs = jnp.asarray(attrs, jnp.float32)
    if attrs.ndim not in (1, 2) or attrs.shape[-1] != config.c_dim or (attrs.ndim == 2 and attrs.shape[0] != n):
        raise ValueError(f"attrs must be [{config.c_dim}] or [{n}, {config.c_dim}] (one value per attribute: "
                         f"{', '.join(config.selected_attrs)}), got shape {tuple(attrs.shape)}")
    return jnp.broadcast_to(attrs, (n, config.c_dim))


def translate(state: State, images: jax.Array, rng: jax.Array | None = None, *, attrs) -> jax.Array:
    """Images [N, s, s, C] in [-1, 1] -> the same images with attributes ``attrs`` (0/1 per selected attribute,
    [c_dim] or [N, c_dim], in ``config.selected_attrs`` order). ``rng`` is unused (G is deterministic)."""
    config = state.config
    styles.check_images(images, config, minimum=2 ** config.n_strided, multiple=4)
    gen, _ = _nets(config)
    return gen.apply({"params": state.g.params}, images, check_attrs(attrs, images.shape[0], config))



def classify(state: State, images: jax.Array) -> jax.Array:
    """D's auxiliary attribute logits [N, c_dim] (> 0: attribute present)."""
    _, disc = _nets(state.config)
    return disc.apply({"params": state.d.params}, images)[1]


def set_attribute(attrs: jax.Array, i: int, on: bool, names: tuple[str, ...]) -> jax.Array:
    """``attrs`` with attribute i set to ``on``; setting a hair colour clears the other hair colours (the script's
    label_changes)."""
    if on and names[i] in HAIR:
        attrs = jnp.where(np.array([n in HAIR and j != i for j, n in enumerate(names)]), 0.0, attrs)
    return attrs.at[:, i].set(float(on))


def flip(attrs: jax.Array, i: int, names: tuple[str, ...]) -> jax.Array:
    """``attrs`` with attribute i flipped; a hair colour is always set (the script's label_changes)."""
    if names[i] in HAIR:
        return set_attribute(attrs, i, True, names)
    return attrs.at[:, i].set(1.0 - attrs[:, i])


def attribute_targets(state: State, images: jax.Array, spec: str | None = None) -> dict[str, jax.Array]:
    """Target attributes for ``python -m gan_jax.translate --attrs SPEC``: {output suffix: attrs [N, c_dim]}.

    The starting point is each image's own attributes as D's auxiliary classifier reads them (logit > 0).
    ``spec`` "Blond_Hair,Male=0" sets the named attributes (a bare name means 1; a hair colour set to 1 clears the
    other hair colours, as the script's label_changes) and keeps the rest: one output. Without a spec, one output
    per selected attribute with that attribute flipped (the script's sample grid)."""
    names = state.config.selected_attrs
    current = (classify(state, images) > 0).astype(jnp.float32)
    if spec is None:
        return {name: flip(current, i, names) for i, name in enumerate(names)}
    target = current
    for item in (part.strip() for part in spec.split(",")):
        name, _, value = item.partition("=")
        if name not in names:
            raise ValueError(f"--attrs: unknown attribute {name!r}; this run's attributes: {', '.join(names)}")
        if value not in ("", "0", "1"):
            raise ValueError(f"--attrs: {item!r}: the value must be 0 or 1")
        target = set_attribute(target, names.index(name), value != "0", names)
    return {"attrs": target}


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """The inputs, then one row per selected attribute: each input with that attribute flipped."""
    config = state.config
    images, attrs = batch["image"][:N_SAMPLES], jnp.asarray(batch["attrs"][:N_SAMPLES], jnp.float32)
    rows = [images] + [translate(state, images, attrs=flip(attrs, i, config.selected_attrs))
                       for i in range(config.c_dim)]
    return jnp.concatenate(rows)
