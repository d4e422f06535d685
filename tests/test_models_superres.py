"""srgan and esrgan: the model contract on tiny configs, the PSNR pre-training stage, the perceptual (VGG) loss, the
relativistic average loss, rematerialisation, default architectures against the scripts, and bad input."""

import functools
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.models import esrgan, srgan
from gan_jax.nets import rrdb, vgg
from gan_jax.nets import state as netstate
from tests import contract
from tests.contract import check_contract

ids = lambda m: m.__name__.rsplit(".", 1)[-1]
TINY = {srgan: dict(batch_size=2, hr_height=16, hr_width=16, residual_blocks=1, warmup_batches=1),
        esrgan: dict(batch_size=2, hr_height=16, hr_width=16, residual_blocks=1, warmup_batches=1)}


def tiny(model, **overrides):
    return model.Config(**{**TINY[model], **overrides})


def sr_batch(config, seed=0):
    rng = np.random.default_rng(seed)
    h, w, c = config.hr_height, config.hr_width, config.channels
    hr = rng.uniform(-1, 1, (config.batch_size, h, w, c)).astype(np.float32)
    return {"hr": hr, "lr": hr.reshape(config.batch_size, h // 4, 4, w // 4, 4, c).mean(axis=(2, 4))}


@functools.cache
def trained(model):
    config = tiny(model)
    return check_contract(model, config, sr_batch(config), steps=3)  # step 0 pre-trains, steps 1-2 adversarial


@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_contract_translate_and_samples(model):
    state = trained(model)
    config = state.config
    lr = jnp.asarray(sr_batch(config)["lr"])
    out = jax.jit(model.translate)(state, lr, jax.random.key(0))
    chex.assert_shape(out, (config.batch_size, 16, 16, 3))
    assert float(jnp.max(jnp.abs(out))) <= 1.0 and model.SCALE == 4
    # fully convolutional: any LR size upscales 4x (the translate CLI tiles large images)
    assert jax.jit(model.translate)(state, jnp.zeros((1, 5, 7, 3)), jax.random.key(0)).shape == (1, 20, 28, 3)
    grid = jax.jit(model.samples)(state, jax.random.key(0), sr_batch(config))
    assert grid.shape == (3 * config.batch_size, 16, 16, 3)  # LR (upsampled) | SR | HR


@pytest.mark.parametrize("model", [esrgan], ids=ids)  # srgan's stage is the same code (srgan.sr_train_step)
def test_pretraining_stage_trains_g_on_pixels_only(model):
    config = tiny(model, warmup_batches=2)
    state = contract.init(model, config)
    step = jax.jit(model.train_step)
    batch = sr_batch(config)
    warm, metrics = step(state, batch, jax.random.key(0))
    assert float(metrics["warmup"]) == 1.0 and float(metrics["g_loss"]) == float(metrics["g_pretrain"])
    pixel = losses.mse_loss if model is srgan else losses.l1_loss
    sr = netstate.apply(model._nets(config)[0], state.g, jnp.asarray(batch["lr"]), train=True)[0]
    assert float(metrics["g_pretrain"]) == pytest.approx(float(pixel(sr, batch["hr"])), rel=1e-5)
    same = jax.tree.map(np.array_equal, state.d.params, warm.d.params)
    assert all(jax.tree.leaves(same))  # D is not updated while G pre-trains
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, state.g.params, warm.g.params)))
    warm, _ = step(warm, batch, jax.random.key(1))
    adv, metrics = step(warm, batch, jax.random.key(2))
    assert float(metrics["warmup"]) == 0.0 and float(metrics["g_loss"]) != float(metrics["g_pretrain"])
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, warm.d.params, adv.d.params)))


@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_pretrain_step_gives_what_train_step_gives_in_the_warm_up(model):
    config = tiny(model, warmup_batches=2)
    assert model.pretrain_steps(config) == 2
    fast = full = contract.init(model, config)
    for i in range(2):
        batch, key = sr_batch(config, seed=i), jax.random.key(i)
        fast, fast_metrics = jax.jit(model.pretrain_step)(fast, batch, key)
        full, full_metrics = jax.jit(model.train_step)(full, batch, key)
        assert float(fast_metrics["g_pretrain"]) == pytest.approx(float(full_metrics["g_pretrain"]), rel=1e-5)
    assert int(fast.step) == int(full.step) == 2
    for a, b in zip(jax.tree.leaves(fast.g), jax.tree.leaves(full.g), strict=True):  # params, Adam, BN statistics
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, fast.d, full.d)))  # D untouched by both


