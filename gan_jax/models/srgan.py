"""SRGAN: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network" (2017).

4x super-resolution: a residual generator (SRResNet) upscales a low-resolution image; a discriminator judges the
result against real high-resolution images, and a content loss compares VGG19 features of the two, so G is pushed
towards sharp, plausible detail rather than the blurry mean that a pixel loss rewards.

Networks (PyTorch-GAN ``implementations/srgan/models.py``): G = conv9 64 -> PReLU, ``residual_blocks`` (16) x
[conv3 -> BN -> PReLU -> conv3 -> BN, + x], conv3 -> BN + the first conv's output, 2 x [conv3 256 -> BN -> pixel
shuffle 2 -> PReLU], conv9 -> tanh. D: :class:`gan_jax.nets.rrdb.Discriminator` (HR / 16 patch scores). Content loss
L1 between ``vgg19.features[:18]`` (up to relu3_4) of G(lr) and of hr. G minimises content + 1e-3 MSE(D(G(lr)), 1);
D the least-squares loss (MSE(D(hr), 1) + MSE(D(G(lr)), 0)) / 2. Adam(2e-4, 0.5, 0.999), batch 4, 64 -> 256 px.

PSNR-oriented pre-training (the paper's SRResNet stage; not in PyTorch-GAN's script): for the first
``warmup_batches`` steps G minimises the pixel MSE alone and D is not updated. Default 0 = the script.

Deviations from PyTorch-GAN:
- images are in [-1, 1] (the project's range; G ends in tanh, which the script pairs with ImageNet-normalised
  targets, a range tanh cannot reach); the VGG input is normalised inside :mod:`gan_jax.nets.vgg`.
- ``BatchNorm2d(64, 0.8)`` is momentum 0.8 with eps 1e-5 (DESIGN.md); ``translate`` runs BN on running averages.
- ``hr_width`` is honoured (the script resizes to hr_height x hr_height); ``decay_epoch`` is parsed and unused, as
  in the script; ``residual_blocks`` is a flag here (the script hard-codes 16).
- the pre-training stage is selected with ``jnp.where`` on the step counter, not ``lax.cond`` (XLA:CPU runs
  convolutions inside a conditional ~30x slower, measured), so in ``train_step`` a warm-up step costs as much as an
  adversarial one. The engine therefore runs :func:`pretrain_step` (G and its pixel loss only, the same update) for
  the first ``warmup_batches`` steps: ~4x cheaper at the CPU size.
- ``--batch_norm false`` (not the script; default true) drops G's BatchNorm layers, as ESRGAN (Wang et al. 2018,
  section 3.1) and EDSR do for PSNR-oriented training. With them, the pixel-loss pre-training at the CPU size stays
  below bicubic (benchmarks/RESULTS.md); the script's BN after the upsampling convolutions, which the SRGAN paper's
  SRResNet does not have, costs most (measured: 25.7 dB with all of it, 26.5 without the upsampling BN, 27.4
  without any, at 2,000 steps).
- no pretrained VGG can be downloaded: ``--vgg_weights FILE`` (see gan_jax/nets/vgg.py); without it the content loss
  uses random VGG features and says so.

Run:    python -m gan_jax.train --model srgan    (offline HR photo crops; --dataset DIR for img_align_celeba/ or any
        HR folder). A CPU-sized run whose pre-training beats bicubic (benchmarks/RESULTS.md): --hr_height 64
        --hr_width 64 --residual_blocks 4 --batch_norm false --lr 0.0001 --b1 0.9 --warmup_batches 4000.
Result: python -m benchmarks.superres: PSNR/SSIM on held-out photo crops against bicubic upsampling, after the
        pre-training stage and after adversarial training (benchmarks/out/superres.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax import struct

from gan_jax import losses
from gan_jax.nets import layers, rrdb, vgg
from gan_jax.nets import state as netstate

DATA = "superres"
DEFAULT_DATASET = "offline"
DESCRIPTION = "SRGAN (Ledig 2017): 4x super-resolution, SRResNet + VGG content loss + adversarial loss"
DEFAULT_STEPS = 30  # a smoke run at the script's 256 px, batch 4: ~1 TFLOP a step (XLA cost analysis), ~17 s at
# ~60 GFLOP/s on 2 CPU cores (estimated: the shared machine was too loaded to time it). See Run: for a CPU size.
SCALE = 4
N_SAMPLES = 4
GRID_COLS = 4  # rows: LR (nearest-upsampled) | SR | HR
VGG_LAYERS = 18  # features[:18], up to relu3_4
LAMBDA_ADV = 1e-3  # srgan.py's loss weights (not flags there)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 4
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100  # parsed, unused (as in the script)
    hr_height: int = 256
    hr_width: int = 256
    channels: int = 3
    sample_interval: int = 100
    residual_blocks: int = 16
    warmup_batches: int = 0  # PSNR pre-training steps (pixel MSE only, no D update)
    vgg_weights: str = ""  # .npz of torchvision's VGG19 (gan_jax/nets/vgg.py); empty: random features
    remat: bool = False  # rematerialise each residual block in the backward pass
    batch_norm: bool = True  # False: G without BatchNorm (ESRGAN's and EDSR's finding for PSNR; not the script)

    @property
    def img_size(self) -> int:  # what the data loader sizes by
        return self.hr_height

    def validate(self):
        rrdb.check_hr_size(self.hr_height, self.hr_width)
        if self.residual_blocks < 0 or self.warmup_batches < 0:
            raise ValueError("--residual_blocks and --warmup_batches must be >= 0")


def _norm(use: bool, train: bool, momentum: float = 0.8):
    """G's BatchNorm, or nothing with ``--batch_norm false``."""
    return layers.batch_norm(train, momentum=momentum) if use else (lambda x: x)


