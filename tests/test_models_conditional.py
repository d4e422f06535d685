"""The conditional and auxiliary-head PyTorch-GAN ports: cgan, acgan, infogan, sgan, cluster_gan (shared pieces in
gan_jax/nets/conditional.py, sgan's data in gan_jax/data/kinds/semi_supervised.py).

Each: the model contract on a tiny config, the mechanism that defines it, and its default architecture's parameter
count against PyTorch-GAN's script (hand-computed from the layer shapes).
"""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, losses
from gan_jax.models import acgan, cgan, cluster_gan, infogan, sgan
from gan_jax.nets import conditional
from gan_jax.nets import state as netstate
from tests.contract import check_contract, image_batch

MODELS = [cgan, acgan, infogan, sgan, cluster_gan]
ids = lambda m: m.__name__.rsplit(".", 1)[-1]
GENERATE_KWARGS = {cgan: {"labels": np.arange(5)}, acgan: {"labels": 3}, infogan: {"labels": 1, "code": [0.5, -1.0]},
                   cluster_gan: {"labels": np.array([0, 9, 1, 8, 2])}}


def tiny(model, **overrides):
    return model.Config(batch_size=8, img_size=16, latent_dim=4, **overrides)


def batch_for(config, seed=0, n_labelled=3):
    batch = image_batch(config, labels=True, seed=seed)
    batch["label_mask"] = (np.arange(config.batch_size) < n_labelled).astype(np.float32)  # sgan's
    return batch


@functools.cache
def contract_state(model):
    """The state after check_contract's 3 steps on the tiny config (run once per model, reused below)."""
    config = tiny(model)
    return check_contract(model, config, batch_for(config), generate_kwargs=GENERATE_KWARGS.get(model))


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_contract(model):
    contract_state(model)


# ---- parameter counts at the scripts' defaults, as torch counts them (no running statistics) ----

def conv(cin, cout, k=3):
    return k * k * cin * cout + cout


def linear(fan_in, fan_out):
    return fan_in * fan_out + fan_out


def bn(c):
    return 2 * c  # scale + bias


def dcgan_generator(input_dim):  # Linear(input_dim, 128 * 8 * 8), BN2d(128), up, conv, BN, up, conv, BN, conv (32 px)
    return (linear(input_dim, 8192) + bn(128) + conv(128, 128) + bn(128) + conv(128, 64) + bn(64) + conv(64, 1))


DCGAN_TRUNK = conv(1, 16) + conv(16, 32) + bn(32) + conv(32, 64) + bn(64) + conv(64, 128) + bn(128)  # -> 512 features
CLUSTER_TRUNK = conv(1, 64, 4) + conv(64, 128, 4) + linear(128 * 5 * 5, 1024)  # 28 -> 13 -> 5

EXPECTED = {  # model: {network: count}
    # G: Embedding(10, 10); 110 -> 128 -> 256 (BN) -> 512 (BN) -> 1024 (BN) -> 1024. D: Embedding(10, 10),
    # 1034 -> 512 -> 512 -> 512 -> 1.
    cgan: {"g": 100 + linear(110, 128) + linear(128, 256) + bn(256) + linear(256, 512) + bn(512)
           + linear(512, 1024) + bn(1024) + linear(1024, 1024),
           "d": 100 + linear(1034, 512) + 2 * linear(512, 512) + linear(512, 1)},
    acgan: {"g": 10 * 100 + dcgan_generator(100), "d": DCGAN_TRUNK + linear(512, 1) + linear(512, 10)},
    infogan: {"g": dcgan_generator(62 + 10 + 2), "d": DCGAN_TRUNK + linear(512, 1) + linear(512, 10) + linear(512, 2)},
    # PyTorch-GAN's sgan G also holds an Embedding(10, 100) it never uses (1,000 parameters): not ported.
    sgan: {"g": dcgan_generator(100), "d": DCGAN_TRUNK + linear(512, 1) + linear(512, 11)},
    cluster_gan: {"g": linear(40, 1024) + bn(1024) + linear(1024, 128 * 7 * 7) + bn(128 * 7 * 7)
                  + conv(128, 64, 4) + bn(64) + (16 * 64 * 1 + 1),
                  "e": CLUSTER_TRUNK + linear(1024, 40), "d": CLUSTER_TRUNK + linear(1024, 1)},
}


