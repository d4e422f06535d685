"""The domain / inpainting ports: aae, cogan, pixelda, context_encoder, ccgan, and their data kinds (mnistm,
inpainting) and hole masks.

Each model: the contract on a tiny config (translate/inpaint shapes where there is no ``generate``), its default
architecture's parameter count against the PyTorch-GAN script (hand-computed), and the mechanism that defines it.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from gan_jax.data.kinds import inpainting as inpainting_data
from gan_jax.data.kinds import mnistm as mnistm_data
from gan_jax.models import aae, ccgan, cogan, context_encoder, pixelda
from gan_jax.nets import masks
from gan_jax.nets import state as netstate
from tests.contract import check_contract, image_batch

ids = lambda m: m.__name__.rsplit(".", 1)[-1]
TINY = {
    aae: dict(batch_size=8, img_size=8, latent_dim=4),
    cogan: dict(batch_size=8, img_size=16, latent_dim=8),
    pixelda: dict(batch_size=8, img_size=32, n_residual_blocks=1),
    context_encoder: dict(batch_size=4, img_size=32, mask_size=16),
    ccgan: dict(batch_size=4, img_size=64, mask_size=16),
}


def tiny(model, **overrides):
    return model.Config(**{**TINY[model], **overrides})


def domain_batch(config, seed=0):
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.img_size, config.img_size, config.channels)
    return {"image_a": rng.uniform(-1, 1, shape).astype(np.float32), "label_a": rng.integers(0, 10, shape[0]),
            "image_b": rng.uniform(-1, 1, shape).astype(np.float32), "label_b": rng.integers(0, 10, shape[0])}


def batch_for(model, config):
    return domain_batch(config) if model.DATA == "mnistm" else image_batch(config)


@functools.cache
def trained(model):
    """The state after check_contract's 3 steps on the tiny config (once per model, reused by the later checks)."""
    config = tiny(model)
    return check_contract(model, config, batch_for(model, config), steps=3)


def count(tree) -> int:
    return netstate.count_params(tree)


# ---------------------------------------------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", list(TINY), ids=ids)
def test_contract(model):
    state = trained(model)
    config = state.config
    shape = (5, config.img_size, config.img_size, config.channels)
    images = jnp.asarray(image_batch(config, n=5)["image"])
    if model is pixelda:
        assert jax.jit(pixelda.translate)(state, images, jax.random.key(0)).shape == shape
        assert jax.jit(pixelda.classify)(state, images).shape == (5, config.n_classes)
    if model in (context_encoder, ccgan):
        masked, filled = jax.jit(model.inpaint)(state, images)
        assert masked.shape == filled.shape == shape
        assert float(jnp.max(jnp.abs(filled))) <= 1.0
    if hasattr(model, "samples"):  # rows of the engine's grid: inputs | outputs | ..., or cogan's A | B pairs
        grid = jax.jit(model.samples)(state, jax.random.key(0), batch_for(model, config))
        rows = 2 if model is cogan else 3
        assert grid.shape == (rows * config.batch_size, *shape[1:])


# ---------------------------------------------------------------------------------------------------------------
# Default architectures against the scripts (torch parameter counts: no running statistics)
# ---------------------------------------------------------------------------------------------------------------

def linear(fan_in, fan_out, bias=True):
    return fan_in * fan_out + (fan_out if bias else 0)


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def bn(c):
    return 2 * c


# aae.py, 32x32x1, latent 10
AAE = {"encoder": linear(1024, 512) + linear(512, 512) + bn(512) + 2 * linear(512, 10),
       "decoder": linear(10, 512) + linear(512, 512) + bn(512) + linear(512, 1024),
       "d": linear(10, 512) + linear(512, 256) + linear(256, 1)}
# cogan.py, 32x32x3, latent 100: fc + shared_conv, two heads; shared D trunk, two linear heads
COGAN_HEAD = conv(3, 128, 64) + bn(64) + conv(3, 64, 3)
COGAN = {"g": linear(100, 128 * 8 * 8) + bn(128) + conv(3, 128, 128) + bn(128) + 2 * COGAN_HEAD,
         "d": conv(3, 3, 16) + conv(3, 16, 32) + bn(32) + conv(3, 32, 64) + bn(64) + conv(3, 64, 128) + bn(128)
         + 2 * linear(128 * 2 * 2, 1)}
