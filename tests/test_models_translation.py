"""pix2pix, cyclegan, discogan, dualgan: the model contract on tiny configs, translate shapes and errors, the default
architectures' parameter counts against PyTorch-GAN's (hand-computed), and each model's defining mechanism (L1 +
conditional PatchGAN, cycle and identity losses, the image pool, the LR decay, WGAN-GP critic steps), and remat."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.models import cyclegan, discogan, dualgan, pix2pix
from gan_jax.nets import image_pool, resnet, unet
from gan_jax.nets import state as netstate
from tests.contract import check_contract

ids = lambda m: m.__name__.rsplit(".", 1)[-1]
TINY = {
    pix2pix: dict(img_height=32, img_width=32, unet_depth=5),
    cyclegan: dict(img_height=32, img_width=32, n_residual_blocks=1, batch_size=2),
    discogan: dict(img_height=16, img_width=16, unet_depth=4, batch_size=2),
    dualgan: dict(img_size=32, unet_depth=5, batch_size=2, n_critic=2),
}


def tiny(model, **overrides):
    config = model.Config(**{**TINY[model], **overrides})
    config.validate()
    return config


def pair_batch(config, n=None, seed=0):
    rng = np.random.default_rng(seed)
    n = n or (dualgan.loader_batch_size(config) if isinstance(config, dualgan.Config) else config.batch_size)
    shape = (n, config.img_height, config.img_width, config.channels)
    return {"image_a": rng.uniform(-1, 1, shape).astype(np.float32),
            "image_b": rng.uniform(-1, 1, shape).astype(np.float32)}


@functools.cache
def trained(model):
    config = tiny(model)
    return check_contract(model, config, pair_batch(config), steps=2)


def count(tree) -> int:
    return netstate.count_params(tree)


@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_contract_translate_and_samples(model):
    state = trained(model)
    config = state.config
    images = jnp.asarray(pair_batch(config, n=3)["image_a"])
    shape = (3, config.img_height, config.img_width, config.channels)
    out = jax.jit(model.translate)(state, images, jax.random.key(0))
    chex.assert_shape(out, shape)
    assert float(jnp.max(jnp.abs(out))) <= 1.0
    np.testing.assert_array_equal(out, jax.jit(model.translate)(state, images, jax.random.key(1)))  # deterministic
    grid = jax.jit(model.samples)(state, jax.random.key(0), pair_batch(config, n=3))
    chex.assert_shape(grid, ((3 if model is pix2pix else 4) * 3,) + shape[1:])
    with pytest.raises(ValueError, match="input images are"):
        model.translate(state, jnp.zeros((1, 6, 12, config.channels)))
    if model is not pix2pix:
        back = model.translate(state, images, jax.random.key(0), "BtoA")
        assert not np.allclose(back, out)  # the other generator
        with pytest.raises(ValueError, match="direction"):
            model.translate(state, images, direction="AtoC")
    with pytest.raises(ValueError, match="image_a"):
        model.train_step(state, {"image": images}, jax.random.key(0))


# PyTorch-GAN's parameter counts, by hand (conv k x k, cin -> cout: k^2 cin cout (+ cout bias)).
PIX2PIX_G = (16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 4 * 512 * 512)  # downs, no bias
             + 16 * (512 * 512 + 3 * 1024 * 512 + 1024 * 256 + 512 * 128 + 256 * 64)  # ups, no bias
             + 16 * 128 * 3 + 3)  # final conv4
CONV4_D = lambda cin, widths, final_bias: (sum(16 * a * b + b for a, b in zip((cin,) + widths[:-1], widths))
                                           + 16 * widths[-1] + final_bias)
RESNET_G = (49 * 3 * 64 + 64 + 9 * 64 * 128 + 128 + 9 * 128 * 256 + 256 + 9 * (2 * (9 * 256 * 256 + 256))
            + 9 * 256 * 128 + 128 + 9 * 128 * 64 + 64 + 49 * 64 * 3 + 3)
DISCO_G = (sum(16 * a * b + b for a, b in ((3, 64), (64, 128), (128, 256), (256, 512), (512, 512), (512, 512)))
           + sum(16 * a * b + b for a, b in ((512, 512), (1024, 512), (1024, 256), (512, 128), (256, 64)))
           + 16 * 128 * 3 + 3)
DUAL_G = (16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 3 * 512 * 512) + 2 * (128 + 256 + 3 * 512)  # downs + IN
          + 16 * (512 * 512 + 2 * 1024 * 512 + 1024 * 256 + 512 * 128 + 256 * 64) + 2 * (3 * 512 + 256 + 128 + 64)
          + 16 * 128 * 3 + 3)
EXPECTED = {
    pix2pix: {"g": PIX2PIX_G, "d": CONV4_D(6, (64, 128, 256, 512), 0)},
    cyclegan: {"g": 2 * RESNET_G, "d_a": CONV4_D(3, (64, 128, 256, 512), 1)},
    discogan: {"g": 2 * DISCO_G, "d_a": CONV4_D(3, (64, 128, 256), 1)},
    dualgan: {"g": 2 * DUAL_G, "d_a": CONV4_D(3, (64, 128, 256), 1) + 2 * (128 + 256)},  # + BN scale and bias
}


def test_hand_counts():
    assert (PIX2PIX_G, RESNET_G, DISCO_G, DUAL_G) == (54_404_099, 11_378_179, 29_241_731, 41_828_995)


@pytest.mark.parametrize("model", list(EXPECTED), ids=ids)
def test_default_architecture_matches_pytorch_gan(model):
    shapes = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    assert {name: count(getattr(shapes, name).params) for name in EXPECTED[model]} == EXPECTED[model]


def test_config_errors():
    with pytest.raises(ValueError, match="multiple of 256"):
        pix2pix.Config(img_height=128, img_width=128).validate()
    with pytest.raises(ValueError, match="which_direction"):
        pix2pix.Config(which_direction="left").validate()
    with pytest.raises(ValueError, match="multiple of 16"):
        cyclegan.Config(img_height=40).validate()
    with pytest.raises(ValueError, match="decay must start before"):
        cyclegan.Config(steps_per_epoch=10, decay_epoch=200).validate()
    with pytest.raises(ValueError, match="multiple of 128"):
        dualgan.Config(img_size=64).validate()
    with pytest.raises(ValueError, match="depth"):
        discogan.Config(unet_depth=9).validate()


# ---------------------------------------------------------------------------------------------------------------
# pix2pix: L1 to the target + a conditional PatchGAN
# ---------------------------------------------------------------------------------------------------------------

def test_pix2pix_loss_is_lsgan_plus_100_l1_and_d_sees_the_condition():
    state = trained(pix2pix)
    batch = {k: jnp.asarray(v) for k, v in pair_batch(state.config).items()}
    loss, aux = jax.jit(pix2pix.generator_loss)(state, state.g.params, batch["image_a"], batch["image_b"],
                                                jax.random.key(0))
    np.testing.assert_allclose(float(aux["pixel"]), float(jnp.mean(jnp.abs(aux["fake_b"] - batch["image_b"]))),
                               rtol=1e-6)
    np.testing.assert_allclose(float(loss), float(aux["adv"] + 100 * aux["pixel"]), rtol=1e-6)
    _, disc = pix2pix._nets(state.config)
    scores = lambda cond: disc.apply({"params": state.d.params}, batch["image_b"], cond)
    chex.assert_shape(scores(batch["image_a"]), (1, 2, 2, 1))  # one score per 16x16 patch
    assert not np.allclose(scores(batch["image_a"]), scores(-batch["image_a"]))  # D judges (output, input) pairs


# ---------------------------------------------------------------------------------------------------------------
# cyclegan: cycle and identity losses, the image pool, the LR decay
# ---------------------------------------------------------------------------------------------------------------

def test_cyclegan_cycle_and_identity_terms_match_an_independent_computation():
    state = trained(cyclegan)
    batch = {k: jnp.asarray(v) for k, v in pair_batch(state.config, seed=1).items()}
    a, b = batch["image_a"], batch["image_b"]
    loss, aux = jax.jit(cyclegan.generator_losses)(state, state.g.params, a, b)
    g_ab = lambda x: cyclegan.translate(state, x)
    g_ba = lambda x: cyclegan.translate(state, x, direction="BtoA")
    l1 = lambda x, y: float(jnp.mean(jnp.abs(x - y)))
    np.testing.assert_allclose(float(aux["cycle"]), (l1(g_ba(g_ab(a)), a) + l1(g_ab(g_ba(b)), b)) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(aux["identity"]), (l1(g_ba(a), a) + l1(g_ab(b), b)) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(loss), float(aux["adv"] + 10 * aux["cycle"] + 5 * aux["identity"]), rtol=1e-5)
    np.testing.assert_allclose(cyclegan.reconstruct(state, a), g_ba(g_ab(a)), atol=1e-6)
    no_id = state.replace(config=tiny(cyclegan, lambda_id=0.0))
    loss0, _ = cyclegan.generator_losses(no_id, state.g.params, a, b)
    np.testing.assert_allclose(float(loss - loss0), 5 * float(aux["identity"]), rtol=1e-4)


def test_cyclegan_lr_decay_is_linear_after_decay_epoch():
    config = cyclegan.Config(n_epochs=200, decay_epoch=100, steps_per_epoch=10)
    factor = lambda count: float(netstate.epoch_decay_factor(config, jnp.asarray(count)))
    assert [factor(c) for c in (0, 999, 1000, 1009, 1010, 1500, 1999)] == pytest.approx(
        [1.0, 1.0, 1.0, 1.0, 0.99, 0.5, 0.01])
    assert float(netstate.epoch_decay_factor(cyclegan.Config(), jnp.asarray(10 ** 6))) == 1.0  # 0: constant
    with pytest.raises(ValueError, match="--decay_epoch 100 >= --n_epochs 100"):
        cyclegan.Config(n_epochs=100, steps_per_epoch=10).validate()


def test_image_pool_fills_then_swaps_half_the_time():
    pool = image_pool.empty((1, 1, 1), max_size=4)
    push = jax.jit(image_pool.push_and_pop)
    first = jnp.arange(1, 4, dtype=jnp.float32).reshape(3, 1, 1, 1)
    pool, out = push(pool, first, jax.random.key(0))
    np.testing.assert_array_equal(out, first)  # not full: returned as they are
    np.testing.assert_array_equal(pool.images[:3, 0, 0, 0], [1, 2, 3])
    assert int(pool.count) == 3
    swapped, total = 0, 0
    for i in range(60):
        new = jnp.arange(10 + 3 * i, 13 + 3 * i, dtype=jnp.float32).reshape(3, 1, 1, 1)
        full = int(pool.count) == 4
        stored_before = np.asarray(pool.images[:, 0, 0, 0]).tolist()
        pool, out = push(pool, new, jax.random.key(i + 1))
        if full:
            # a full pool only swaps: what was stored plus what came in = what is stored plus what went out
            stored_after = np.asarray(pool.images[:, 0, 0, 0]).tolist()
            assert sorted(stored_before + new.ravel().tolist()) == sorted(stored_after + np.asarray(out).ravel().tolist())
            old = np.asarray(out).ravel() < 10 + 3 * i
            swapped, total = swapped + int(old.sum()), total + 3
    assert int(pool.count) == 4
    assert 0.35 < swapped / total < 0.65  # random.uniform(0, 1) > 0.5


def test_cyclegan_discriminators_learn_from_the_pool():
    state = trained(cyclegan)
    assert int(state.pool_a.count) == int(state.pool_b.count) == 2 * state.config.batch_size  # 2 steps of 2
    assert float(jnp.abs(state.pool_b.images[:4]).sum()) > 0 and float(jnp.abs(state.pool_b.images[4:]).sum()) == 0


# ---------------------------------------------------------------------------------------------------------------
# discogan: reconstruction in both directions; dualgan: WGAN-GP critics, n_critic updates per G update
# ---------------------------------------------------------------------------------------------------------------

def test_discogan_reconstruction_trains_both_generators():
    state = trained(discogan)
    batch = {k: jnp.asarray(v) for k, v in pair_batch(state.config).items()}

    def cycle(params):
        return discogan.generator_losses(state, params, batch["image_a"], batch["image_b"], jax.random.key(0))[1][
            "cycle"]

    grads = jax.jit(jax.grad(cycle))(state.g.params)
    for name in ("G_AB", "G_BA"):
        assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads[name])), name


def test_dualgan_critic_steps_and_gradient_penalty():
    state = trained(dualgan)
    config = state.config
    adam_count = lambda net: int(jax.tree.leaves(net.opt_state)[0])
    assert adam_count(state.d_a) == adam_count(state.d_b) == 2 * config.n_critic  # 2 steps x n_critic
    assert adam_count(state.g) == 2
    assert dualgan.loader_batch_size(config) == config.batch_size * config.n_critic
    batch = pair_batch(config)
    real, fake = jnp.asarray(batch["image_a"][:2]), jnp.asarray(batch["image_b"][:2])
    _, disc = dualgan._nets(config)
    loss, _ = dualgan.critic_loss(disc, state.d_a, state.d_a.params, real, fake, jax.random.key(5))
    critic = lambda x: netstate.apply(disc, state.d_a, x, train=True)[0]
    expected = (jnp.mean(critic(fake)) - jnp.mean(critic(real))
                + 10 * losses.wgan_gp_penalty(critic, real, fake, jax.random.key(5)))
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5)
    with pytest.raises(ValueError, match="n_critic=2 batches"):
        dualgan.train_step(state, pair_batch(config, n=2), jax.random.key(0))


# ---------------------------------------------------------------------------------------------------------------
# remat: the same numbers, computed with less memory
# ---------------------------------------------------------------------------------------------------------------

def test_remat_gives_the_same_outputs_and_gradients():
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
    small_unet = dict(downs=((8, False, 0.0), (16, True, 0.5), (16, False, 0.5)), ups=((16, 0.5), (8, 0.0)),
                      channels=3)
    for make in (lambda remat: unet.UNetGenerator(**small_unet, remat=remat),
                 lambda remat: resnet.GeneratorResNet(3, n_residual_blocks=2, features=8, remat=remat)):
        plain, remat = make(False), make(True)
        params = jax.jit(functools.partial(plain.init, train=False))({"params": jax.random.key(0)}, x)["params"]
        rngs = {"dropout": jax.random.key(1)}

        def loss(module, p):
            return jnp.sum(jnp.square(module.apply({"params": p}, x, train=True, rngs=rngs)))

        value_and_grad = lambda module: jax.jit(jax.value_and_grad(functools.partial(loss, module)))(params)
        (v_plain, g_plain), (v_remat, g_remat) = value_and_grad(plain), value_and_grad(remat)
        np.testing.assert_allclose(v_plain, v_remat, rtol=1e-6)
        chex.assert_trees_all_close(g_plain, g_remat, atol=1e-5, rtol=1e-4)