class ResidualBlock(nn.Module):
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool):
        y = _norm(self.batch_norm, train)(layers.Conv(64, 3, padding=1)(x))
        y = nn.PReLU(negative_slope_init=0.25)(y)
        return x + _norm(self.batch_norm, train)(layers.Conv(64, 3, padding=1)(y))


class GeneratorResNet(nn.Module):
    """LR [N, h, w, C] -> SR [N, 4h, 4w, C] in [-1, 1]."""

    channels: int
    residual_blocks: int = 16
    remat: bool = False
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool):
        block = nn.remat(ResidualBlock, static_argnums=(2,)) if self.remat else ResidualBlock
        out1 = nn.PReLU(negative_slope_init=0.25)(layers.Conv(64, 9, padding=4)(x))
        out = out1
        for i in range(self.residual_blocks):
            out = block(self.batch_norm, name=f"ResidualBlock_{i}")(out, train)  # one tree with or without remat
        out = out1 + _norm(self.batch_norm, train)(layers.Conv(64, 3, padding=1)(out))
        for _ in range(2):
            out = _norm(self.batch_norm, train, 0.9)(layers.Conv(256, 3, padding=1)(out))
            out = nn.PReLU(negative_slope_init=0.25)(rrdb.pixel_shuffle(out, 2))
        return jnp.tanh(layers.Conv(self.channels, 9, padding=4)(out))


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net
    d: netstate.Net
    vgg: Any  # frozen VGG19 feature parameters (loaded or random), never trained
    config: Any = struct.field(pytree_node=False)


def _nets(config: Config):
    return (GeneratorResNet(config.channels, config.residual_blocks, config.remat, config.batch_norm),
            rrdb.Discriminator())


# ---- what srgan and esrgan share ----