def test_hand_counts():
    # the same numbers, written out once, so a mistake in the helpers above cannot hide
    assert EXPECTED[cgan] == {"g": 1_757_412, "d": 1_055_845}
    assert EXPECTED[acgan] == {"g": 1_050_985, "d": 103_243}
    assert EXPECTED[infogan] == {"g": 836_993, "d": 104_269}
    assert EXPECTED[sgan] == {"g": 1_049_985, "d": 103_756}
    assert EXPECTED[cluster_gan] == {"g": 6_617_665, "e": 3_451_112, "d": 3_411_137}


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_default_architecture_matches_pytorch_gan(model):
    state = jax.eval_shape(functools.partial(model.init, config=model.Config()), jax.random.key(0))
    counts = {name: netstate.count_params(getattr(state, name).params) for name in EXPECTED[model]}
    assert counts == EXPECTED[model]


# ---- conditions: generate obeys and validates them ----

@pytest.mark.parametrize("model", [cgan, acgan, infogan, cluster_gan], ids=ids)
def test_generate_rejects_labels_out_of_range(model):
    state = contract_state(model)
    for bad, shown in ((10, "10"), (-1, "-1"), (np.array([0, 3, 10]), "10")):
        with pytest.raises(ValueError, match=f"{shown} is outside \\[0, 10\\)"):
            model.generate(state, jax.random.key(0), 3, labels=bad)
    with pytest.raises(ValueError, match="integers"):
        model.generate(state, jax.random.key(0), 3, labels=np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="one .* per image"):
        model.generate(state, jax.random.key(0), 3, labels=np.array([1, 2]))


@pytest.mark.parametrize("model", [cgan, acgan, infogan, cluster_gan], ids=ids)
def test_generate_obeys_labels(model):
    # G is fed the requested label (through its input), and a class-row grid asks for each class in turn
    state = contract_state(model)
    key = jax.random.key(3)
    a = model.generate(state, key, 4, labels=np.array([0, 1, 2, 3]))
    b = model.generate(state, key, 4, labels=np.array([0, 1, 7, 3]))  # same z, one label changed
    same = np.all(np.isclose(np.asarray(a), np.asarray(b)), axis=(1, 2, 3))
    assert same.tolist() == [True, True, False, True]
    # the training grid: one row per class
    grid = model.samples(state, key, None)
    assert grid.shape[0] == model.N_SAMPLES == 10 * model.GRID_COLS
    static_code = {"code": np.zeros(2)} if model is infogan else {}  # infogan's grid: continuous code 0
    by_row = model.generate(state, key, 100, labels=np.repeat(np.arange(10), 10), **static_code)
    np.testing.assert_allclose(grid, by_row, atol=1e-6)


def test_cgan_discriminator_sees_the_label():
    config = tiny(cgan)
    state = contract_state(cgan)
    img = jnp.asarray(image_batch(config, n=2)["image"])
    _, disc = cgan._nets(config)
    scores = [disc.apply({"params": state.d.params}, img, jnp.array([k, k]), train=False) for k in (0, 5)]
    assert not np.allclose(scores[0], scores[1])


def test_infogan_code_validation():
    state = contract_state(infogan)
    with pytest.raises(ValueError, match="code_dim=2 values, got a code of 3"):
        infogan.generate(state, jax.random.key(0), 4, code=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="one code per image \\(4\\)"):
        infogan.generate(state, jax.random.key(0), 4, code=np.zeros((3, 2)))
    per_image = infogan.generate(state, jax.random.key(0), 2, code=np.array([[1.0, 0.0], [-1.0, 0.0]]))
    shared = infogan.generate(state, jax.random.key(0), 2, code=np.array([1.0, 0.0]))
    np.testing.assert_allclose(per_image[0], shared[0], atol=1e-6)