def test_the_engine_runs_the_pretrain_step_for_the_warm_up(tmp_path):
    from gan_jax import data, engine
    from gan_jax.data.kinds.superres import PairSource

    config = tiny(srgan, warmup_batches=2)
    traced = {"pretrain_step": 0, "train_step": 0}

    class Counting:  # srgan, counting how often the loop traces each step (once per function it compiles)
        def __getattr__(self, name):
            return getattr(srgan, name)

        def pretrain_step(self, *args):
            traced["pretrain_step"] += 1
            return srgan.pretrain_step(*args)

        def train_step(self, *args):
            traced["train_step"] += 1
            return srgan.train_step(*args)

    hr = sr_batch(tiny(srgan, batch_size=8))
    source = PairSource(((hr["lr"] + 1) * 127.5).astype(np.uint8),
                                            ((hr["hr"] + 1) * 127.5).astype(np.uint8), "tiny")
    options = engine.RunOptions(steps=3, checkpoint_interval=3, log_interval=1, progress=False, tensorboard=False,
                                sample_interval=100)
    state = engine.fit(Counting(), config, data.Loader(source, 2, seed=0), str(tmp_path), options)
    assert int(state.step) == 3 and traced == {"pretrain_step": 1, "train_step": 1}
    with open(tmp_path / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [r["warmup"] for r in rows if "warmup" in r] == [1.0, 1.0, 0.0]


def test_srgan_without_batch_norm():
    shapes = jax.eval_shape(functools.partial(srgan.init, config=srgan.Config(batch_norm=False)), jax.random.key(0))
    # BN scale + bias: 16 blocks x 2 x 64, the post-residual 64, the two upsampling 256s; each x 2
    assert netstate.count_params(shapes.g.params) == SRGAN_G - 2 * (16 * 2 * 64 + 64 + 2 * 256) == 1_545_238
    assert not jax.tree.leaves(shapes.g.batch_stats)
    state = trained_without_bn()
    assert jax.jit(srgan.translate)(state, jnp.zeros((1, 4, 4, 3))).shape == (1, 16, 16, 3)


@functools.cache
def trained_without_bn():
    config = tiny(srgan, batch_norm=False)
    return check_contract(srgan, config, sr_batch(config), steps=3)


def test_content_loss_compares_vgg_features():
    state = trained(srgan)
    rng = np.random.default_rng(0)
    hr = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
    sr = hr + 0.3 * jnp.asarray(rng.normal(size=hr.shape), jnp.float32)
    loss = srgan.content_loss(state.vgg, sr, hr, srgan.VGG_LAYERS)
    expected = jnp.mean(jnp.abs(vgg.features(state.vgg, sr, 18) - vgg.features(state.vgg, hr, 18)))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5) and float(loss) > 0
    assert float(srgan.content_loss(state.vgg, hr, hr, srgan.VGG_LAYERS)) == 0.0
    other = vgg.random_params(srgan.VGG_LAYERS, seed=1)  # other features, another loss
    assert float(srgan.content_loss(other, sr, hr, srgan.VGG_LAYERS)) != pytest.approx(float(loss), rel=1e-3)
    grad_sr, grad_hr = jax.grad(lambda a, b: srgan.content_loss(state.vgg, a, b, 18), argnums=(0, 1))(sr, hr)
    assert float(jnp.abs(grad_sr).max()) > 0 and float(jnp.abs(grad_hr).max()) == 0  # HR features are constants
    assert set(state.vgg) == {f"features_{i}" for i in vgg.conv_shapes(18)}
    assert set(trained(esrgan).vgg) == {f"features_{i}" for i in vgg.conv_shapes(35)}  # up to conv5_4


def test_esrgan_uses_the_relativistic_average_losses():
    rng = np.random.default_rng(0)
    real, fake = (jnp.asarray(rng.normal(size=(3, 2, 2, 1)), jnp.float32) for _ in range(2))
    softplus = lambda x: np.log1p(np.exp(x))
    r, f = np.asarray(real), np.asarray(fake)
    d_rel_real, d_rel_fake = r - f.mean(axis=0), f - r.mean(axis=0)
    d_expected = 0.5 * (softplus(-d_rel_real).mean() + softplus(d_rel_fake).mean())  # BCE(., 1), BCE(., 0)
    assert float(esrgan._d_loss(real, fake)) == pytest.approx(d_expected, rel=1e-5)
    config = tiny(esrgan)
    zeros = jnp.zeros((3, 8, 8, 3))
    total, parts = esrgan._g_loss(config, real, fake, 0.0, zeros, zeros)
    g_expected = 0.5 * (softplus(d_rel_real).mean() + softplus(-d_rel_fake).mean())  # labels swapped
    assert float(parts["g_adv"]) == pytest.approx(g_expected, rel=1e-5)
    assert float(total) == pytest.approx(config.lambda_adv * g_expected, rel=1e-5)
    # the paper's loss: the real images' scores enter G's loss (the script's drops that term)
    assert float(esrgan._g_loss(config, real + 1.0, fake, 0.0, zeros, zeros)[1]["g_adv"]) != pytest.approx(g_expected)


