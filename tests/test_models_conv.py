"""The convolutional PyTorch-GAN ports: dcgan, lsgan, dragan, relativistic_gan, began, ebgan.

Each: the model contract on a tiny config, the mechanism that defines it, and its default architecture's parameter
count against PyTorch-GAN's script (hand-computed from the layer shapes).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import began, dcgan, dragan, ebgan, lsgan, relativistic_gan
from gan_jax.nets import alternating
from gan_jax.nets import dcgan as dcgan_nets
from tests.contract import check_contract, image_batch

MODELS = [dcgan, lsgan, dragan, relativistic_gan, began, ebgan]


@pytest.fixture(autouse=True)
def _fresh_trace_counter():
    # chex identifies a function by its source text: dcgan/lsgan/dragan's train_step read the same (the loss is a
    # module global), so their traces would be counted together across tests.
    chex.clear_trace_counter()


def tiny(model, **overrides):
    return model.Config(batch_size=8, img_size=16, latent_dim=4, **overrides)


def count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_contract(model):
    config = tiny(model)
    check_contract(model, config, image_batch(config))


# ---- parameter counts at the scripts' defaults (32 px, 1 channel), as torch counts them (no running stats) ----

def conv3(cin, cout):
    return 9 * cin * cout + cout


def linear(fan_in, fan_out):
    return fan_in * fan_out + fan_out


def bn(c):
    return 2 * c  # scale + bias


def dcgan_generator(latent, first_bn):
    # l1: Linear(latent, 128 * 8 * 8); [BatchNorm2d(128)]; conv 128->128, BN; conv 128->64, BN; conv 64->1
    return (linear(latent, 128 * 8 * 8) + (bn(128) if first_bn else 0) + conv3(128, 128) + bn(128)
            + conv3(128, 64) + bn(64) + conv3(64, 1))


# blocks 1->16 (no BN), 16->32, 32->64, 64->128 (BN each), adv_layer Linear(128 * 2 * 2, 1)
DCGAN_D = conv3(1, 16) + conv3(16, 32) + bn(32) + conv3(32, 64) + bn(64) + conv3(64, 128) + bn(128) + linear(512, 1)
# down conv 1->64 (stride 2: 16x16), Linear(64 * 16 * 16, 32), BN1d(32), Linear(32, 16384), BN1d(16384), up conv 64->1
AUTOENCODER_D = conv3(1, 64) + linear(16384, 32) + bn(32) + linear(32, 16384) + bn(16384) + conv3(64, 1)

EXPECTED = {  # model: (G, D)
    dcgan: (dcgan_generator(100, True), DCGAN_D),
    lsgan: (dcgan_generator(100, False), DCGAN_D),
    dragan: (dcgan_generator(100, True), DCGAN_D),
    relativistic_gan: (dcgan_generator(100, True), DCGAN_D),
    began: (dcgan_generator(62, True), AUTOENCODER_D),
    ebgan: (dcgan_generator(62, False), AUTOENCODER_D),
}


def test_hand_counts():
    # the same numbers, written out once, so a mistake in the helpers above cannot hide
    assert (dcgan_generator(100, True), dcgan_generator(100, False), DCGAN_D) == (1_049_985, 1_049_729, 98_113)
    assert (dcgan_generator(62, True), dcgan_generator(62, False), AUTOENCODER_D) == (738_689, 738_433, 1_099_041)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_default_architecture_matches_pytorch_gan(model):
    shapes = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    assert (count(shapes.g.params), count(shapes.d.params)) == EXPECTED[model]


# ---- the defining mechanisms ----

def test_lsgan_losses_are_least_squares():
    d_real, d_fake = jnp.array([1.5, 0.0, 1.0]), jnp.array([0.5, -1.0, 2.0])
    f = alternating.Forward(real=None, fake=None, d_real=d_real, d_fake=d_fake)
    # D: 1/2 [mean((D(x) - 1)^2) + mean(D(G(z))^2)] = 1/2 [(0.25 + 1 + 0) / 3 + (0.25 + 1 + 4) / 3]
    np.testing.assert_allclose(lsgan.d_loss(f)[0], 0.5 * (1.25 + 5.25) / 3, rtol=1e-6)
    # G: mean((D(G(z)) - 1)^2) = (0.25 + 4 + 1) / 3
    np.testing.assert_allclose(lsgan.g_loss(f)[0], 5.25 / 3, rtol=1e-6)


def test_dragan_d_trains_on_the_adversarial_loss():
    # dragan.py back-propagates only the penalty; here D's objective is adversarial + lambda * penalty, so its
    # gradient reaches D's outputs on the real and fake batches (which the penalty never sees).
    real = jnp.linspace(-1, 1, 2 * 4 * 4).reshape(2, 4, 4, 1)
    critic = lambda x: 3.0 * jnp.sum(jnp.square(x), axis=(1, 2, 3))  # noqa: E731  (a stand-in D)

    def objective(d_real, d_fake):
        return dragan.d_loss(alternating.Forward(real, -real, d_real, d_fake, critic, jax.random.key(0)))

    d_real, d_fake = jnp.array([0.3, -0.2]), jnp.array([0.1, 0.4])
    loss, metrics = objective(d_real, d_fake)
    assert float(metrics["gp"]) > 0 and float(metrics["d_loss"]) > 0
    np.testing.assert_allclose(loss, metrics["d_loss"] + dragan.LAMBDA_GP * metrics["gp"], rtol=1e-6)
    # the adversarial part is the BCE of the logits: log(1 + e^-x) on real, log(1 + e^x) on fake, halved
    bce = 0.5 * (np.mean(np.log1p(np.exp(-np.array([0.3, -0.2])))) + np.mean(np.log1p(np.exp([0.1, 0.4]))))
    np.testing.assert_allclose(metrics["d_loss"], bce, rtol=1e-5)
    grads = jax.grad(lambda r, f: objective(r, f)[0], argnums=(0, 1))(d_real, d_fake)
    assert all(float(jnp.min(jnp.abs(g))) > 1e-3 for g in grads)


def test_relativistic_standard_and_average_differ():
    config = tiny(relativistic_gan)
    state = relativistic_gan.init(jax.random.key(0), config)
    batch, key = image_batch(config), jax.random.key(1)
    step = jax.jit(relativistic_gan.train_step)  # state.config is static: each variant is its own trace
    _, standard = step(state, batch, key)
    _, average = step(state.replace(config=tiny(relativistic_gan, rel_avg_gan=True)), batch, key)
    for name in ("d_loss", "g_loss"):
        assert abs(float(standard[name]) - float(average[name])) > 1e-4, name


def test_began_k_control():
    config = tiny(began)
    state = began.init(jax.random.key(0), config)
    batch = image_batch(config)
    step = jax.jit(began.train_step)
    # L(x) by hand: D's L1 reconstruction error on the real batch, before its update (BatchNorm on batch stats)
    disc = dcgan_nets.AutoencoderDiscriminator(config.channels)
    (recon, _), _ = disc.apply({"params": state.d.params, "batch_stats": state.d.batch_stats}, batch["image"],
                               train=True, mutable=["batch_stats"])
    l_real = float(jnp.mean(jnp.abs(recon - batch["image"])))
    for k0 in (0.0, 0.5, 1.0):
        new, m = step(state.replace(k=jnp.asarray(k0, jnp.float32)), batch, jax.random.key(1))
        np.testing.assert_allclose(m["l_real"], l_real, rtol=1e-4)
        balance = began.GAMMA * float(m["l_real"]) - float(m["l_fake"])
        np.testing.assert_allclose(m["d_loss"], float(m["l_real"]) - k0 * float(m["l_fake"]), rtol=1e-5)
        expected = np.clip(k0 + began.LAMBDA_K * balance, 0.0, 1.0)
        np.testing.assert_allclose(new.k, expected, atol=1e-7)
        np.testing.assert_allclose(m["k"], expected, atol=1e-7)
        np.testing.assert_allclose(m["M"], float(m["l_real"]) + abs(balance), rtol=1e-5)
        if 0.0 < k0 < 1.0:
            assert np.sign(float(new.k) - k0) == np.sign(balance)  # k moves toward gamma L(x) = L(G(z))
    for i in range(10):
        state, m = step(state, batch, jax.random.key(i))
        assert 0.0 <= float(state.k) <= 1.0


def test_ebgan_generator_loss_includes_pullaway_term():
    rng = np.random.default_rng(0)
    fake = jnp.asarray(rng.uniform(-1, 1, (4, 6, 6, 1)), jnp.float32)
    recon = jnp.asarray(rng.uniform(-1, 1, (4, 6, 6, 1)), jnp.float32)
    embedding = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32)

    def objective(embedding):
        return ebgan.g_loss(alternating.Forward(None, fake, None, (recon, embedding)))

    loss, metrics = objective(embedding)
    s = np.asarray(embedding) / np.linalg.norm(embedding, axis=1, keepdims=True)
    cos_sq = (s @ s.T) ** 2
    pt = (cos_sq.sum() - np.trace(cos_sq)) / (4 * 3)  # the paper's eq. 6: squared cosines off the diagonal
    np.testing.assert_allclose(metrics["pt"], pt, rtol=1e-5)
    energy = np.mean((np.asarray(recon) - np.asarray(fake)) ** 2)
    np.testing.assert_allclose(loss, energy + 0.1 * pt, rtol=1e-5)
    # the embedding only enters through the pull-away term: its gradient is 0.1 * dPT
    assert float(jnp.max(jnp.abs(jax.grad(lambda e: objective(e)[0])(embedding)))) > 1e-4
    # the energy is differentiated through G(z) too (the paper's; ebgan.py detaches it): d/dfake = -2 (recon - fake) / n
    grad_fake = jax.grad(lambda x: ebgan.g_loss(alternating.Forward(None, x, None, (recon, embedding)))[0])(fake)
    np.testing.assert_allclose(grad_fake, -2 * (recon - fake) / fake.size, rtol=1e-4, atol=1e-7)
