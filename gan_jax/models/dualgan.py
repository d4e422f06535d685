"""DualGAN: Yi et al., "DualGAN: Unsupervised Dual Learning for Image-to-Image Translation" (2017).

Two U-Net generators translate between unpaired domains, each judged by a Wasserstein critic of its target domain,
and both trained to reconstruct their inputs through the other (the dual-learning loop). Critics update ``n_critic``
times per generator update.

Networks (PyTorch-GAN ``implementations/dualgan/models.py``): G is a U-Net of 7 down blocks (conv4 stride 2, no bias
-> InstanceNorm with affine parameters (not the first and last) -> LeakyReLU 0.2 -> Dropout 0.5 from the 4th) and 6
up blocks (transposed conv4 stride 2 -> IN (affine) -> ReLU -> Dropout 0.5 in the first 3, concatenated with the
mirrored down block), then a transposed conv4 stride 2 -> tanh. D: conv4 stride 2 blocks of 64 (no norm), 128, 256
with ``BatchNorm2d(C, 0.8)`` and LeakyReLU 0.2, ZeroPad2d((1, 0, 1, 0)), conv4 (no padding): a map of critic scores.
Losses (WGAN-GP): each critic minimises mean(D(fake)) - mean(D(real)) + 10 GP (one interpolation weight per image);
G_AB and G_BA (one Adam) minimise -mean(D_A(G_BA(b))) - mean(D_B(G_AB(a))) + 10 (L1(G_BA(G_AB(a)), a) +
L1(G_AB(G_BA(b)), b)). Init N(0, 0.02) for convolutions, BN scale N(1, 0.02). Adam(2e-4, 0.5, 0.999), batch 8,
128x128, n_critic 5, edges2shoes.

One train_step is one generator iteration: ``n_critic`` critic updates (both critics), each on its own batch, then
the generator update on the last of those batches -- the script's order (it updates G after every ``n_critic``-th
critic step, on that step's batch). The step therefore takes ``batch_size * n_critic`` rows of each domain
(:func:`loader_batch_size`; the CLI sizes the loader with it). The critic loop is unrolled (convolutions inside an
XLA:CPU loop body run far slower; see gan_jax/nets/wasserstein.py).

Deviations from PyTorch-GAN:
- ``BatchNorm2d(C, 0.8)`` is momentum 0.8, eps 1e-5 (DESIGN.md's bug list). The critics run in train mode always
  (batch statistics), as in the script, so their running averages are never used; they keep the real batch's.
- The paper's critics are weight-clipped WGANs (clip 0.01); PyTorch-GAN (and this port) use the gradient penalty.
- the script's critic loop also runs on the epoch's last partial batches; here every step has n_critic full ones.
- ``translate`` runs G with dropout off (deterministic). ``remat`` (ours): recompute U-Net blocks in the backward pass.

Run:    python -m gan_jax.train --model dualgan   (offline photo -> poster domains, gan_jax/data/kinds/unpaired.py;
        DEFAULT_STEPS = 40 at the script's 128 px, batch 8, 5 critic steps take ~6-9 minutes on 2 CPU cores).
        PyTorch-GAN's setting: python -m gan_jax.data.download edges2shoes && python -m gan_jax.train --model dualgan
        --dataset data/edges2shoes --n_epochs 200.
Result: ``python -m benchmarks.translation --models dualgan``: cycle L1 and the Frechet distance of A -> B
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
from gan_jax.models._two_way import check_images, generator_name, unpaired_batch
from gan_jax.nets import patchgan, unet, wasserstein
from gan_jax.nets import state as netstate

DATA = "unpaired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "DualGAN (Yi 2017): unpaired dual learning, U-Net generators with WGAN-GP critics and reconstruction"
DEFAULT_STEPS = 40  # the quick CPU run at the script's 128 px, batch 8 x 5 critic steps (~8-12 s a step on 2 cores)
N_SAMPLES = 8
GRID_COLS = 8  # rows: A | G_AB(A) | B | G_BA(B)
DOWNS = ((64, False, 0.0), (128, True, 0.0), (256, True, 0.0), (512, True, 0.5), (512, True, 0.5), (512, True, 0.5),
         (512, False, 0.5))
UPS = ((512, 0.5), (512, 0.5), (512, 0.5), (256, 0.0), (128, 0.0), (64, 0.0))
D_MIN_SIZE = 32  # D's last conv4 (no padding) needs 3x3 maps
LAMBDA_ADV, LAMBDA_CYCLE, LAMBDA_GP = 1.0, 10.0, 10.0  # dualgan.py's loss weights (not flags there)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 8
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    img_size: int = 128
    channels: int = 3
    n_critic: int = 5
    sample_interval: int = 200
    unet_depth: int = 7  # ours: 7 = the script's U-Net; fewer for smaller images
    remat: bool = False

    @property
    def img_height(self) -> int:
        return self.img_size

    @property
    def img_width(self) -> int:
        return self.img_size

    def min_size(self) -> int:
        return max(2 ** self.unet_depth, D_MIN_SIZE)  # U-Net's innermost InstanceNorm needs 2x2 maps

    def validate(self):
        unet.unet_blocks(self.unet_depth, DOWNS, UPS)
        m = self.min_size()
        if self.img_size < m or self.img_size % m:
            raise ValueError(f"--img_size must be a multiple of {m} for dualgan with --unet_depth {self.unet_depth}, "
                             f"got {self.img_size}")
        if self.n_critic < 1:
            raise ValueError(f"--n_critic must be >= 1, got {self.n_critic}")


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net  # params {"G_AB": ..., "G_BA": ...}: one Adam over both
    d_a: netstate.Net
    d_b: netstate.Net
    config: Config = struct.field(pytree_node=False)


def loader_batch_size(config: Config) -> int:
    return wasserstein.loader_batch_size(config)


def _nets(config: Config):
    gen = unet.UNetGenerator(*unet.unet_blocks(config.unet_depth, DOWNS, UPS), config.channels,
                             norm="instance_affine", final="transpose", remat=config.remat)
    return gen, patchgan.Conv4PatchDiscriminator(filters=(64, 128, 256), norm="batch", final_padding=0,
                                                 polyphase_input_grad=True)  # its gradient penalty: layers.Conv


@functools.partial(jax.jit, static_argnames="config")  # eager Flax init of these nets takes ~20 s on a CPU
def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    keys = jax.random.split(rng, 4)
    img = jnp.zeros((2, config.img_size, config.img_size, config.channels))
    g_params = {name: gen.init({"params": k}, img, train=False)["params"]
                for name, k in zip(("G_AB", "G_BA"), keys[:2])}
    return State(step=jnp.zeros((), jnp.int32),
                 g=netstate.Net(params=g_params, batch_stats={}, opt_state=tx.init(g_params)),
                 d_a=netstate.create(disc, tx, keys[2], img), d_b=netstate.create(disc, tx, keys[3], img),
                 config=config)


def _generators(config: Config, g_params, rng: jax.Array, train: bool = True):
    gen, _ = _nets(config)
    keys = iter(jax.random.split(rng, 4))

    def run(name):
        return lambda x: gen.apply({"params": g_params[name]}, x, train=train, rngs={"dropout": next(keys)})

    return run("G_AB"), run("G_BA")


def critic_loss(disc, net: netstate.Net, params, real, fake, key):
    """(WGAN-GP critic loss, real-pass batch stats): mean D(fake) - mean D(real) + 10 GP."""
    real_scores, stats = netstate.apply(disc, net, real, train=True, params=params)
    fake_scores, _ = netstate.apply(disc, net, fake, train=True, params=params)
    critic = lambda x: netstate.apply(disc, net, x, train=True, params=params)[0]
    gp = losses.wgan_gp_penalty(critic, real, fake, key)
    return losses.wasserstein_critic_loss(real_scores, fake_scores) + LAMBDA_GP * gp, stats


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """``n_critic`` updates of both critics (each on its own batch), then one update of both generators."""
    config = state.config
    gen, disc = _nets(config)
    tx = netstate.adam(config)
    real_a, real_b = unpaired_batch(batch)
    a_KxB, b_KxB = (wasserstein.critic_batches(x, config) for x in (real_a, real_b))
    critic_key, g_key = jax.random.split(rng)

    def critic_update(carry, xs):
        d_a, d_b = carry
        imgs_a, imgs_b, key = xs
        fake_key, gp_a_key, gp_b_key = jax.random.split(key, 3)
        g_ab, g_ba = _generators(config, state.g.params, fake_key)
        fake_a, fake_b = jax.lax.stop_gradient(g_ba(imgs_b)), jax.lax.stop_gradient(g_ab(imgs_a))

        def update(net, real, fake, gp_key):
            (loss, stats), grads = jax.value_and_grad(
                lambda p: critic_loss(disc, net, p, real, fake, gp_key), has_aux=True)(net.params)
            return netstate.update(net, tx, grads, stats), loss

        d_a, loss_a = update(d_a, imgs_a, fake_a, gp_a_key)
        d_b, loss_b = update(d_b, imgs_b, fake_b, gp_b_key)
        return (d_a, d_b), loss_a + loss_b  # the script's D_loss = D_A_loss + D_B_loss

    keys = jax.random.split(critic_key, config.n_critic)
    (d_a, d_b), d_losses = jax.lax.scan(critic_update, (state.d_a, state.d_b), (a_KxB, b_KxB, keys), unroll=True)
    imgs_a, imgs_b = a_KxB[-1], b_KxB[-1]  # G learns on the batch of the last critic step, as the script

    def g_loss_fn(g_params):
        g_ab, g_ba = _generators(config, g_params, g_key)
        fake_a, fake_b = g_ba(imgs_b), g_ab(imgs_a)
        recov_a, recov_b = g_ba(fake_b), g_ab(fake_a)
        adv = (losses.wasserstein_g_loss(netstate.apply(disc, d_a, fake_a, train=True)[0])
               + losses.wasserstein_g_loss(netstate.apply(disc, d_b, fake_b, train=True)[0]))
        cycle = losses.cycle_consistency_loss(recov_a, imgs_a) + losses.cycle_consistency_loss(recov_b, imgs_b)
        return LAMBDA_ADV * adv + LAMBDA_CYCLE * cycle, (adv, cycle)

    (g_loss, (adv, cycle)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
    g = netstate.update(state.g, tx, g_grads)
    metrics = {"d_loss": d_losses[-1], "g_loss": g_loss, "g_adv": adv, "g_cycle": cycle}
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