# ---- the defining mechanisms ----

def test_acgan_auxiliary_loss_is_cross_entropy_on_logits():
    logits = jnp.array([[4.0, -1.0, 0.5], [0.0, 5.0, -2.0]])
    labels = jnp.array([0, 2])
    by_hand = -np.mean([np.log(np.exp(4.0) / np.exp([4.0, -1.0, 0.5]).sum()),
                        np.log(np.exp(-2.0) / np.exp([0.0, 5.0, -2.0]).sum())])
    np.testing.assert_allclose(losses.classification_loss(logits, labels), by_hand, rtol=1e-6)
    # the script's double softmax (Softmax in the net, then CrossEntropyLoss) gives another, much flatter loss
    double = losses.classification_loss(jax.nn.softmax(logits), labels)
    assert abs(float(double) - by_hand) > 1.0
    # inside the model: g_loss = 1/2 [BCE(validity, 1) + CE(class logits, G's labels)], on raw logits
    validity = jnp.array([0.3, -0.7])
    f = conditional.Forward(batch={}, inputs={"labels": labels}, fake=None, d_fake=(validity, logits))
    bce = -np.mean(np.log(1 / (1 + np.exp(-np.asarray(validity)))))
    np.testing.assert_allclose(acgan.g_loss(f)[0], 0.5 * (bce + by_hand), rtol=1e-5)
    # D's loss on real and fake, each 1/2 [BCE + CE], halved again
    f = conditional.Forward(batch={"label": labels}, inputs={"labels": labels[::-1]}, fake=None,
                            d_fake=(-validity, logits[::-1]), d_real=(validity, logits))
    real = 0.5 * (losses.bce_with_logits(validity, 1.0) + by_hand)
    fake = 0.5 * (losses.bce_with_logits(-validity, 0.0) + by_hand)
    loss, metrics = acgan.d_loss(f)
    np.testing.assert_allclose(loss, 0.5 * (real + fake), rtol=1e-5)
    np.testing.assert_allclose(metrics["d_acc"], 0.5)  # argmax [0, 1] vs labels [0, 2] (and the same reversed)


def test_infogan_codes_reach_q():
    config = tiny(infogan)
    state = contract_state(infogan)
    gen, disc = infogan._nets(config)
    inputs = infogan._inputs(jax.random.key(0), 8, config)

    @jax.jit
    def info_grad(code, labels):
        def info(code):
            fake, _ = netstate.apply(gen, state.g, train=True, **{**inputs, "code": code, "labels": labels})
            d_out, _ = netstate.apply(disc, state.d, fake, train=True, rngs={"dropout": jax.random.key(1)})
            return infogan.info_loss(d_out, {"labels": labels, "code": jax.lax.stop_gradient(code)})[0]

        return jax.grad(info)(code)

    # the information loss depends on G's continuous code input through G and Q (Q's target held fixed)
    assert float(jnp.max(jnp.abs(info_grad(inputs["code"], inputs["labels"])))) > 1e-6
    # Q's outputs move when only G's codes change (same z)
    images = infogan.generate(state, jax.random.key(2), 4, labels=np.array([0, 0, 5, 5]),
                              code=np.array([[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0]]))
    q_cat, q_con = infogan.infer(state, images)
    assert not np.allclose(q_cat[0], q_cat[2]) and not np.allclose(q_con[0], q_con[2])


def test_infogan_step_uses_sampled_codes_not_data_labels():
    # InfoGAN is unsupervised (DATA = "images"): its step never reads labels, even when the batch has them.
    assert infogan.DATA == "images"
    config = tiny(infogan)
    state = infogan.init(jax.random.key(0), config)
    batch = image_batch(config, labels=True)
    closed = jax.make_jaxpr(infogan.train_step)(state, batch, jax.random.key(1))
    leaves = jax.tree_util.tree_leaves_with_path((state, batch, jax.random.key(1)))
    label_var = closed.jaxpr.invars[[jax.tree_util.keystr(p) for p, _ in leaves].index("[1]['label']")]
    used = {id(v) for eqn in closed.jaxpr.eqns for v in eqn.invars} | {id(v) for v in closed.jaxpr.outvars}
    assert id(label_var) not in used
    # the information update is a third Adam (its own moments) over G and D together, once per step
    assert int(contract_state(infogan).info_opt_state[0].count) == 3


