"""DiscoGAN: Kim et al., "Learning to Discover Cross-Domain Relations with Generative Adversarial Networks" (2017).

Two generators G_AB and G_BA learn to map each domain onto the other from unpaired images (edges and shoes):
each translation must fool the other domain's discriminator and map back to its input (a reconstruction loss in
both directions), which forces a one-to-one correspondence between the domains.

Networks (PyTorch-GAN ``implementations/discogan/models.py``): G is a U-Net of 6 down blocks (conv4 stride 2 with
bias -> InstanceNorm (not the first and last) -> LeakyReLU 0.2 -> Dropout 0.5 from the 3rd) and 5 up blocks
(transposed conv4 stride 2 -> IN -> ReLU -> Dropout 0.5 in the first 3, concatenated with the mirrored down block),
nearest x2, ZeroPad2d((1, 0, 1, 0)), conv4 -> tanh. D: conv4 stride 2 blocks of 64 (no norm), 128, 256 with IN and
LeakyReLU 0.2, ZeroPad2d((1, 0, 1, 0)), conv4: one score per 8x8 patch. Losses (least squares): G_AB and G_BA (one
Adam) minimise (MSE(D_B(G_AB(a)), 1) + MSE(D_A(G_BA(b)), 1)) / 2 + (L1(G_BA(G_AB(a)), a) + L1(G_AB(G_BA(b)), b)) / 2;
each D minimises (MSE(D(real), 1) + MSE(D(fake), 0)) / 2 on the latest translations. Init N(0, 0.02) for
convolutions. Adam(2e-4, 0.5, 0.999), batch 64, 64x64, edges2shoes.

Deviations from PyTorch-GAN:
- no pixelwise term: the script also adds (L1(G_BA(b), a) + L1(G_AB(a), b)) / 2, which needs aligned pairs (it
  reads edges2shoes' side-by-side files) and makes the task supervised; the paper's DiscoGAN learns from unpaired
  images, which is what this port does (``--dataset`` a pix2pix-style folder gives its two halves as unpaired
  domains).
- ``translate`` runs G with dropout off (deterministic), as the script's ``G.eval()`` sampling.
- ``remat`` (ours): recompute U-Net blocks in the backward pass (``jax.checkpoint``) to save memory.

Run:    python -m gan_jax.train --model discogan   (offline photo -> poster domains, gan_jax/data/kinds/unpaired.py;
        DEFAULT_STEPS = 150 at the script's 64 px, batch 64 take ~6-9 minutes on 2 CPU cores). PyTorch-GAN's
        setting: python -m gan_jax.data.download edges2shoes && python -m gan_jax.train --model discogan --dataset
        data/edges2shoes --n_epochs 200.
Result: ``python -m benchmarks.translation --models discogan``: cycle L1 and the Frechet distance of A -> B
        translations to real B, before and after training (benchmarks/out/translation.md).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import struct

from gan_jax import losses
from gan_jax.models import _two_way
from gan_jax.models._two_way import check_images, generator_name, unpaired_batch, update_discriminators
from gan_jax.nets import patchgan, unet
from gan_jax.nets import state as netstate

DATA = "unpaired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "DiscoGAN (Kim 2017): unpaired cross-domain relations, two U-Net generators with reconstruction losses"
DEFAULT_STEPS = 150  # the quick CPU run at the script's 64 px, batch 64 (~2-3 s a step on 2 cores)
N_SAMPLES = 8
GRID_COLS = 8  # rows: A | G_AB(A) | B | G_BA(B)
DOWNS = ((64, False, 0.0), (128, True, 0.0), (256, True, 0.5), (512, True, 0.5), (512, True, 0.5), (512, False, 0.5))
UPS = ((512, 0.5), (512, 0.5), (256, 0.5), (128, 0.0), (64, 0.0))
D_MIN_SIZE = 16  # D's third block (InstanceNorm) needs 2x2 maps


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    img_height: int = 64
    img_width: int = 64
    channels: int = 3
    sample_interval: int = 100
    unet_depth: int = 6  # ours: 6 = the script's U-Net; fewer for smaller images
    remat: bool = False

    @property
    def img_size(self) -> int:
        return self.img_height

    def min_size(self) -> int:
        return max(2 ** self.unet_depth, D_MIN_SIZE)  # U-Net's innermost InstanceNorm needs 2x2 maps

    def validate(self):
        unet.unet_blocks(self.unet_depth, DOWNS, UPS)
        m = self.min_size()
        for flag in ("img_height", "img_width"):
            size = getattr(self, flag)
            if size < m or size % m:
                raise ValueError(f"--{flag} must be a multiple of {m} for discogan with --unet_depth "
                                 f"{self.unet_depth}, got {size}")


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net  # params {"G_AB": ..., "G_BA": ...}: one Adam over both
    d_a: netstate.Net
    d_b: netstate.Net
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    gen = unet.UNetGenerator(*unet.unet_blocks(config.unet_depth, DOWNS, UPS), config.channels, norm="instance",
                             use_bias=True, remat=config.remat)
    return gen, patchgan.Conv4PatchDiscriminator(filters=(64, 128, 256))


@functools.partial(jax.jit, static_argnames="config")  # eager Flax init of these nets takes ~20 s on a CPU
def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    keys = jax.random.split(rng, 4)
    img = jnp.zeros((1, config.img_height, config.img_width, config.channels))
    g_params = {name: gen.init({"params": k}, img, train=False)["params"]
                for name, k in zip(("G_AB", "G_BA"), keys[:2])}
    return State(step=jnp.zeros((), jnp.int32),
                 g=netstate.Net(params=g_params, batch_stats={}, opt_state=tx.init(g_params)),
                 d_a=netstate.create(disc, tx, keys[2], img), d_b=netstate.create(disc, tx, keys[3], img),
                 config=config)


def generator_losses(state: State, g_params, real_a: jax.Array, real_b: jax.Array, rng: jax.Array):
    """(total, aux): adversarial + reconstruction terms in both directions, with the translations."""
    gen, disc = _nets(state.config)
    keys = iter(jax.random.split(rng, 4))  # a dropout mask per generator call, as four forward passes in torch
    g_ab = lambda x: gen.apply({"params": g_params["G_AB"]}, x, train=True, rngs={"dropout": next(keys)})
    g_ba = lambda x: gen.apply({"params": g_params["G_BA"]}, x, train=True, rngs={"dropout": next(keys)})
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    adv = (losses.least_squares_g_loss(disc.apply({"params": state.d_b.params}, fake_b))
           + losses.least_squares_g_loss(disc.apply({"params": state.d_a.params}, fake_a))) / 2
    cycle = (losses.cycle_consistency_loss(g_ba(fake_b), real_a)
             + losses.cycle_consistency_loss(g_ab(fake_a), real_b)) / 2
    return adv + cycle, {"fake_a": fake_a, "fake_b": fake_b, "adv": adv, "cycle": cycle}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of both generators, then D_A and D_B on real images vs the latest translations."""
    _, disc = _nets(state.config)
    tx = netstate.adam(state.config)
    real_a, real_b = unpaired_batch(batch)
    (g_loss, aux), g_grads = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, state.g.params, real_a, real_b, rng)
    g = netstate.update(state.g, tx, g_grads)

    d_loss = lambda params, real, fake: losses.least_squares_d_loss(disc.apply({"params": params}, real),
                                                                    disc.apply({"params": params}, fake))
    d_a, d_b, d_a_loss, d_b_loss = update_discriminators(state, tx, d_loss, real_a, aux["fake_a"], real_b,
                                                         aux["fake_b"])
    metrics = {"d_loss": (d_a_loss + d_b_loss) / 2, "g_loss": g_loss, "g_adv": aux["adv"], "g_cycle": aux["cycle"]}
    return state.replace(step=state.step + 1, g=g, d_a=d_a, d_b=d_b), metrics


def translate(state: State, images: jax.Array, rng: jax.Array | None = None, direction: str = "AtoB") -> jax.Array:
    """Images of domain A (``AtoB``) or B (``BtoA``) [N, H, W, C] in [-1, 1] (sides multiples of 2^unet_depth) ->
    the other domain, dropout off. ``rng`` is unused, kept for the common protocol."""
    name = generator_name(direction)
    check_images(images, state.config, 2 ** state.config.unet_depth)
    gen, _ = _nets(state.config)
    return gen.apply({"params": state.g.params[name]}, images, train=False)


def reconstruct(state: State, images: jax.Array, direction: str = "AtoB") -> jax.Array:
    return _two_way.reconstruct(translate, state, images, direction)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    return _two_way.samples(translate, state, batch)
