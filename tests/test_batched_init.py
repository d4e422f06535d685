"""gan_jax.engine.batched_init: the engine's init gives jax.jit's values bit for bit, with far fewer threefry calls."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import registry
from gan_jax.engine import batched_init


def draws(key):
    """Draws of several shapes and kinds, each from its own folded key, as Flax's initialisers make them."""
    out = {}
    for i, shape in enumerate([(3, 3, 4, 8), (5,), (3, 3, 4, 8), (7, 2), (), (1, 9), (3, 3, 4, 8)]):
        k = jax.random.fold_in(key, i)
        out[f"normal{i}"] = 0.02 * jax.random.normal(k, shape) + 1.0
        out[f"uniform{i}"] = jax.random.uniform(jax.random.fold_in(k, 7), shape, minval=-0.5, maxval=0.5)
        out[f"trunc{i}"] = jax.random.truncated_normal(jax.random.fold_in(k, 8), -2.0, 2.0, shape)
        out[f"zeros{i}"] = jnp.zeros(shape)
    out["bits64"] = jax.random.bits(key, (4,), jnp.uint64 if jax.config.jax_enable_x64 else jnp.uint32)
    out["ints"] = jax.random.randint(key, (6,), 0, 10)
    out["split"] = jax.random.split(key, 3)
    return out


def threefry_calls(jitted, key) -> int:
    """XLA:CPU runs each threefry call as a loop over its rounds: the loops of the compiled program."""
    return jitted.lower(key).compile().as_text().count(" while(")


def assert_identical(a, b, float_rounding=False):
    """Same tree, shapes and dtypes; keys and integers equal; floats equal, or with ``float_rounding`` equal up to
    float32 rounding (a wrong draw differs by the order of its scale)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        if float_rounding and jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("partitionable", [True, False])
def test_draws_are_those_of_jax_jit(partitionable):
    key = jax.random.key(5)
    with jax.threefry_partitionable(partitionable):
        plain, batched = jax.jit(draws), batched_init.jit(draws)
        # The bits are jax.jit's exactly. Their float transforms may differ by rounding: XLA contracts the
        # polynomial of erf_inv into fused multiply-adds or not depending on what it fuses it with (jax.jit's
        # kernel here differs from a jitted jax.random.normal alone as much).
        assert_identical(batched(key), plain(key), float_rounding=True)
        n_plain, n_batched = threefry_calls(plain, key), threefry_calls(batched, key)
    assert n_plain >= 40, n_plain
    # partitionable: a call per wave of fold_ins and one for all 32-bit draws; otherwise also one per draw shape
    assert n_batched <= (10 if partitionable else 25), (n_plain, n_batched)


def test_side_effects_are_kept():
    seen = []

    def f(key):
        x = jax.random.normal(key, (3,))
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return x

    key = jax.random.key(0)
    np.testing.assert_array_equal(np.asarray(batched_init.jit(f)(key)), np.asarray(jax.random.normal(key, (3,))))
    assert len(seen) == 1


def test_output_sharding():
    mesh = jax.make_mesh((1,), ("data",))
    repl = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    out = batched_init.jit(draws, out_shardings=repl)(jax.random.key(1))
    assert all(x.sharding == repl for x in jax.tree.leaves(out))


def _gan(name, **overrides):
    model = registry.get(name)
    return model.init, model.Config(**overrides)


def _captioning():  # the tiny configs the packages' own tests train
    from captioning import model
    from tests.test_captioning import TINY
    return model.init, TINY


def _detection():
    from detection import model
    from tests.test_detection_train import TINY
    return model.init, model.Config(model="yolov4-tiny", **TINY)


def _textcls():
    from tests.test_textcls_model import CONFIG, model
    return model.init, CONFIG


MODELS = {
    "dcgan": lambda: _gan("dcgan", img_size=16, latent_dim=8),  # BatchNorm, Adam
    "cyclegan": lambda: _gan("cyclegan", img_height=32, img_width=32, n_residual_blocks=1),  # two G, two D
    "esrgan": lambda: _gan("esrgan", hr_height=32, hr_width=32, residual_blocks=1),  # VGG weights as constants
    "infogan": lambda: _gan("infogan", img_size=16),  # three heads, one optimizer over two networks
    "captioning": _captioning,  # LSTM decoder, ResNet encoder
    "detection": _detection,  # darknet network, SGD/Adam
    "textcls": _textcls,  # embeddings, max-norm
}


@pytest.mark.parametrize("name", MODELS)
def test_model_init_is_that_of_jax_jit(name):
    init, config = MODELS[name]()
    f = functools.partial(init, config=config)
    key = jax.random.key(11)
    assert_identical(batched_init.jit(f)(key), jax.jit(f)(key), float_rounding=True)


def test_threefry_calls_do_not_grow_with_depth():
    counts = []
    for blocks in (1, 3):
        init, config = _gan("esrgan", hr_height=32, hr_width=32, residual_blocks=blocks)
        counts.append(threefry_calls(batched_init.jit(functools.partial(init, config=config)), jax.random.key(0)))
    assert counts[0] == counts[1] <= 10, counts


def test_every_leaf_owns_its_buffer():
    """Equal outputs computed once are still separate arrays (a donated state must not hold a buffer twice)."""
    def f(key):
        x = jax.random.normal(key, (3,))
        vectors = jnp.asarray(np.arange(6.0).reshape(3, 2))  # one constant in two leaves (textcls' multichannel)
        return {"a": x * 2, "b": x * 2, "c": jnp.zeros(4), "d": jnp.zeros(4), "e": jax.random.normal(key, (3,)) * 2,
                "static": vectors, "trained": vectors}

    out = batched_init.jit(f)(jax.random.key(0))
    pointers = {x.unsafe_buffer_pointer() for x in jax.tree.leaves(out)}
    assert len(pointers) == len(jax.tree.leaves(out))
    assert_identical(out, jax.jit(f)(jax.random.key(0)))
