"""unit, munit, bicyclegan, stargan: the model contract on tiny configs, translate shapes (several styles for the
multimodal ones), the mechanism that defines each (shared latent blocks, AdaIN, the latent encoder's KL and latent
regression, attribute classification and n_critic), default architectures against the scripts, and bad input."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import bicyclegan, munit, stargan, unit
from gan_jax.nets import state as netstate
from gan_jax.nets import styles
from tests import contract
from tests.contract import check_contract

ids = lambda m: m.__name__.rsplit(".", 1)[-1]
TINY = {
    unit: dict(batch_size=2, img_height=32, img_width=32, dim=8),
    munit: dict(batch_size=2, img_height=32, img_width=32, dim=8, n_residual=1, d_scales=1),
    bicyclegan: dict(batch_size=2, img_height=32, img_width=32, d_scales=1),
    stargan: dict(batch_size=2, img_height=16, img_width=16, n_strided=2, residual_blocks=1, n_critic=2),
}


def tiny(model, **overrides):
    return model.Config(**{**TINY[model], **overrides})


def batch_for(config, seed=0):
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.img_height, config.img_width, config.channels)
    if isinstance(config, stargan.Config):
        n = config.batch_size * config.n_critic
        return {"image": rng.uniform(-1, 1, (n, *shape[1:])).astype(np.float32),
                "attrs": rng.integers(0, 2, (n, config.c_dim)).astype(np.float32)}
    return {"image_a": rng.uniform(-1, 1, shape).astype(np.float32),
            "image_b": rng.uniform(-1, 1, shape).astype(np.float32)}


@functools.cache
def trained(model):
    config = tiny(model)
    return check_contract(model, config, batch_for(config), steps=2)


@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_contract_translate_and_samples(model):
    state = trained(model)
    config = state.config
    batch = batch_for(config)
    images = jnp.asarray(batch["image"][:3] if model is stargan else batch["image_a"][:3])
    shape = images.shape
    key = jax.random.key(0)
    if model is stargan:
        out = jax.jit(stargan.translate)(state, images, attrs=jnp.ones(config.c_dim))
        chex.assert_shape(out, shape)
        assert jax.jit(stargan.classify)(state, images).shape == (3, config.c_dim)
        grid = jax.jit(model.samples)(state, key, batch)
        assert grid.shape == ((1 + config.c_dim) * stargan.N_SAMPLES, *shape[1:])
        return
    grid = jax.jit(model.samples)(state, key, batch)
    if model is unit:  # its grid holds both directions: A | A->B | B | B->A
        assert grid.shape == (4 * config.batch_size, *shape[1:])
        np.testing.assert_array_equal(grid[:2], batch["image_a"])
        return
    direction = "BtoA" if model is munit else "AtoB"
    chex.assert_shape(jax.jit(model.translate, static_argnums=3)(state, images, key, direction), shape)
    many = jax.jit(model.translate, static_argnums=(3, 4))(state, images, key, "AtoB", 4)
    chex.assert_shape(many, (4, *shape))
    assert float(jnp.max(jnp.abs(many))) <= 1.0
    # several styles of one input differ (even untrained: the style / z reaches the output)
    pairwise = [float(jnp.mean(jnp.abs(many[i] - many[j]))) for i in range(4) for j in range(i + 1, 4)]
    assert min(pairwise) > 0
    assert grid.shape == (config.batch_size * model.GRID_COLS, *shape[1:])  # each row: input, then 7 styles


@pytest.mark.parametrize("model", [munit, bicyclegan], ids=ids)
def test_example_guided_translation_takes_each_references_style(model):
    """``references``: the style (munit: B's style encoder; bicyclegan: the encoder's mean) of each target-domain
    image, applied to every input; one reference reproduces the decoder fed that code by hand."""
    state = trained(model)
    batch = batch_for(state.config)
    b = jnp.asarray(batch["image_b"][:1])
    a = jnp.concatenate([jnp.asarray(batch["image_a"][:1])] * 2)
    refs = jnp.concatenate([b, b[:, ::-1], -b])  # three different target-domain images
    out = jax.jit(model.translate, static_argnums=(3, 4))(state, a, jax.random.key(0), "AtoB", None, refs)
    chex.assert_shape(out, (3, *a.shape))
    assert float(jnp.mean(jnp.abs(out[0] - out[1]))) > 0  # two references, two looks
    if model is munit:
        trans, _ = munit._nets(state.config)
        run = lambda method, *args: trans.apply({"params": state.g.params}, *args, method=method)
        content, _ = run(munit.Translators.encode, a, 0)
        style = run(munit.Translators.encode, refs[2:3], 1)[1]
        expected = run(munit.Translators.decode, content, jnp.repeat(style, 2, axis=0), 1)
    else:
        gen, _, _ = bicyclegan._nets(state.config)
        mu = bicyclegan.encode(state, refs[2:3])[0]
        expected = netstate.apply(gen, state.g, a, jnp.repeat(mu, 2, axis=0), train=False)[0]
    chex.assert_trees_all_close(out[2], expected, atol=1e-5)
    with pytest.raises(ValueError, match="n_styles=2 but 3 reference images"):
        model.translate(state, a, jax.random.key(0), "AtoB", 2, refs)
    with pytest.raises(ValueError, match="expected reference images"):
        model.translate(state, a, jax.random.key(0), "AtoB", None, refs[..., :1])


@pytest.mark.parametrize("model", [unit, munit], ids=ids)
def test_unit_munit_decay_their_learning_rate_like_the_scripts(model):
    """unit.py / munit.py step utils.LambdaLR after every epoch for G and both Ds: at the end of training the LR is 0,
    so a step there changes nothing; with steps_per_epoch 0 (unknown) the LR stays constant."""
    config = tiny(model, n_epochs=2, decay_epoch=1, steps_per_epoch=1)
    state = contract.init(model, config)
    # a step taken when every optimizer has counted 2 steps (epoch 2 = n_epochs: factor 0) leaves all params as they are
    bump = lambda net: net.replace(opt_state=jax.tree.map(
        lambda x: jnp.full_like(x, 2) if x.dtype == jnp.int32 else x, net.opt_state))
    state = state.replace(g=bump(state.g), d_a=bump(state.d_a), d_b=bump(state.d_b))
    new, _ = jax.jit(model.train_step)(state, batch_for(config), jax.random.key(1))
    for name in ("g", "d_a", "d_b"):
        chex.assert_trees_all_close(getattr(new, name).params, getattr(state, name).params, atol=0)
    with pytest.raises(ValueError, match="--decay_epoch 5 >= --n_epochs 5"):
        tiny(model, n_epochs=5, decay_epoch=5, steps_per_epoch=3).validate()


# ---- unit: the shared latent space ----

def test_unit_translation_passes_through_the_shared_blocks_only():
    state = trained(unit)
    images = jnp.asarray(batch_for(state.config)["image_a"])

    def out(params):
        return jnp.sum(unit.translate(state.replace(g=state.g.replace(params=params)), images, jax.random.key(0)))

    grads = jax.jit(jax.grad(out))(state.g.params)
    norm = lambda tree: sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(tree))
    for used in ("encoders_0", "shared_e", "shared_g", "generators_1"):
        assert norm(grads[used]) > 0, used
    for unused in ("encoders_1", "generators_0"):
        assert norm(grads[unused]) == 0, unused
    assert float(unit.kl(jnp.asarray([[1.0, -3.0]]))) == 5.0  # unit.py's compute_kl: mean(mu^2)
    cyc = jax.jit(unit.cycle)(state, images, jax.random.key(1))
    assert cyc.shape == images.shape


# ---- munit: AdaIN carries the style ----

def test_adain_sets_each_channels_statistics():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(3.0, 5.0, (2, 6, 7, 4)), jnp.float32)
    scale = jnp.asarray(rng.uniform(0.5, 2, (2, 4)), jnp.float32)
    shift = jnp.asarray(rng.normal(size=(2, 4)), jnp.float32)
    y = styles.adain(x, scale, shift)
    np.testing.assert_allclose(jnp.mean(y, axis=(1, 2)), shift, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=(1, 2)), scale, rtol=1e-4)  # biased std, eps 1e-5 negligible here
    # the statistics of the content are gone: a shifted, rescaled input gives the same output
    np.testing.assert_allclose(styles.adain(2 * x + 7, scale, shift), y, atol=1e-4)


def test_munit_style_enters_the_decoder_through_adain_params():
    state = trained(munit)
    config = state.config
    trans, _ = munit._nets(config)
    images = jnp.asarray(batch_for(config)["image_a"])
    content, style = trans.apply({"params": state.g.params}, images, 0, method=munit.Translators.encode)
    assert style.shape == (2, config.style_dim) and content.shape == (2, 8, 8, 4 * config.dim)
    mlp_out = state.g.params["decoders_1"]["mlp"]["Dense_2"]["Dense_0"]["kernel"].shape[-1]
    assert mlp_out == 4 * (4 * config.dim) * config.n_residual  # shift and scale of 2 AdaINs per block
    decode = jax.jit(lambda s: trans.apply({"params": state.g.params}, content, s, 1,
                                           method=munit.Translators.decode))
    a, b = decode(jnp.zeros_like(style)), decode(jnp.ones_like(style))
    assert float(jnp.abs(a - b).mean()) > 0
    mlp_free = jax.tree.map(jnp.zeros_like, state.g.params)
    # with the MLP zeroed, every AdaIN has scale 0 and shift 0: the style cannot matter any more
    params = {**state.g.params, "decoders_1": {**state.g.params["decoders_1"],
                                               "mlp": mlp_free["decoders_1"]["mlp"]}}
    dec0 = jax.jit(lambda s: trans.apply({"params": params}, content, s, 1, method=munit.Translators.decode))
    np.testing.assert_array_equal(dec0(jnp.zeros_like(style)), dec0(3 * jnp.ones_like(style)))


# ---- bicyclegan: the latent encoder ----

def test_bicyclegan_kl_and_latent_regression_reach_the_right_networks():
    state = trained(bicyclegan)
    config = state.config
    batch = batch_for(config)
    mu = jnp.asarray([[0.5, -1.0], [2.0, 0.0]])
    logvar = jnp.asarray([[0.0, 1.0], [-1.0, 0.5]])
    m, lv = np.asarray(mu), np.asarray(logvar)
    expected = 0.5 * np.sum(np.exp(lv) + m**2 - lv - 1)  # bicyclegan.py: summed over batch and dimensions
    assert float(bicyclegan.kl_divergence(mu, logvar)) == pytest.approx(expected, rel=1e-6)

    def part(params, name):
        return bicyclegan.generator_losses(state, params, jnp.asarray(batch["image_a"]),
                                           jnp.asarray(batch["image_b"]), jax.random.key(0))[1]["metrics"][name]

    grads = jax.jit(lambda p: (jax.grad(part)(p, "g_latent"), jax.grad(part)(p, "g_kl")))
    (g_latent, e_latent), (g_kl, e_kl) = grads((state.g.params, state.e.params))
    norm = lambda tree: sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(tree))
    assert norm(g_latent) > 0 and norm(e_latent) == 0  # the script steps E before this term's backward
    assert norm(g_kl) == 0 and norm(e_kl) > 0  # the KL shapes the encoder only
    mu_b, logvar_b = jax.jit(bicyclegan.encode)(state, jnp.asarray(batch["image_b"]))
    assert mu_b.shape == logvar_b.shape == (2, config.latent_dim)


# ---- stargan: attribute classification and n_critic ----

def test_stargan_classification_loss_and_attribute_flips():
    logits = jnp.asarray([[2.0, -1.0, 0.0]])
    target = jnp.asarray([[1.0, 0.0, 1.0]])
    x = np.asarray(logits)
    expected = np.sum(np.log1p(np.exp(-x[0] * np.array([1, -1, 1]))))  # BCE summed over attributes
    assert float(stargan.classification_loss(logits, target)) == pytest.approx(expected, rel=1e-6)
    names = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    attrs = jnp.asarray([[1.0, 0.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(stargan.flip(attrs, 1, names), [[0, 1, 0, 1, 0]])  # blond clears black
    np.testing.assert_array_equal(stargan.flip(attrs, 3, names), [[1, 0, 0, 0, 0]])  # flip gender
    np.testing.assert_array_equal(stargan.flip(attrs, 4, names), [[1, 0, 0, 1, 1]])  # flip age


def test_stargan_updates_the_critic_n_critic_times_per_step():
    state = trained(stargan)
    count = lambda net: int(jax.tree.leaves(net.opt_state[0].count)[0])
    assert count(state.d) == 2 * state.config.n_critic and count(state.g) == 2
    assert stargan.loader_batch_size(state.config) == state.config.batch_size * state.config.n_critic


# ---- default architectures against PyTorch-GAN's (parameter counts by hand) ----

def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


RES256 = 2 * conv(3, 256, 256)
PATCH_IN = conv(4, 3, 64) + conv(4, 64, 128) + conv(4, 128, 256) + conv(4, 256, 512) + conv(3, 512, 1)
PATCH_BN = PATCH_IN + 2 * (128 + 256 + 512)
UNIT_ENC = conv(7, 3, 64) + conv(4, 64, 128) + conv(4, 128, 256) + 3 * RES256
UNIT_GEN = 3 * RES256 + conv(4, 256, 128) + conv(4, 128, 64) + conv(7, 64, 3)
MUNIT_CONTENT = UNIT_ENC
MUNIT_STYLE = conv(7, 3, 64) + conv(4, 64, 128) + conv(4, 128, 256) + conv(1, 256, 8)
MUNIT_DEC = (3 * RES256 + conv(5, 256, 128) + 2 * 128 + conv(5, 128, 64) + 2 * 64 + conv(7, 64, 3)
             + (8 * 256 + 256) + (256 * 256 + 256) + (256 * 3072 + 3072))
BICYCLE_G = (8 * 128 * 128 + 128 * 128 + conv(3, 4, 64, False) + conv(3, 64, 128, False) + 256
             + conv(3, 128, 256, False) + 512 + conv(3, 256, 512, False) + 1024 + 2 * (conv(3, 512, 512, False) + 1024)
             + conv(3, 512, 512, False)  # downs
             + conv(3, 512, 512, False) + 1024 + 2 * (conv(3, 1024, 512, False) + 1024) + conv(3, 1024, 256, False)
             + 512 + conv(3, 512, 128, False) + 256 + conv(3, 256, 64, False) + 128 + conv(3, 128, 3))
RESNET18_TO_LAYER3 = 2_782_784  # torchvision resnet18: 11,689,512 - layer4 8,393,728 - fc 513,000
STARGAN_G = (conv(7, 8, 64, False) + 128 + conv(4, 64, 128, False) + 256 + conv(4, 128, 256, False) + 512
             + 6 * (2 * conv(3, 256, 256, False) + 1024) + conv(4, 256, 128, False) + 256 + conv(4, 128, 64, False)
             + 128 + conv(7, 64, 3))
STARGAN_D = (sum(conv(4, 64 * 2 ** (i - 1) if i else 3, 64 * 2**i) for i in range(6)) + conv(3, 2048, 1, False)
             + conv(2, 2048, 5, False))
EXPECTED = {
    unit: {"g": 2 * UNIT_ENC + 2 * UNIT_GEN + 2 * RES256, "d_a": PATCH_IN},
    munit: {"g": 2 * (MUNIT_CONTENT + MUNIT_STYLE + MUNIT_DEC), "d_a": 3 * PATCH_IN},
    bicyclegan: {"g": BICYCLE_G, "e": RESNET18_TO_LAYER3 + 2 * (256 * 8 + 8), "d_vae": 3 * PATCH_BN},
    stargan: {"g": STARGAN_G, "d": STARGAN_D},
}


def test_hand_counts():
    assert (UNIT_ENC, MUNIT_DEC, BICYCLE_G, STARGAN_G, STARGAN_D) == (
        4_205_696, 5_432_067, 23_680_259, 8_430_531, 44_762_048)


@pytest.mark.parametrize("model", list(EXPECTED), ids=ids)
def test_default_architecture_matches_pytorch_gan(model):
    shapes = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    assert {k: netstate.count_params(getattr(shapes, k).params) for k in EXPECTED[model]} == EXPECTED[model]


# ---- bad input ----

def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 128"):
        munit.Config(img_height=64, img_width=64).validate()  # 3 scales of InstanceNorm patches need 128 px
    munit.Config(img_height=64, img_width=64, d_scales=2).validate()
    with pytest.raises(ValueError, match="power of 2"):
        bicyclegan.Config(img_height=96, img_width=96).validate()
    with pytest.raises(ValueError, match="square"):
        unit.Config(img_height=64, img_width=128).validate()
    with pytest.raises(ValueError, match="multiple of 64"):
        stargan.Config(img_height=100, img_width=100).validate()
    # these errors come before any computation: an initial state is enough
    state = contract.init(unit, tiny(unit))
    with pytest.raises(ValueError, match="16x16; this model needs sides of at least 32"):
        unit.translate(state, jnp.zeros((1, 16, 16, 3)), jax.random.key(0))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        unit.translate(state, jnp.zeros((1, 32, 32, 1)), jax.random.key(0))
    with pytest.raises(ValueError, match="direction"):
        unit.translate(state, jnp.zeros((1, 32, 32, 3)), jax.random.key(0), "AtoC")
    bicycle = contract.init(bicyclegan, tiny(bicyclegan))
    with pytest.raises(ValueError, match="A -> B only"):
        bicyclegan.translate(bicycle, jnp.zeros((1, 32, 32, 3)), jax.random.key(0), "BtoA")
    with pytest.raises(ValueError, match="takes exactly 32x32"):
        bicyclegan.translate(bicycle, jnp.zeros((1, 64, 64, 3)), jax.random.key(0))
    with pytest.raises(ValueError, match="image_a"):
        unit.train_step(state, {"image": np.zeros((2, 32, 32, 3))}, jax.random.key(0))
    star = contract.init(stargan, tiny(stargan))
    with pytest.raises(ValueError, match="attrs must be"):
        stargan.translate(star, jnp.zeros((2, 16, 16, 3)), attrs=[1, 0])
    with pytest.raises(ValueError, match="n_critic=2 batches"):
        stargan.train_step(star, batch_for(tiny(stargan, n_critic=1)), jax.random.key(0))