# the four 3x3 blocks (64..512) shared by pixelda's D and classifier and the inpainting D (InstanceNorm: no params)
BLOCKS = conv(3, 3, 64) + conv(3, 64, 128) + conv(3, 128, 256) + conv(3, 256, 512)
# pixelda.py, 32x32x3, 6 residual blocks, latent 10
PIXELDA = {"g": linear(10, 3 * 32 * 32) + conv(3, 6, 64) + 6 * (2 * conv(3, 64, 64) + 2 * bn(64)) + conv(3, 64, 3),
           "c": BLOCKS + linear(512 * 2 * 2, 10),
           "d": BLOCKS + conv(3, 512, 1)}
# context_encoder/models.py, 3 channels
CONTEXT_ENCODER = {
    "g": (conv(4, 3, 64) + conv(4, 64, 64) + bn(64) + conv(4, 64, 128) + bn(128) + conv(4, 128, 256) + bn(256)
          + conv(4, 256, 512) + bn(512) + conv(1, 512, 4000) + conv(4, 4000, 512) + bn(512) + conv(4, 512, 256)
          + bn(256) + conv(4, 256, 128) + bn(128) + conv(4, 128, 64) + bn(64) + conv(3, 64, 3)),
    "d": BLOCKS + conv(3, 512, 1)}
# ccgan/models.py, 3 channels (U-Net convolutions have no bias)
CCGAN = {
    "g": (conv(4, 3, 64, False) + conv(4, 64, 128, False) + bn(128) + conv(4, 131, 256, False) + bn(256)
          + conv(4, 256, 512, False) + bn(512) + 2 * (conv(4, 512, 512, False) + bn(512))  # down
          + conv(4, 512, 512, False) + bn(512) + conv(4, 1024, 512, False) + bn(512) + conv(4, 1024, 256, False)
          + bn(256) + conv(4, 512, 128, False) + bn(128) + conv(4, 259, 64, False) + bn(64)  # up
          + conv(3, 128, 3)),
    "d": BLOCKS + conv(3, 512, 1)}
EXPECTED = {aae: AAE, cogan: COGAN, pixelda: PIXELDA, context_encoder: CONTEXT_ENCODER, ccgan: CCGAN}


def test_hand_counts():
    # the same numbers written out once, so a slip in the helpers above cannot hide
    assert AAE == {"encoder": 798_740, "decoder": 794_624, "d": 137_217}
    assert COGAN == {"g": 1_126_790, "d": 98_914}
    assert PIXELDA == {"g": 483_715, "c": 1_571_466, "d": 1_555_585}
    assert CONTEXT_ENCODER["g"] == 40_401_187 and CCGAN["g"] == 29_257_731 and CCGAN["d"] == 1_555_585


@pytest.mark.parametrize("model", list(EXPECTED), ids=ids)
def test_default_architecture_matches_pytorch_gan(model):
    shapes = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    assert {name: count(getattr(shapes, name).params) for name in EXPECTED[model]} == EXPECTED[model]


# ---------------------------------------------------------------------------------------------------------------
# aae: the adversarial regularisation acts on the encoder's codes
# ---------------------------------------------------------------------------------------------------------------

def test_aae_adversarial_term_reaches_only_the_encoder_and_pulls_codes_to_the_prior():
    config = tiny(aae, lr=1e-3)
    state = aae.init(jax.random.key(0), config)
    # Codes far from the prior: shift every code by +3 through the encoder's mu bias.
    enc = netstate.unfreeze(state.encoder.params)
    enc["mu"]["Dense_0"]["bias"] = enc["mu"]["Dense_0"]["bias"] + 3.0
    state = state.replace(encoder=state.encoder.replace(params=enc))
    batch = image_batch(config)
    step = jax.jit(aae.train_step)
    for i in range(60):  # D learns to tell N(0, I) from the shifted codes
        state, metrics = step(state, batch, jax.random.key(i))
    assert float(metrics["d_loss"]) < 0.3 and float(metrics["z_mean"]) > 2.0

    def adversarial(params):
        return aae.autoencoder_losses(state, params, jnp.asarray(batch["image"]), jax.random.key(99))[1]["adv"]

    enc_grads, dec_grads = jax.jit(jax.grad(adversarial))((state.encoder.params, state.decoder.params))
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(dec_grads))  # D judges codes, not images
    # Gradient descent on the adversarial term lowers the codes' mean: towards the prior's 0.
    assert float(jnp.mean(enc_grads["mu"]["Dense_0"]["bias"])) > 0