def test_sgan_unlabelled_examples_contribute_no_supervised_loss():
    keys = jax.random.split(jax.random.key(0), 4)
    real_logits, fake_logits = jax.random.normal(keys[0], (6, 11)), jax.random.normal(keys[1], (6, 11))
    d_real = (jax.random.normal(keys[2], (6,)), real_logits)
    d_fake = (jax.random.normal(keys[3], (6,)), fake_logits)
    labels, mask = np.array([3, 1, 7, 2, 2, 9]), np.array([1, 1, 0, 0, 0, 0], np.float32)

    def d_loss(labels, mask):
        batch = {"label": jnp.asarray(labels), "label_mask": jnp.asarray(mask)}
        return sgan.d_loss(conditional.Forward(batch, {}, None, d_fake, d_real))[1]

    m = d_loss(labels, mask)
    for relabelled in ([3, 1, 9, 2, 2, 7], [3, 1, -1, -1, -1, -1], [3, 1, 0, 5, 6, 4]):  # unlabelled ones changed
        chex.assert_trees_all_close(d_loss(np.array(relabelled), mask), m)
    assert abs(float(d_loss(np.array([4, 1, 7, 2, 2, 9]), mask)["sup_loss"]) - float(m["sup_loss"])) > 1e-4
    # the supervised term is the mean CE over the labelled examples only, and 0 with none
    np.testing.assert_allclose(m["sup_loss"], losses.classification_loss(real_logits[:2], labels[:2]), rtol=1e-6)
    assert float(d_loss(labels, np.zeros(6, np.float32))["sup_loss"]) == 0.0
    # the fake images' class is the extra one (index num_classes)
    expected_fake = 0.5 * (losses.bce_with_logits(d_fake[0], 0.0)
                           + losses.classification_loss(fake_logits, jnp.full((6,), 10)))
    expected_real = 0.5 * (losses.bce_with_logits(d_real[0], 1.0) + m["sup_loss"])
    np.testing.assert_allclose(m["d_loss"], 0.5 * (expected_real + expected_fake), rtol=1e-5)
    assert sgan.classify(contract_state(sgan), image_batch(tiny(sgan))["image"]).shape == (8, 10)  # "fake" dropped


def test_semi_supervised_data():
    config = sgan.Config(img_size=8, n_labelled=100)
    source = data.load("digits", "semi_supervised", img_size=8, channels=1, config=config)
    full = data.load("digits", "labelled", img_size=8, channels=1)
    every = source.get(np.arange(len(source)))
    assert every["label_mask"].sum() == 100 and len(source.labelled_indices) == 100
    kept = every["label_mask"] > 0
    np.testing.assert_array_equal(every["label"][kept], full.labels[kept])
    assert np.all(every["label"][~kept] == -1)  # hidden, not merely masked
    assert len(np.unique(full.labels[source.labelled_indices])) == 10  # a shuffled subset, not the first class only
    test = data.load("digits", "semi_supervised", img_size=8, channels=1, split="test", config=config)
    assert test.get(np.arange(len(test)))["label_mask"].all()
    everything = data.load("digits", "semi_supervised", img_size=8, channels=1,
                           config=sgan.Config(n_labelled=10**9))
    assert everything.get(np.arange(len(everything)))["label_mask"].all()  # PyTorch-GAN's setting
    assert "labelled_image" not in everything.get(np.arange(8)) and "labelled_image" not in test.get(np.arange(8))


