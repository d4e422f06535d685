"""TextCNN's model contract: shapes, one trace, learning, Kim's max-norm, which embeddings train, sparse Adadelta."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from textcls import model

V, D, K = 40, 6, 3
CONFIG = model.Config(vocab_size=V, embed_dim=D, n_classes=K, max_len=7, feature_maps=5, batch_size=8)


def config(variant, tmp_path=None, **kw):
    vectors = ""
    if variant != "rand" and tmp_path is not None:
        vectors = str(tmp_path / "vectors.npy")
        np.save(vectors, np.random.default_rng(1).normal(0, 0.3, (V, D)).astype(np.float32))
    return dataclasses.replace(CONFIG, variant=variant, vectors=vectors, **kw)


def batch(c, seed=0):
    rng = np.random.default_rng(seed)
    tokens = np.zeros((c.batch_size, c.seq_len), np.int32)
    pad = max(c.filter_sizes) - 1
    for i in range(c.batch_size):
        n = rng.integers(1, c.max_len + 1)
        tokens[i, pad:pad + n] = rng.integers(1, V, n)
    return {"tokens": tokens, "label": rng.integers(0, K, c.batch_size).astype(np.int32)}


@pytest.mark.parametrize("variant", model.VARIANTS)
def test_shapes(variant, tmp_path):
    c = config(variant, tmp_path)
    state = model.init(jax.random.key(0), c)
    assert c.seq_len == 7 + 2 * 4
    channels = 2 if variant == "multichannel" else 1
    for h in (3, 4, 5):
        chex.assert_shape(state.params[f"conv{h}"]["kernel"], (h, channels * D, 5))
    chex.assert_shape(state.params["output"]["kernel"], (15, K))
    assert ("embedding" in state.params) == (variant != "static")
    assert ("embedding" in state.frozen) == (variant in ("static", "multichannel"))
    logits = model.logits(state, batch(c)["tokens"])
    chex.assert_shape(logits, (c.batch_size, K))
    if variant != "rand":  # the pre-trained vectors are where they should be, padding zero
        table = state.frozen.get("embedding", state.params.get("embedding"))
        expected = np.load(c.vectors)
        np.testing.assert_allclose(table[1:], expected[1:])
        assert not np.any(table[0])


@pytest.mark.parametrize("variant", model.VARIANTS)
def test_train_step_traced_once_learns_and_constrains(variant, tmp_path):
    c = config(variant, tmp_path)
    state = model.init(jax.random.key(0), c)
    before = jax.tree.map(np.asarray, state)
    chex.clear_trace_counter()  # counted per function, across the parametrized cases
    step = jax.jit(chex.assert_max_traces(model.train_step, n=1))
    b = batch(c)
    losses = []
    for i in range(6):
        state, metrics = step(state, b, jax.random.key(i))
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert int(state.step) == 6
    for name in ("conv3", "conv4", "conv5", "output"):
        assert not np.allclose(before.params[name]["kernel"], state.params[name]["kernel"]), name
    norms = np.linalg.norm(np.asarray(state.params["output"]["kernel"]), axis=0)
    assert np.all(norms <= c.max_norm + 1e-5)
    if "embedding" in state.frozen:  # static and multichannel: the fixed channel never moves
        np.testing.assert_array_equal(before.frozen["embedding"], state.frozen["embedding"])
    if "embedding" in state.params:  # rand, non-static, multichannel: the trained channel does, padding excepted
        table = np.asarray(state.params["embedding"])
        used = np.unique(b["tokens"][b["tokens"] > 0])
        assert not np.allclose(before.params["embedding"][used], table[used])
        unused = np.setdiff1d(np.arange(1, V), used)
        np.testing.assert_array_equal(before.params["embedding"][unused], table[unused])
        assert not np.any(table[0])


def test_max_norm_enforced_after_a_step():
    c = config("rand")
    state = model.init(jax.random.key(0), c)
    big = jnp.full_like(state.params["output"]["kernel"], 2.0)  # column norms sqrt(15) * 2 ~ 7.7 > 3
    assert np.all(np.linalg.norm(big, axis=0) > 3)
    state = state.replace(params={**state.params, "output": {**state.params["output"], "kernel": big}})
    state, _ = jax.jit(model.train_step)(state, batch(c), jax.random.key(0))
    norms = np.linalg.norm(np.asarray(state.params["output"]["kernel"]), axis=0)
    np.testing.assert_array_less(norms, 3.0 + 1e-5)
    assert np.all(norms > 2.9)  # rescaled to the bound, not zeroed
    off = model.constrain({"output": {"kernel": big}}, dataclasses.replace(c, max_norm=0.0))
    np.testing.assert_array_equal(off["output"]["kernel"], big)  # --max_norm 0 turns the constraint off


def test_sparse_adadelta_equals_dense_adadelta():
    """Updating only the batch's rows, with rho^(missed steps) applied late, is Kim's dense Adadelta."""
    c = config("rand")
    rng = np.random.default_rng(0)
    table = jnp.asarray(rng.normal(size=(V, D)), jnp.float32)
    dense, dense_opt = table, optax.adadelta(c.lr, rho=c.rho, eps=c.eps)
    dense_state = dense_opt.init(dense)
    sparse, acc = table, model.sparse_adadelta_init(table)
    for t in range(1, 9):
        rows = np.unique(rng.integers(1, V, 6))
        grads = rng.normal(size=(len(rows), D)).astype(np.float32)
        if t == 4:
            grads[0] = 0.0  # a row used but given no gradient (max-pooling does that)
        full = np.zeros((V, D), np.float32)
        full[rows] = grads
        updates, dense_state = dense_opt.update(jnp.asarray(full), dense_state, dense)
        dense = optax.apply_updates(dense, updates)
        padded = np.full(10, V)  # out-of-range fill, as train_step's jnp.unique(size=...) gives
        padded[:len(rows)] = rows
        g = np.zeros((10, D), np.float32)
        g[:len(rows)] = grads
        sparse, acc = model.sparse_adadelta(sparse, acc, jnp.asarray(padded), jnp.asarray(g), jnp.int32(t), c)
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)


def test_multichannel_conv_is_one_filter_over_both_channels():
    conv = model.ChannelConv(features=4, width=3)
    x = jax.random.normal(jax.random.key(0), (2, 9, 5)), jax.random.normal(jax.random.key(1), (2, 9, 5))
    params = conv.init(jax.random.key(2), x)
    joint = jax.lax.conv_general_dilated(jnp.concatenate(x, -1), params["params"]["kernel"], (1,), "VALID",
                                         dimension_numbers=("NWC", "WIO", "NWC")) + params["params"]["bias"]
    np.testing.assert_allclose(conv.apply(params, x), joint, rtol=1e-5, atol=1e-5)


def test_config_errors():
    with pytest.raises(ValueError, match="--variant"):
        model.Config(variant="dynamic")
    with pytest.raises(ValueError, match="--dropout"):
        model.Config(dropout=1.0)
    with pytest.raises(ValueError, match="--max_norm"):
        model.Config(max_norm=-1)


def test_missing_initial_vectors_is_a_clear_error(tmp_path):
    c = dataclasses.replace(config("static"), vectors=str(tmp_path / "gone.npy"))
    with pytest.raises(FileNotFoundError, match="gone.npy"):
        model.init(jax.random.key(0), c)