# ---------------------------------------------------------------------------------------------------------------
# cogan: one set of shared weights; the heads are the only per-domain parameters
# ---------------------------------------------------------------------------------------------------------------

def test_cogan_shares_first_generator_layers_and_last_discriminator_layers():
    state = trained(cogan)
    config = state.config
    assert set(state.g.params) == {"shared", "G1", "G2"}
    assert set(state.d.params) == {"shared", "D1", "D2"}
    gen, _ = cogan._nets(config)
    z = netstate.latent(jax.random.key(0), 4, config.latent_dim)

    def domain_output(params, domain):
        return jnp.sum(netstate.apply(gen, state.g, z, train=False, params=params)[0][domain])

    grads = jax.jit(jax.grad(domain_output), static_argnums=1)
    grads_a, grads_b = grads(state.g.params, 0), grads(state.g.params, 1)
    nonzero = lambda tree: any(float(jnp.abs(x).max()) > 0 for x in jax.tree.leaves(tree))
    assert nonzero(grads_a["shared"]) and nonzero(grads_b["shared"])  # both domains train the same trunk
    assert not nonzero(grads_a["G2"]) and not nonzero(grads_b["G1"])  # each head serves one domain
    # a change of the shared weights changes both images of a pair; a head's change only its own
    bumped = jax.tree.map(lambda x: x, netstate.unfreeze(state.g.params))
    bumped["shared"]["fc"] = jax.tree.map(lambda x: x * 1.5, bumped["shared"]["fc"])
    pairs = jax.jit(lambda params: netstate.apply(gen, state.g, z, train=False, params=params)[0])
    a0, b0 = pairs(state.g.params)
    a1, b1 = pairs(bumped)
    assert not np.allclose(a0, a1) and not np.allclose(b0, b1)
    head = netstate.unfreeze(state.g.params)
    head["G1"] = jax.tree.map(lambda x: x * 1.5, head["G1"])
    a2, b2 = pairs(head)
    assert not np.allclose(a0, a2) and np.array_equal(b0, b2)


def test_cogan_pairs_come_from_one_code():
    state = trained(cogan)
    key = jax.random.key(3)
    pairs = jax.jit(cogan.generate_pairs, static_argnums=2)
    img_a, img_b = pairs(state, key, 6)
    assert img_a.shape == img_b.shape == (6, 16, 16, 3)
    generate = jax.jit(cogan.generate, static_argnums=(2, 3))
    np.testing.assert_allclose(generate(state, key, 6, 0), img_a, atol=1e-6)
    np.testing.assert_allclose(generate(state, key, 6, 1), img_b, atol=1e-6)
    grid = jax.jit(cogan.samples)(state, key, {"image_a": np.zeros((16, 16, 16, 3))})
    np.testing.assert_allclose(grid[8:16], pairs(state, key, 16)[1][:8], atol=1e-6)  # an A row, then the same codes' B row
    with pytest.raises(ValueError, match="domains 0"):
        cogan.generate(state, key, 2, domain=2)


# ---------------------------------------------------------------------------------------------------------------
# pixelda: the task classifier learns from the translated images
# ---------------------------------------------------------------------------------------------------------------

def test_pixelda_task_loss_sees_the_translated_images():
    state = trained(pixelda)
    config = state.config
    batch = domain_batch(config)
    z = pixelda.noise(jax.random.key(0), config.batch_size, config)

    def task(g_params):
        return pixelda.generator_losses(state, (g_params, state.c.params), jnp.asarray(batch["image_a"]),
                                        jnp.asarray(batch["label_a"]), z)[1]["task"]

    task = jax.jit(task)
    changed = jax.tree.map(lambda x: x * 1.2, state.g.params)
    assert float(task(changed)) != pytest.approx(float(task(state.g.params)), abs=1e-7)
    grads = jax.jit(jax.grad(task))(state.g.params)
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))


def test_pixelda_needs_source_labels():
    state = trained(pixelda)
    batch = domain_batch(state.config)
    del batch["label_a"]
    with pytest.raises(ValueError, match="label_a"):
        pixelda.train_step(state, batch, jax.random.key(0))


