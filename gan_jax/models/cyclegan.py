"""CycleGAN: Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks" (2017).

Two generators, G_AB: A -> B and G_BA: B -> A, trained on unpaired images: each translation must fool the other
domain's discriminator, and translating there and back must give the input again (cycle consistency); an identity
term (G_AB(b) = b) keeps colours. Discriminators learn from a pool of the last 50 translations, not only the latest.

Networks (PyTorch-GAN ``implementations/cyclegan/models.py``): G is the ResNet generator of
:mod:`gan_jax.nets.resnet` (conv7, two stride-2 convs, ``n_residual_blocks`` residual blocks, two nearest-upsample
convs, conv7, InstanceNorm, tanh); D is a PatchGAN (conv4 stride 2 blocks of 64, 128, 256, 512 with InstanceNorm
from the second, LeakyReLU 0.2, ZeroPad2d((1, 0, 1, 0)), conv4: one score per 16x16 patch). Losses (least squares):
G_AB and G_BA (one Adam) minimise (MSE(D_B(G_AB(a)), 1) + MSE(D_A(G_BA(b)), 1)) / 2 + lambda_cyc (L1(G_BA(G_AB(a)),
a) + L1(G_AB(G_BA(b)), b)) / 2 + lambda_id (L1(G_BA(a), a) + L1(G_AB(b), b)) / 2; each D minimises (MSE(D(real), 1)
+ MSE(D(pool(fake)), 0)) / 2 with the image pool of :mod:`gan_jax.nets.image_pool`. Adam(2e-4, 0.5, 0.999), the
learning rate constant for ``decay_epoch`` epochs and then decayed linearly to 0 at ``n_epochs`` (the script's
LambdaLR, applied per epoch), batch 1, 256x256, monet2photo, 9 residual blocks.

Deviations from PyTorch-GAN:
- the LR decay needs the epoch length: ``steps_per_epoch`` (ours; ``python -m gan_jax.train`` fills it in from the
  dataset; 0, the Config default for Python callers, means no decay). ``netstate.adam_epoch_decay``.
- reflection padding 3 around the 7x7 convolutions (the script pads by ``channels``; see gan_jax/nets/resnet.py).
- ``remat`` (ours): recompute each residual block in the backward pass (``jax.checkpoint``) to save memory.

Run:    python -m gan_jax.train --model cyclegan   (offline photo -> poster domains, gan_jax/data/kinds/unpaired.py;
        DEFAULT_STEPS = 100 at the script's 256 px take ~6-9 minutes on 2 CPU cores). A CPU-sized run: --img_height
        64 --img_width 64 --n_residual_blocks 6. PyTorch-GAN's setting: python -m gan_jax.data.download monet2photo
        && python -m gan_jax.train --model cyclegan --dataset data/monet2photo --n_epochs 200.
Result: ``python -m benchmarks.translation --models cyclegan``: cycle L1 and the Frechet distance of A -> B
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
from gan_jax.nets import image_pool, patchgan, resnet
from gan_jax.nets import state as netstate

DATA = "unpaired"
DEFAULT_DATASET = "offline"
DESCRIPTION = "CycleGAN (Zhu 2017): unpaired translation, ResNet generators, cycle + identity losses, image pool"
DEFAULT_STEPS = 100  # the quick CPU run at the script's 256 px, batch 1 (~3-5 s a step on 2 cores)
N_SAMPLES = 5
GRID_COLS = 5  # rows: A | G_AB(A) | B | G_BA(B) (the script's grid)


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 1
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    decay_epoch: int = 100
    img_height: int = 256
    img_width: int = 256
    channels: int = 3
    sample_interval: int = 100
    n_residual_blocks: int = 9
    lambda_cyc: float = 10.0
    lambda_id: float = 5.0
    steps_per_epoch: int = 0  # ours: the epoch length the LR decay counts in (0: no decay)
    remat: bool = False

    @property
    def img_size(self) -> int:
        return self.img_height

    def min_size(self) -> int:
        return 32  # D halves four times and its last InstanceNorm needs 2x2 maps

    def validate(self):
        for flag in ("img_height", "img_width"):
            size = getattr(self, flag)
            if size < 32 or size % 16:
                raise ValueError(f"--{flag} must be a multiple of 16 and at least 32 for cyclegan, got {size}")
        if self.n_residual_blocks < 0:
            raise ValueError(f"--n_residual_blocks must be >= 0, got {self.n_residual_blocks}")
        netstate.check_epoch_decay(self)


@struct.dataclass
class State:
    step: jax.Array
    g: netstate.Net  # params {"G_AB": ..., "G_BA": ...}: one Adam over both, as itertools.chain in the script
    d_a: netstate.Net
    d_b: netstate.Net
    pool_a: image_pool.Pool  # translations B -> A that D_A learns from
    pool_b: image_pool.Pool
    config: Config = struct.field(pytree_node=False)


def _nets(config: Config):
    gen = resnet.GeneratorResNet(config.channels, config.n_residual_blocks, remat=config.remat)
    return gen, patchgan.Conv4PatchDiscriminator()


def _zero_biases(params):
    """cyclegan's weights_init_normal sets every convolution bias to 0."""
    return jax.tree_util.tree_map_with_path(lambda path, x: jnp.zeros_like(x) if path[-1].key == "bias" else x, params)