def init_sr(rng: jax.Array, config, gen: nn.Module, disc: nn.Module, vgg_layers: int, name: str) -> State:
    tx = netstate.adam(config)
    g_key, d_key = jax.random.split(rng)
    hr = jnp.zeros((2, config.hr_height, config.hr_width, config.channels))
    lr = jnp.zeros((2, config.hr_height // SCALE, config.hr_width // SCALE, config.channels))
    return State(step=jnp.zeros((), jnp.int32), g=netstate.create(gen, tx, g_key, lr),
                 d=netstate.create(disc, tx, d_key, hr), vgg=vgg.params_for(config.vgg_weights, vgg_layers, name),
                 config=config)


def check_batch(batch: dict, config) -> tuple[jax.Array, jax.Array]:
    """(lr, hr) of a superres batch, with a clear error for the wrong kind or sizes."""
    if "lr" not in batch or "hr" not in batch:
        raise ValueError(f"super-resolution models train on {{'lr', 'hr'}} batches (data kind 'superres'), got keys "
                         f"{sorted(batch)}")
    lr, hr = batch["lr"], batch["hr"]
    want = (config.hr_height, config.hr_width, config.channels)
    if tuple(hr.shape[1:]) != want or tuple(lr.shape[1:]) != (want[0] // SCALE, want[1] // SCALE, want[2]):
        raise ValueError(f"expected hr [N, {want[0]}, {want[1]}, {want[2]}] and lr a quarter of it, got hr "
                         f"{tuple(hr.shape)} and lr {tuple(lr.shape)}")
    return lr, hr


def content_loss(vgg_params, sr, hr, vgg_layers: int) -> jax.Array:
    """L1 between VGG features of the SR image and of the (constant) HR image."""
    target = jax.lax.stop_gradient(vgg.features(vgg_params, hr, vgg_layers))
    return losses.l1_loss(vgg.features(vgg_params, sr, vgg_layers), target)


def sr_train_step(state: State, batch: dict, gen: nn.Module, disc: nn.Module, *, vgg_layers: int,
                  warmup_loss: Callable, g_loss: Callable, d_loss: Callable,
                  g_needs_real: bool) -> tuple[State, dict]:
    """One G update then one D update; during the first ``warmup_batches`` steps G minimises ``warmup_loss(sr, hr)``
    only and D keeps its parameters.

    ``g_loss(d_real, d_fake, content, sr, hr) -> (loss, metrics)`` with D's scores on hr (constant; None unless
    ``g_needs_real``: the relativistic loss needs them, srgan's does not) and on G(lr); ``d_loss(d_real, d_fake)``.
    """
    config = state.config
    tx = netstate.adam(config)
    lr, hr = check_batch(batch, config)
    warm = state.step < config.warmup_batches

    def g_objective(g_params):
        sr, g_stats = netstate.apply(gen, state.g, lr, train=True, params=g_params)
        outs, d_stats = _run_d(disc, state.d, state.d.params, (hr, sr) if g_needs_real else (sr,))
        d_real = jax.lax.stop_gradient(outs[0]) if g_needs_real else None
        content = content_loss(state.vgg, sr, hr, vgg_layers)
        adv_loss, metrics = g_loss(d_real, outs[-1], content, sr, hr)
        pixel = warmup_loss(sr, hr)
        return jnp.where(warm, pixel, adv_loss), (sr, g_stats, d_stats, {**metrics, "g_pretrain": pixel})

    (g_total, (sr, g_stats, d_stats, g_metrics)), grads = jax.value_and_grad(g_objective, has_aux=True)(
        state.g.params)
    g = netstate.update(state.g, tx, grads, g_stats)
    sr = jax.lax.stop_gradient(sr)
    d_net = state.d.replace(batch_stats=d_stats)

    def d_objective(d_params):
        (d_real, d_fake), stats = _run_d(disc, d_net, d_params, (hr, sr))
        return d_loss(d_real, d_fake), stats

    (loss_d, d_stats), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d_net.params)
    d_new = netstate.update(d_net, tx, d_grads, d_stats)
    d = jax.tree.map(lambda old, new: jnp.where(warm, old, new), state.d, d_new)  # no D update while warming up
    metrics = {"g_loss": g_total, "d_loss": loss_d, "warmup": warm.astype(jnp.float32), "psnr": _batch_psnr(sr, hr),
               **g_metrics}
    return state.replace(step=state.step + 1, g=g, d=d), metrics


def sr_pretrain_step(state: State, batch: dict, gen: nn.Module, *, warmup_loss: Callable) -> tuple[State, dict]:
    """What :func:`sr_train_step` does in a warm-up step, without running D or VGG: G minimises
    ``warmup_loss(sr, hr)``, D keeps its parameters and statistics. The engine runs it for the first
    ``warmup_batches`` steps (``pretrain_steps``), ~4x faster at the CPU size; train_step alone gives the same
    states (tested)."""
    config = state.config
    tx = netstate.adam(config)
    lr, hr = check_batch(batch, config)

    def objective(g_params):
        sr, g_stats = netstate.apply(gen, state.g, lr, train=True, params=g_params)
        return warmup_loss(sr, hr), (sr, g_stats)

    (pixel, (sr, g_stats)), grads = jax.value_and_grad(objective, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, grads, g_stats)
    metrics = {"g_loss": pixel, "g_pretrain": pixel, "warmup": jnp.ones(()), "psnr": _batch_psnr(sr, hr)}
    return state.replace(step=state.step + 1, g=g), metrics


def _batch_psnr(sr, hr):
    """Mean PSNR of a [-1, 1] batch, for the training log."""
    return jnp.mean(10.0 * jnp.log10(4.0 / jnp.mean(jnp.square(sr - hr), axis=(1, 2, 3))))


def _run_d(disc, net: netstate.Net, params, images):
    """D (train mode) on each batch in turn, threading BatchNorm statistics like successive PyTorch calls."""
    outs, stats = [], net.batch_stats
    for x in images:
        out, stats = netstate.apply(disc, net.replace(batch_stats=stats), x, train=True, params=params)
        outs.append(out)
    return outs, stats


def upscale(gen: nn.Module, state: State, images_lr: jax.Array) -> jax.Array:
    """G on LR images [N, h, w, C] (BatchNorm on running averages): [N, 4h, 4w, C] clipped to [-1, 1]."""
    if images_lr.ndim != 4 or images_lr.shape[-1] != state.config.channels:
        raise ValueError(f"expected LR images [N, h, w, {state.config.channels}], got shape {images_lr.shape}")
    return jnp.clip(netstate.apply(gen, state.g, images_lr, train=False)[0], -1.0, 1.0)


def sr_samples(translate_fn, state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """LR (nearest-upsampled, as the script's grid) | SR | HR rows."""
    lr, hr = batch["lr"], batch["hr"]
    return jnp.concatenate([layers.upsample_nearest(lr, SCALE), translate_fn(state, lr, rng), hr])


# ---- srgan ----

def init(rng: jax.Array, config: Config) -> State:
    return init_sr(rng, config, *_nets(config), VGG_LAYERS, "srgan")


def _g_loss(d_real, d_fake, content, sr, hr):
    adv = losses.least_squares_g_loss(d_fake)
    return content + LAMBDA_ADV * adv, {"g_content": content, "g_adv": adv}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """Pre-training (pixel MSE) or one adversarial iteration: G (content + 1e-3 LSGAN), then D (LSGAN)."""
    return sr_train_step(state, batch, *_nets(state.config), vgg_layers=VGG_LAYERS, warmup_loss=losses.mse_loss,
                         g_loss=_g_loss, d_loss=losses.least_squares_d_loss, g_needs_real=False)


def pretrain_steps(config: Config) -> int:
    """How many first steps the engine runs with :func:`pretrain_step` instead of ``train_step``."""
    return config.warmup_batches


def pretrain_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """A warm-up step (pixel MSE, G only), as ``train_step`` takes it before ``warmup_batches``, ~4x cheaper."""
    return sr_pretrain_step(state, batch, _nets(state.config)[0], warmup_loss=losses.mse_loss)


def translate(state: State, images_lr: jax.Array, rng: jax.Array | None = None) -> jax.Array:
    """4x super-resolution of LR images in [-1, 1]: [N, h, w, C] -> [N, 4h, 4w, C] (``rng`` unused)."""
    return upscale(_nets(state.config)[0], state, images_lr)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    return sr_samples(translate, state, rng, batch)