# ---------------------------------------------------------------------------------------------------------------
# Inpainting: holes, and losses confined to them
# ---------------------------------------------------------------------------------------------------------------

def test_masks_cut_fill_and_paste_the_same_square():
    imgs = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 12, 12, 3)), jnp.float32)
    offsets = masks.random_offsets(jax.random.key(0), 64, 12, 5)
    assert int(offsets.min()) == 0 and int(offsets.max()) == 12 - 5 - 1  # randint(0, img - mask), as the scripts
    inside = masks.region(offsets, 12, 5)
    assert inside.sum(axis=(1, 2, 3)).tolist() == [25] * 64
    masked = masks.apply_mask(imgs, offsets, 5, 1.0)
    np.testing.assert_array_equal(jnp.where(inside, 1.0, imgs), masked)
    np.testing.assert_array_equal(masks.paste(masked, masks.crop(imgs, offsets, 5), offsets), imgs)
    assert masks.center_offsets(2, 128, 64).tolist() == [[32, 32], [32, 32]]


def test_mask_larger_than_the_image_is_a_clear_error():
    with pytest.raises(ValueError, match="mask_size 80 does not fit in --img_size 64"):
        masks.check_mask(64, 80)
    with pytest.raises(ValueError, match="does not fit"):
        ccgan.Config(img_size=64, mask_size=64).validate()
    with pytest.raises(ValueError, match="does not fit"):
        context_encoder.Config(img_size=64, mask_size=128).validate()
    with pytest.raises(ValueError, match="mask_size must be 32"):
        context_encoder.Config(img_size=64, mask_size=16).validate()
    with pytest.raises(ValueError, match="does not fit"):
        data.load("offline", "inpainting", img_size=32, channels=3, config=ccgan.Config(img_size=32, mask_size=40))


def test_context_encoder_pixel_loss_only_sees_the_hole():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(-1, 1, (4, 32, 32, 3)), jnp.float32)
    offsets = masks.random_offsets(jax.random.key(1), 4, 32, 16)
    painted = jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 3)), jnp.float32)
    inside = masks.region(offsets, 32, 16)
    noise = jnp.asarray(rng.normal(size=images.shape), jnp.float32)
    loss = context_encoder.pixel_loss(painted, images, offsets)
    assert float(context_encoder.pixel_loss(painted, jnp.where(inside, images, noise), offsets)) == float(loss)
    assert float(context_encoder.pixel_loss(painted, jnp.where(inside, noise, images), offsets)) != float(loss)
    # and in-painting keeps the context: outside the hole the result is the masked input
    state = trained(context_encoder)
    masked, filled = jax.jit(context_encoder.inpaint)(state, images, offsets)
    np.testing.assert_array_equal(jnp.where(inside, 0, filled), jnp.where(inside, 0, images))
    assert float(jnp.abs(jnp.where(inside, filled - masked, 0)).max()) > 0


def test_ccgan_discriminator_sees_the_generator_only_inside_the_hole():
    state = trained(ccgan)
    config = state.config
    images = jnp.asarray(image_batch(config)["image"])
    offsets = masks.random_offsets(jax.random.key(1), config.batch_size, config.img_size, config.mask_size)
    inside = masks.region(offsets, config.img_size, config.mask_size)
    generated = jnp.zeros_like(images)
    grads = jax.grad(lambda g: jnp.sum(ccgan.complete(config, g, images, offsets) ** 2 + 1))(generated + 0.5)
    assert float(jnp.abs(jnp.where(inside, 0, grads)).max()) == 0.0  # nothing outside the hole reaches D
    assert float(jnp.abs(jnp.where(inside, grads, 1)).min()) > 0  # everything inside does
    script = ccgan.Config(**{**TINY[ccgan], "paste_context": False})
    np.testing.assert_array_equal(ccgan.complete(script, generated, images, offsets), generated)
    masked, filled = jax.jit(ccgan.inpaint)(state, images, offsets)
    np.testing.assert_array_equal(jnp.where(inside, 0, filled), jnp.where(inside, 0, images))
    assert float(jnp.where(inside, masked, -1).max()) == -1.0  # ccgan's holes are black
    assert ccgan.low_resolution(images).shape == (config.batch_size, 16, 16, 3)