@functools.partial(jax.jit, static_argnames="config")  # eager Flax init of these nets takes ~20 s on a CPU
def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    keys = jax.random.split(rng, 4)
    img = jnp.zeros((1, config.img_height, config.img_width, config.channels))
    g_params = {name: _zero_biases(gen.init(k, img)["params"]) for name, k in zip(("G_AB", "G_BA"), keys[:2])}
    g = netstate.Net(params=g_params, batch_stats={}, opt_state=tx.init(g_params))

    def d_net(key):
        params = _zero_biases(disc.init(key, img)["params"])
        return netstate.Net(params=params, batch_stats={}, opt_state=tx.init(params))

    shape = (config.img_height, config.img_width, config.channels)
    return State(step=jnp.zeros((), jnp.int32), g=g, d_a=d_net(keys[2]), d_b=d_net(keys[3]),
                 pool_a=image_pool.empty(shape), pool_b=image_pool.empty(shape), config=config)


def generator_losses(state: State, g_params, real_a: jax.Array, real_b: jax.Array):
    """(total, aux): the script's loss_G and its terms, with the translations for the D updates."""
    config = state.config
    gen, disc = _nets(config)
    g_ab = lambda x: gen.apply({"params": g_params["G_AB"]}, x)
    g_ba = lambda x: gen.apply({"params": g_params["G_BA"]}, x)
    d = lambda net, x: disc.apply({"params": net.params}, x)
    identity = (losses.identity_loss(g_ba(real_a), real_a) + losses.identity_loss(g_ab(real_b), real_b)) / 2
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    adv = (losses.least_squares_g_loss(d(state.d_b, fake_b)) + losses.least_squares_g_loss(d(state.d_a, fake_a))) / 2
    cycle = (losses.cycle_consistency_loss(g_ba(fake_b), real_a)
             + losses.cycle_consistency_loss(g_ab(fake_a), real_b)) / 2
    total = adv + config.lambda_cyc * cycle + config.lambda_id * identity
    return total, {"fake_a": fake_a, "fake_b": fake_b, "adv": adv, "cycle": cycle, "identity": identity}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One update of both generators, then D_A and D_B, each on real images vs images drawn from its pool."""
    config = state.config
    _, disc = _nets(config)
    tx = netstate.adam_epoch_decay(config)
    real_a, real_b = unpaired_batch(batch)
    (g_loss, aux), g_grads = jax.value_and_grad(generator_losses, argnums=1, has_aux=True)(
        state, state.g.params, real_a, real_b)
    g = netstate.update(state.g, tx, g_grads)

    key_a, key_b = jax.random.split(rng)
    pool_a, shown_a = image_pool.push_and_pop(state.pool_a, jax.lax.stop_gradient(aux["fake_a"]), key_a)
    pool_b, shown_b = image_pool.push_and_pop(state.pool_b, jax.lax.stop_gradient(aux["fake_b"]), key_b)

    d_loss = lambda params, real, fake: losses.least_squares_d_loss(disc.apply({"params": params}, real),
                                                                    disc.apply({"params": params}, fake))
    d_a, d_b, d_a_loss, d_b_loss = update_discriminators(state, tx, d_loss, real_a, shown_a, real_b, shown_b)
    metrics = {"d_loss": (d_a_loss + d_b_loss) / 2, "g_loss": g_loss, "g_adv": aux["adv"], "g_cycle": aux["cycle"],
               "g_identity": aux["identity"], "lr": config.lr * netstate.epoch_decay_factor(config, state.step)}
    return state.replace(step=state.step + 1, g=g, d_a=d_a, d_b=d_b, pool_a=pool_a, pool_b=pool_b), metrics


def translate(state: State, images: jax.Array, rng: jax.Array | None = None, direction: str = "AtoB") -> jax.Array:
    """Images of domain A (``AtoB``) or B (``BtoA``), [N, H, W, C] in [-1, 1] (H, W multiples of 4) -> the other
    domain. ``rng`` is unused (deterministic generators), kept for the common protocol."""
    name = generator_name(direction)
    check_images(images, state.config)
    gen, _ = _nets(state.config)
    return gen.apply({"params": state.g.params[name]}, images)


def reconstruct(state: State, images: jax.Array, direction: str = "AtoB") -> jax.Array:
    """The cycle: A -> B -> A (``AtoB``) or B -> A -> B."""
    return _two_way.reconstruct(translate, state, images, direction)


def samples(state: State, rng: jax.Array, batch: dict) -> jax.Array:
    """Rows: real A, G_AB(A), real B, G_BA(B) (the script's sample grid)."""
    return _two_way.samples(translate, state, batch)