def test_semi_supervised_batches_carry_a_labelled_batch_from_the_pool():
    source = data.load("digits", "semi_supervised", img_size=8, channels=1, config=sgan.Config(img_size=8,
                                                                                                n_labelled=100))
    full = data.load("digits", "labelled", img_size=8, channels=1)
    pool = full.get(source.labelled_indices)
    batch = source.get(np.arange(64))
    chex.assert_shape((batch["labelled_image"], batch["labelled_label"]), ((64, 8, 8, 1), (64,)))
    # every drawn image is a pool image with its true label, none twice (64 <= 100: without replacement)
    matches = [np.flatnonzero(np.all(pool["image"] == img, axis=(1, 2, 3))) for img in batch["labelled_image"]]
    drawn = [m[0] for m in matches]
    assert all(len(m) >= 1 for m in matches) and len(set(drawn)) == 64
    np.testing.assert_array_equal(pool["label"][drawn], batch["labelled_label"])
    # a function of the batch's indices: the same batch again (a resumed run), another batch something else
    np.testing.assert_array_equal(source.get(np.arange(64))["labelled_label"], batch["labelled_label"])
    assert not np.array_equal(source.get(np.arange(64, 128))["labelled_image"], batch["labelled_image"])


def test_sgan_step_trains_the_class_head_on_the_labelled_batch():
    config = tiny(sgan)
    state = contract_state(sgan)
    batch = {k: jnp.asarray(v) for k, v in batch_for(config, n_labelled=0).items()}  # no labels in the plain batch
    batch["labelled_image"] = batch["image"][::-1]
    step = jax.jit(sgan.train_step)

    def sup_loss(labels):
        return float(step(state, {**batch, "labelled_label": jnp.asarray(labels, jnp.int32)}, jax.random.key(1))[1]
                     ["sup_loss"])

    labels = np.arange(config.batch_size) % 10
    loss = sup_loss(labels)
    assert loss > 0 and abs(loss - sup_loss((labels + 1) % 10)) > 1e-4
    new_state, _ = step(state, {**batch, "labelled_label": jnp.asarray(labels, jnp.int32)}, jax.random.key(1))
    assert int(new_state.step) == int(state.step) + 1


def test_cluster_gan_encoder_head_is_a_cluster_assignment():
    config = tiny(cluster_gan)
    state = contract_state(cluster_gan)
    images = image_batch(config, seed=3)["image"]
    zn, probs = cluster_gan.encode(state, images)
    chex.assert_shape((zn, probs), ((8, config.latent_dim), (8, config.n_c)))
    assert np.all(np.asarray(probs) >= 0)
    np.testing.assert_allclose(np.asarray(probs).sum(-1), 1.0, rtol=1e-5)
    clusters = np.asarray(cluster_gan.cluster(state, images))
    np.testing.assert_array_equal(clusters, np.asarray(probs).argmax(-1))
    assert clusters.min() >= 0 and clusters.max() < config.n_c
    # G's cluster input is one-hot
    inputs, idx = cluster_gan._inputs(jax.random.key(0), 8, config)
    np.testing.assert_array_equal(np.asarray(inputs["zc"]).argmax(-1), np.asarray(idx))
    np.testing.assert_array_equal(np.asarray(inputs["zc"]).sum(-1), 1.0)