@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_remat_changes_memory_not_numbers(model):
    state = trained(model)
    lr, hr = (jnp.asarray(x) for x in (sr_batch(state.config)["lr"], sr_batch(state.config)["hr"]))
    values = []
    for remat in (False, True):
        gen = model._nets(tiny(model, remat=remat))[0]

        def loss(params):
            out, _ = netstate.apply(gen, state.g, lr, train=True, params=params)
            return losses.l1_loss(out, hr)

        values.append(jax.jit(jax.value_and_grad(loss))(state.g.params))  # the same parameter tree either way
    (l1, g1), (l2, g2) = values
    assert float(l1) == pytest.approx(float(l2), rel=1e-6)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_pixel_shuffle_matches_pytorch_order():
    x = jnp.arange(2 * 3 * 8, dtype=jnp.float32).reshape(1, 2, 3, 8)  # NHWC, C = 2 * 2^2
    y = rrdb.pixel_shuffle(x, 2)
    assert y.shape == (1, 4, 6, 2)
    # PyTorch: out[c, 2h + i, 2w + j] = in[c * 4 + i * 2 + j, h, w]
    for c, h, w, i, j in [(0, 0, 0, 0, 1), (1, 1, 2, 1, 0), (1, 0, 1, 1, 1)]:
        assert float(y[0, 2 * h + i, 2 * w + j, c]) == float(x[0, h, w, c * 4 + i * 2 + j])


# ---- default architectures against PyTorch-GAN's (parameter counts by hand; BN: scale + bias) ----

def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


SRGAN_G = (conv(9, 3, 64) + 1 + 16 * (2 * conv(3, 64, 64) + 2 * 128 + 1) + conv(3, 64, 64) + 128
           + 2 * (conv(3, 64, 256) + 512 + 1) + conv(9, 64, 3))
SR_D = (conv(3, 3, 64) + conv(3, 64, 64) + 128 + conv(3, 64, 128) + 256 + conv(3, 128, 128) + 256
        + conv(3, 128, 256) + 512 + conv(3, 256, 256) + 512 + conv(3, 256, 512) + 1024 + conv(3, 512, 512) + 1024
        + conv(3, 512, 1))
DENSE = sum(conv(3, 64 * i, 64) for i in range(1, 6))
ESRGAN_G = conv(3, 3, 64) + 23 * 3 * DENSE + conv(3, 64, 64) + 2 * conv(3, 64, 256) + conv(3, 64, 64) + conv(3, 64, 3)


def test_hand_counts():
    assert (SRGAN_G, SR_D, ESRGAN_G) == (1_550_486, 4_693_697, 38_549_123)


@pytest.mark.parametrize("model,expected", [(srgan, {"g": SRGAN_G, "d": SR_D}), (esrgan, {"g": ESRGAN_G, "d": SR_D})],
                         ids=["srgan", "esrgan"])
def test_default_architecture_matches_pytorch_gan(model, expected):
    shapes = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    assert {k: netstate.count_params(getattr(shapes, k).params) for k in expected} == expected


# ---- bad input ----

def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--hr_height must be a positive multiple of 16"):
        srgan.Config(hr_height=24).validate()
    with pytest.raises(ValueError, match="--hr_width must be"):
        esrgan.Config(hr_width=8).validate()
    state = contract.init(srgan, tiny(srgan))  # the errors come before any computation: an initial state is enough
    with pytest.raises(ValueError, match="'lr', 'hr'"):
        srgan.train_step(state, {"image": np.zeros((2, 32, 32, 3))}, jax.random.key(0))
    with pytest.raises(ValueError, match="expected hr"):
        srgan.train_step(state, sr_batch(tiny(srgan, hr_height=32)), jax.random.key(0))
    with pytest.raises(ValueError, match="expected LR images"):
        srgan.translate(state, jnp.zeros((1, 8, 8, 1)))
    bad = tmp_path / "vgg_bad.npz"
    np.savez(bad, **{"features.0.weight": np.zeros((64, 3, 5, 5), np.float32),
                     "features.0.bias": np.zeros(64, np.float32)})
    with pytest.raises(vgg.VGGWeightsError, match="features.0.weight has shape"):
        jax.eval_shape(functools.partial(srgan.init, config=tiny(srgan, vgg_weights=str(bad))), jax.random.key(0))
