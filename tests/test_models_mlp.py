"""gan.py's MLP siblings: wgan, wgan_gp, wgan_div, bgan, softmax_gan (shared networks in gan_jax/nets/mlp.py, the
n_critic iteration in gan_jax/nets/wasserstein.py)."""

import functools

import jax
import numpy as np
import pytest

from gan_jax.models import bgan, softmax_gan, wgan, wgan_div, wgan_gp
from gan_jax.nets import mlp, wasserstein
from gan_jax.nets import state as netstate
from tests.contract import check_contract, image_batch

MODELS = [wgan, wgan_gp, wgan_div, bgan, softmax_gan]
CRITIC_MODELS = [wgan, wgan_gp, wgan_div]
ids = lambda m: m.__name__.rsplit(".", 1)[-1]


def tiny(model, **kw):
    return model.Config(batch_size=8, img_size=8, latent_dim=4, **kw)


def batch_for(model, config, seed=0):
    hook = getattr(model, "loader_batch_size", None)
    return image_batch(config, n=hook(config) if hook else config.batch_size, seed=seed)


@functools.cache
def contract_state(model):
    """The state after check_contract's 3 steps on the tiny config (run once per model, reused by later checks)."""
    config = tiny(model)
    return check_contract(model, config, batch_for(model, config), steps=3)


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_contract(model):
    contract_state(model)


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_default_architecture_matches_pytorch_gan(model):
    # Every script uses gan.py's nets: G 100->128->256->512->1024->784 with 3 BatchNorm1d, D 784->512->256->1
    # (bgan's trailing Sigmoid has no parameters).
    state = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    g = (100 * 128 + 128) + (128 * 256 + 256) + (256 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 784 + 784)
    g += 2 * (256 + 512 + 1024)  # BN scale + bias
    assert netstate.count_params(state.g.params) == g == 1_510_032
    assert netstate.count_params(state.d.params) == (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1) == 533_505


# ---- the n_critic iteration (wgan, wgan_gp, wgan_div) ----

def test_critic_batches_use_every_row_once():
    config = tiny(wgan, n_critic=3)
    rows = np.arange(24, dtype=np.float32).reshape(24, 1, 1, 1)
    split = np.asarray(wasserstein.critic_batches(rows, config))
    assert split.shape == (3, 8, 1, 1, 1)
    assert sorted(split.ravel().tolist()) == list(range(24))
    with pytest.raises(ValueError, match="batch_size \\* n_critic = 24"):
        wasserstein.critic_batches(rows[:8], config)


@pytest.mark.parametrize("model", [wgan_gp, wgan_div], ids=ids)
def test_n_critic_critic_updates_per_generator_update(model):
    # Adam counts its updates: after 3 train_steps, 3 * n_critic for the critic and 3 for the generator.
    state = contract_state(model)
    assert int(state.d.opt_state[0].count) == 3 * state.config.n_critic == 15
    assert int(state.g.opt_state[0].count) == 3


def test_wgan_clips_every_critic_weight():
    state = contract_state(wgan)
    clip = state.config.clip_value
    # PyTorch's init is U(+-1/sqrt(fan_in)) (0.125 for the 64-pixel input), far outside the clip range 0.01.
    initial = wgan.init(jax.random.key(0), state.config)
    assert max(float(np.abs(x).max()) for x in jax.tree.leaves(initial.d.params)) > 10 * clip
    d_leaves = [np.asarray(x) for x in jax.tree.leaves(state.d.params)]
    assert all(np.abs(x).max() <= clip for x in d_leaves)
    assert all(np.isclose(np.abs(x), clip).any() for x in d_leaves)  # the clip was active on every tensor
    assert max(float(np.abs(x).max()) for x in jax.tree.leaves(state.g.params)) > 10 * clip  # G is never clipped


def _one_critic_update_metrics(model, **kw):
    # With n_critic=1 the reported critic metrics are computed at the initial parameters, so two configs that differ
    # only in the penalty weight see identical networks and data.
    config = tiny(model, n_critic=1, **kw)
    state = model.init(jax.random.key(0), config)
    _, metrics = jax.jit(model.train_step)(state, batch_for(model, config), jax.random.key(1))
    return {k: float(v) for k, v in metrics.items()}