# ---------------------------------------------------------------------------------------------------------------
# Data kinds
# ---------------------------------------------------------------------------------------------------------------

def test_mnistm_builder_is_deterministic_and_blends_digits_with_photos():
    digits, _ = data.offline.mnist("test")
    digits = digits[:20]
    photo = np.zeros((40, 40, 3), np.uint8)
    photo[...] = (10, 100, 200)  # a flat colour photo: the blend is exactly predictable
    out = mnistm_data.build_mnistm(digits, seed=3, photos=[photo])
    strokes = digits[..., 0] > 0
    expected = np.where(strokes[..., None], 255 - photo[0, 0], photo[0, 0])
    np.testing.assert_array_equal(out, expected)
    real = mnistm_data.build_mnistm(digits, seed=3)
    np.testing.assert_array_equal(real, mnistm_data.build_mnistm(digits, seed=3))
    assert not np.array_equal(real, mnistm_data.build_mnistm(digits, seed=4))
    assert real.shape == (20, 28, 28, 3) and real.dtype == np.uint8
    assert np.mean(real[..., 0] != real[..., 2]) > 0.3  # colour photos, not gray digits
    # |crop - 255| on the strokes, |crop - 0| around them: the strokes stay visible against every background
    assert np.mean(np.abs(real.astype(int).mean(-1)[strokes] - 127.5)) > 10


def test_mnistm_kind_gives_unpaired_labelled_domains():
    src = data.load("mnistm", "mnistm", img_size=32, channels=3, split="test")
    assert len(src) == 500
    batch = src.get(np.arange(100))
    assert batch["image_a"].shape == batch["image_b"].shape == (100, 32, 32, 3)
    assert -1 <= batch["image_b"].min() and batch["image_b"].max() <= 1
    np.testing.assert_array_equal(batch["image_a"][..., 0], batch["image_a"][..., 2])  # MNIST, replicated
    assert np.mean(batch["label_a"] == batch["label_b"]) < 0.3  # row i is not the same digit: unpaired


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_mnistm_folder_layout_and_missing_labels(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "mnist_m"
    for i in range(6):
        _write(root / "mnist_m_train" / f"{i:08d}.png", rng.integers(0, 255, (28, 28, 3), dtype=np.uint8))
    with pytest.raises(data.DatasetError, match="no labels file"):
        data.load(str(root), "mnistm", img_size=16, channels=3)
    (root / "mnist_m_train_labels.txt").write_text("".join(f"{i:08d}.png {i % 10}\n" for i in range(6)))
    src = data.load(str(root), "mnistm", img_size=16, channels=3)
    batch = src.get(np.arange(6))
    assert batch["image_b"].shape == (6, 16, 16, 3) and sorted(batch["label_b"].tolist()) == list(range(6))
    with pytest.raises(data.DatasetError, match="unknown dataset"):
        data.load("mnist-m", "mnistm", img_size=16, channels=3)


def test_inpainting_kind_offline_folder_and_tfds(tmp_path):
    src = data.load("offline", "inpainting", img_size=32, channels=3, config=ccgan.Config(img_size=32, mask_size=16))
    assert len(src) == 1980 and len(data.load("offline", "inpainting", img_size=32, channels=3, split="test")) == 220
    batch = src.get(np.arange(4))
    assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.float32
    np.testing.assert_array_equal(inpainting_data.offline_images("train", 32, 3),
                                  inpainting_data.offline_images("train", 32, 3))
    for i in range(20):
        _write(tmp_path / "img_align_celeba" / f"{i:06d}.jpg", np.full((20, 16, 3), i * 10, np.uint8))
    folder = str(tmp_path / "img_align_celeba")
    train, test = (data.load(folder, "inpainting", img_size=8, channels=3, split=s) for s in ("train", "test"))
    assert (len(train), len(test)) == (18, 2) and "label" not in train.get(np.arange(2))
    assert os.path.basename(test.files[-1]) == "000019.jpg"  # the last files are held out, as datasets.py
    with pytest.raises(data.DatasetError, match="not prepared.*tfds build celeb_a"):
        data.load("tfds:celeb_a", "inpainting", img_size=8, channels=3, data_dir=str(tmp_path / "tfds"))
