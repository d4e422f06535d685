"""ESRGAN: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (2018).

SRGAN's recipe with three changes: a deeper generator of Residual-in-Residual Dense Blocks without BatchNorm, a
relativistic average discriminator (it judges whether a real image is *more realistic than the average fake* and
vice versa, Jolicoeur-Martineau 2018), and VGG features taken before the activation (conv5_4). Training starts with
``warmup_batches`` steps of pixel L1 only (the PSNR-oriented model), then adds the perceptual and adversarial terms.

Networks (PyTorch-GAN ``implementations/esrgan/models.py``): G = :class:`gan_jax.nets.rrdb.GeneratorRRDB` (64
filters, ``residual_blocks`` RRDBs, two pixel-shuffle upsamplings, no output activation); D = the SRGAN
discriminator (:class:`gan_jax.nets.rrdb.Discriminator`). Losses: G minimises L1(VGG54(G(lr)), VGG54(hr)) +
``lambda_adv`` RaGAN_G + ``lambda_pixel`` L1(G(lr), hr); D the RaGAN loss [BCE(D(hr) - mean D(G(lr)), 1) +
BCE(D(G(lr)) - mean D(hr), 0)] / 2. Adam(2e-4, 0.9, 0.999), batch 4, 64 -> 256 px, 23 RRDBs.

Deviations from PyTorch-GAN:
- the generator's relativistic loss is the paper's, both terms (:func:`gan_jax.losses.relativistic_g_loss` with
  ``average=True``, halved like D's); the script keeps only BCE(D(G(lr)) - mean D(hr), 1).
- images in [-1, 1] (the script's are ImageNet-normalised); ``translate`` clips G's unbounded output to [-1, 1].
- the warm-up is selected with ``jnp.where`` on the step counter (see srgan: ``lax.cond`` is ~30x slower on
  XLA:CPU), so warm-up steps cost as much as adversarial ones; D is not updated during warm-up, as in the script.
- ``hr_width`` honoured; ``decay_epoch`` parsed and unused (as in the script); ``checkpoint_interval`` is the
  trainer's flag (``python -m gan_jax.train --checkpoint_interval``), not a Config field.
- VGG19 weights from ``--vgg_weights FILE`` (gan_jax/nets/vgg.py); without them random features (warned).

Run:    python -m gan_jax.train --model esrgan    (offline HR photo crops). 23 RRDBs at 256 px are ~4.8 TFLOP a
        step (over a minute on a 2-core CPU); a CPU-sized run: --hr_height 64 --hr_width 64 --residual_blocks 2
        --warmup_batches 300.
Result: python -m benchmarks.superres: PSNR/SSIM on held-out crops vs bicubic, after warm-up and after adversarial
        training (benchmarks/out/superres.md).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
from flax import linen as nn

from gan_jax import losses
from gan_jax.models import srgan
from gan_jax.nets import rrdb

DATA = "superres"
DEFAULT_DATASET = "offline"
DESCRIPTION = "ESRGAN (Wang 2018): 4x super-resolution, RRDB generator, relativistic average GAN, VGG54 loss"
DEFAULT_STEPS = 6  # a smoke run at the script's defaults (23 RRDBs, 256 px, batch 4): ~4.8 TFLOP a step (XLA cost
# analysis), ~80 s at ~60 GFLOP/s on 2 CPU cores (estimated, not timed). See Run: for a CPU size.
SCALE = srgan.SCALE
N_SAMPLES = srgan.N_SAMPLES
GRID_COLS = srgan.GRID_COLS
VGG_LAYERS = 35  # features[:35]: conv5_4 before its ReLU
State = srgan.State


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 4
    lr: float = 0.0002
    b1: float = 0.9
    b2: float = 0.999
    decay_epoch: int = 100  # parsed, unused (as in the script)
    hr_height: int = 256
    hr_width: int = 256
    channels: int = 3
    sample_interval: int = 100
    residual_blocks: int = 23
    warmup_batches: int = 500
    lambda_adv: float = 5e-3
    lambda_pixel: float = 1e-2
    vgg_weights: str = ""  # .npz of torchvision's VGG19 (gan_jax/nets/vgg.py); empty: random features
    remat: bool = False  # rematerialise each RRDB in the backward pass

    @property
    def img_size(self) -> int:  # what the data loader sizes by
        return self.hr_height

    def validate(self):
        rrdb.check_hr_size(self.hr_height, self.hr_width)
        if self.residual_blocks < 0 or self.warmup_batches < 0:
            raise ValueError("--residual_blocks and --warmup_batches must be >= 0")


def _nets(config: Config) -> tuple[nn.Module, nn.Module]:
    return rrdb.GeneratorRRDB(config.channels, num_res_blocks=config.residual_blocks, remat=config.remat), \
        rrdb.Discriminator()


def init(rng: jax.Array, config: Config) -> State:
    return srgan.init_sr(rng, config, *_nets(config), VGG_LAYERS, "esrgan")


def _g_loss(config: Config, d_real, d_fake, content, sr, hr):
    adv = losses.relativistic_g_loss(d_real, d_fake, average=True)
    pixel = losses.l1_loss(sr, hr)
    return content + config.lambda_adv * adv + config.lambda_pixel * pixel, \
        {"g_content": content, "g_adv": adv, "g_pixel": pixel}


def _d_loss(d_real, d_fake):
    return losses.relativistic_d_loss(d_real, d_fake, average=True)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """Warm-up (pixel L1 only) or one adversarial iteration: G (VGG54 + RaGAN + pixel), then D (RaGAN)."""
    config = state.config
    return srgan.sr_train_step(state, batch, *_nets(config), vgg_layers=VGG_LAYERS, warmup_loss=losses.l1_loss,
                               g_loss=functools.partial(_g_loss, config), d_loss=_d_loss, g_needs_real=True)


pretrain_steps = srgan.pretrain_steps  # warmup_batches: the engine's pretrain_step phase


def pretrain_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """A warm-up step (pixel L1, G only), as ``train_step`` takes it before ``warmup_batches``, without D and VGG."""
    return srgan.sr_pretrain_step(state, batch, _nets(state.config)[0], warmup_loss=losses.l1_loss)


def translate(state: State, images_lr: jax.Array, rng: jax.Array | None = None) -> jax.Array:
    """4x super-resolution of LR images in [-1, 1]: [N, h, w, C] -> [N, 4h, 4w, C] (``rng`` unused)."""
    return srgan.upscale(_nets(state.config)[0], state, images_lr)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    return srgan.sr_samples(translate, state, rng, batch)