def test_wgan_gp_penalty_is_in_the_critic_loss():
    without = _one_critic_update_metrics(wgan_gp, lambda_gp=0.0)
    with_gp = _one_critic_update_metrics(wgan_gp, lambda_gp=10.0)
    assert with_gp["gradient_penalty"] > 0
    assert with_gp["gradient_penalty"] == pytest.approx(without["gradient_penalty"], rel=1e-6)
    assert with_gp["d_loss"] == pytest.approx(without["d_loss"] + 10 * with_gp["gradient_penalty"], rel=1e-5)


def test_wgan_div_penalty_is_in_the_critic_loss():
    without = _one_critic_update_metrics(wgan_div, k=0.0)
    with_div = _one_critic_update_metrics(wgan_div, k=2.0)
    assert without["div_penalty"] == 0 and with_div["div_penalty"] > 0
    assert with_div["d_loss"] == pytest.approx(without["d_loss"] + with_div["div_penalty"], rel=1e-5)


# ---- bgan and softmax_gan: the losses against a hand computation from the initial networks ----

def _initial_outputs(model, config, batch, rng, z_key):
    """D's float64 outputs on the real batch and on G(z), z drawn with ``z_key`` as train_step draws it (from
    ``rng``), at the initial state."""
    state = model.init(jax.random.key(0), config)
    gen, disc = mlp.nets(config)
    z = netstate.latent(z_key, config.batch_size, config.latent_dim)
    fake, _ = netstate.apply(gen, state.g, z, train=True)
    real_out, _ = netstate.apply(disc, state.d, batch["image"], train=True)
    fake_out, _ = netstate.apply(disc, state.d, fake, train=True)
    _, metrics = jax.jit(model.train_step)(state, batch, rng)
    return np.asarray(real_out, np.float64), np.asarray(fake_out, np.float64), metrics


def test_bgan_losses_by_hand():
    config = tiny(bgan)
    batch, rng = image_batch(config), jax.random.key(3)
    z_key = jax.random.split(rng, 4)[0]  # nets/alternating.step's z key
    real, fake, metrics = _initial_outputs(bgan, config, batch, rng, z_key)
    p_fake, p_real = 1 / (1 + np.exp(-fake)), 1 / (1 + np.exp(-real))
    # bgan.py: 0.5 * mean((log D(G(z)) - log(1 - D(G(z))))^2), D = sigmoid(logit), i.e. 0.5 * mean(logit^2)
    g_loss = 0.5 * np.mean((np.log(p_fake) - np.log(1 - p_fake)) ** 2)
    assert g_loss == pytest.approx(0.5 * np.mean(fake**2), rel=1e-6)
    d_loss = 0.5 * (-np.mean(np.log(p_real)) - np.mean(np.log(1 - p_fake)))  # (BCE(real, 1) + BCE(fake, 0)) / 2
    assert float(metrics["g_loss"]) == pytest.approx(g_loss, rel=1e-4)
    assert float(metrics["d_loss"]) == pytest.approx(d_loss, rel=1e-4)


def test_softmax_gan_losses_by_hand():
    """softmax_gan.py's formulas, in the script's order: D's loss on the networks before the step, G's loss through the
    D that has just stepped (not the pre-step D: a simultaneous update mode-collapses)."""
    config = tiny(softmax_gan)
    batch, rng = image_batch(config), jax.random.key(4)
    state = softmax_gan.init(jax.random.key(0), config)
    gen, disc = mlp.nets(config)
    fake, _ = netstate.apply(gen, state.g, netstate.latent(rng, config.batch_size, config.latent_dim), train=True)
    new_state, metrics = jax.jit(softmax_gan.train_step)(state, batch, rng)
    n = config.batch_size

    def by_hand(d_net):
        d_real = np.asarray(netstate.apply(disc, d_net, batch["image"], train=True)[0], np.float64)
        d_fake = np.asarray(netstate.apply(disc, d_net, fake, train=True)[0], np.float64)
        z = np.sum(np.exp(-d_real)) + np.sum(np.exp(-d_fake))
        return (1 / n * np.sum(d_real) + np.log(z + 1e-8),
                1 / (2 * n) * (np.sum(d_real) + np.sum(d_fake)) + np.log(z + 1e-8))

    d_loss, g_loss_before = by_hand(state.d)
    _, g_loss = by_hand(new_state.d)
    assert float(metrics["d_loss"]) == pytest.approx(d_loss, rel=1e-5)
    assert float(metrics["g_loss"]) == pytest.approx(g_loss, rel=1e-5)
    assert abs(g_loss - g_loss_before) > 10 * 1e-5 * g_loss  # well outside the tolerance: the orders differ