def test_cluster_gan_zn_has_the_scale_sigma_n():
    # the paper's sigma 0.10 by default; the script's 0.75 on request; the same draws, scaled
    config = tiny(cluster_gan)
    assert config.sigma_n == 0.1
    small, _ = cluster_gan._inputs(jax.random.key(0), 4096, config)
    wide, _ = cluster_gan._inputs(jax.random.key(0), 4096, dataclasses.replace(config, sigma_n=0.75))
    assert abs(float(np.std(np.asarray(small["zn"]))) - 0.1) < 0.005
    np.testing.assert_allclose(np.asarray(wide["zn"]), 7.5 * np.asarray(small["zn"]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="--sigma_n"):
        dataclasses.replace(config, sigma_n=0.0).validate()


def test_cluster_gan_updates_g_and_e_every_n_critic_steps():
    # (with --wass_flag: the WGAN-GP variant runs too; the default BCE variant runs in the contract test)
    config = tiny(cluster_gan, n_critic=3, wass_flag=True)
    state = cluster_gan.init(jax.random.key(0), config)
    batch = image_batch(config)
    step = jax.jit(cluster_gan.train_step)
    changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    for i in range(6):
        before = jax.tree.map(np.asarray, (state.g.params, state.e.params, state.d.params, state.g.batch_stats))
        state, metrics = step(state, batch, jax.random.key(i))
        g, e, d, g_stats = before
        ge_step = i % 3 == 0
        assert changed(g, state.g.params) == ge_step, i
        assert changed(e, state.e.params) == ge_step, i
        assert changed(d, state.d.params), i  # D every step
        assert changed(g_stats, state.g.batch_stats), i  # G ran in train mode every step
        assert np.isfinite(float(metrics["ge_loss"])) and float(metrics["gradient_penalty"]) >= 0


# ---- infogan --arch paper: Chen et al.'s own MNIST networks and losses ----

def test_infogan_paper_contract():
    config = tiny(infogan, arch="paper")
    check_contract(infogan, config, batch_for(config), generate_kwargs=GENERATE_KWARGS[infogan])


def test_infogan_paper_architecture_counts():
    # G: FC 74 -> 1024 (BN) -> 128 * 8 * 8 (BN), deconv4 128 -> 64 (BN), deconv4 64 -> 1 (32 px). D/Q: conv4 1 -> 64,
    # conv4 64 -> 128 (BN), FC 8192 -> 1024 (BN); D: 1024 -> 1; Q: 1024 -> 128 (BN) -> 10 + 2.
    g = linear(74, 1024) + bn(1024) + linear(1024, 8192) + bn(8192) + conv(128, 64, 4) + bn(64) + conv(64, 1, 4)
    d = (conv(1, 64, 4) + conv(64, 128, 4) + bn(128) + linear(8192, 1024) + bn(1024) + linear(1024, 1)
         + linear(1024, 128) + bn(128) + linear(128, 12))
    assert (g, d) == (8_624_321, 8_658_253)
    state = jax.eval_shape(functools.partial(infogan.init, config=infogan.Config(arch="paper")), jax.random.key(0))
    assert (netstate.count_params(state.g.params), netstate.count_params(state.d.params)) == (g, d)


def test_infogan_paper_losses_by_hand():
    validity = np.array([0.4, -1.2])
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    mean = np.array([[0.2, -0.1], [0.9, 0.4]])
    inputs = {"labels": jnp.array([0, 1]), "code": jnp.array([[0.0, 0.5], [1.0, -0.6]])}
    ce = -np.mean([np.log(np.exp(2.0) / np.exp(logits[0]).sum()), np.log(np.exp(0.5) / np.exp(logits[1]).sum())])
    gauss = 0.5 * np.mean([0.2**2 + 0.6**2, 0.1**2 + 1.0**2])  # unit-variance NLL summed over the 2 codes
    info = ce + gauss
    sig = lambda x: 1 / (1 + np.exp(-x))
    d_fake = tuple(map(jnp.asarray, (validity, logits, mean)))
    f = conditional.Forward(batch={}, inputs=inputs, fake=None, d_fake=d_fake)
    loss, metrics = infogan.paper_g_loss(f)
    np.testing.assert_allclose(loss, -np.mean(np.log(sig(validity))) + info, rtol=1e-5)
    np.testing.assert_allclose(metrics["info_loss"], info, rtol=1e-5)
    real = jnp.array([1.5, 0.3])
    f = conditional.Forward(batch={}, inputs=inputs, fake=None, d_fake=d_fake, d_real=(real, None, None))
    loss, _ = infogan.paper_d_loss(f)
    minimax = -np.mean(np.log(sig(np.asarray(real))) + np.log(1 - sig(validity)))
    np.testing.assert_allclose(loss, minimax + info, rtol=1e-5)  # D and Q also minimise L_I, as the authors


def test_infogan_arch_is_checked():
    from gan_jax import cli

    with pytest.raises(ValueError, match="--arch must be one of script, paper, got 'dcgan'"):
        cli.validate(infogan.Config(arch="dcgan"))
    cli.validate(infogan.Config(arch="paper", img_size=28))  # the paper's 28 px: its networks only need s % 4 == 0
