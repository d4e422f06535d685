"""The CPU compile options of the train steps (gan_jax/engine/xla_options.py): used where this XLA knows them,
skipped where it does not or the user said otherwise, and a pure performance choice (same numbers)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.engine import xla_options


@pytest.fixture
def fresh_probe():
    xla_options._cpu_options_supported.cache_clear()
    yield
    xla_options._cpu_options_supported.cache_clear()


def conv_loss(x, w):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(jnp.tanh(y) ** 2)


def test_options_apply_on_the_cpu_only(fresh_probe, monkeypatch):
    monkeypatch.delenv("GAN_JAX_XLA_DEFAULTS", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert xla_options.train_step_options("gpu") is None
    assert xla_options.train_step_options("tpu") is None
    expected = xla_options.CPU_OPTIONS if jax.__version__.startswith("0.10.") else None  # the jaxlib it was measured on
    if expected is not None:
        assert xla_options.train_step_options("cpu") == expected
    else:
        assert xla_options.train_step_options("cpu") in (xla_options.CPU_OPTIONS, None)
    monkeypatch.setenv("GAN_JAX_XLA_DEFAULTS", "1")
    assert xla_options.train_step_options("cpu") is None
    monkeypatch.delenv("GAN_JAX_XLA_DEFAULTS")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=")  # the user's own choice wins
    assert xla_options.train_step_options("cpu") is None


def test_an_xla_without_the_option_keeps_its_defaults(fresh_probe, monkeypatch):
    monkeypatch.delenv("GAN_JAX_XLA_DEFAULTS", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(xla_options, "CPU_OPTIONS", {"xla_cpu_no_such_option_here": "1"})
    assert xla_options.train_step_options("cpu") is None


def test_the_options_change_speed_not_results(fresh_probe, monkeypatch):
    monkeypatch.delenv("GAN_JAX_XLA_DEFAULTS", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    options = xla_options.train_step_options("cpu")
    if options is None:
        pytest.skip("this jaxlib has no such option")
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (4, 16, 16, 32))
    w = 0.1 * jax.random.normal(kw, (3, 3, 32, 32))
    grad = jax.value_and_grad(conv_loss, argnums=(0, 1))
    plain = jax.jit(grad)(x, w)
    tuned_fn = jax.jit(grad, compiler_options=options)
    tuned = tuned_fn(x, w)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(tuned)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    # and the convolutions did leave YNNPACK (where the default puts them)
    assert ynn_convolutions(jax.jit(grad).lower(x, w).compile().as_text()) > 0
    assert ynn_convolutions(tuned_fn.lower(x, w).compile().as_text()) == 0


def ynn_convolutions(hlo: str) -> int:
    """Convolutions inside the computations that YNNPACK fusions call, in a compiled module's text."""
    called = set(re.findall(r"ynn_fusion[.\d]* = .*?calls=(%[\w.]+)", hlo))
    count, current = 0, None
    for line in hlo.splitlines():
        header = re.match(r"\s*(%[\w.]+) .*\{\s*$", line)
        if header:
            current = header.group(1)
        elif current in called and " convolution(" in line:
            count += 1
    return count


def test_engine_train_steps_use_them(fresh_probe, monkeypatch):
    """engine.compile_step (every model's step, and detection's, captioning's, textcls's) compiles with them."""
    monkeypatch.delenv("GAN_JAX_XLA_DEFAULTS", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    if xla_options.train_step_options("cpu") is None:
        pytest.skip("this jaxlib has no such option")
    from gan_jax import engine, registry
    from tests.contract import image_batch

    model = registry.get("dcgan")
    config = model.Config(batch_size=4, img_size=16)
    mesh = engine.make_mesh(1)
    state = engine.loop.init_state(model, config, jax.random.key(0), mesh)
    batch = engine.shard_batch(image_batch(config), mesh)

    def compiled():
        return engine.compile_step(model, mesh).lower(state, batch, jax.random.key(1)).compile().as_text()

    tuned = compiled()
    monkeypatch.setenv("GAN_JAX_XLA_DEFAULTS", "1")
    default = compiled()
    # By default YNNPACK runs every convolution; with the options at most one is left there, fused into a YNNPACK
    # reduction that consumes it (the REDUCE fusions are kept on purpose: they are faster).
    assert " convolution(" in tuned
    assert ynn_convolutions(default) >= 6
    assert ynn_convolutions(tuned) <= 1
