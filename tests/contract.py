"""The checks every model must pass (DESIGN.md's model contract), shared by the per-model test files.

``check_contract(model, config, batch)``: Config is a frozen dataclass with PyTorch-GAN's flag names; init gives a
State pytree with a step; train_step is traced once over several calls, changes every network's parameters and
keeps all metrics finite; generate gives images of the configured shape in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.engine import batched_init


def image_batch(config, n=None, labels=False, seed=0):
    rng = np.random.default_rng(seed)
    n = n or config.batch_size
    batch = {"image": rng.uniform(-1, 1, (n, config.img_size, config.img_size, config.channels)).astype(np.float32)}
    if labels:
        batch["label"] = rng.integers(0, getattr(config, "n_classes", 10), n).astype(np.int32)
    return batch


def param_trees(state):
    """Every ``params`` subtree of the state (one per network)."""
    found = {}

    def visit(path, node):
        if hasattr(node, "params") and hasattr(node, "opt_state"):
            found[path] = node.params
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            for f in dataclasses.fields(node):
                if f.metadata.get("pytree_node", True):
                    visit(f"{path}.{f.name}" if path else f.name, getattr(node, f.name))
        elif isinstance(node, dict):
            for k, v in node.items():
                visit(f"{path}.{k}" if path else str(k), v)

    visit("", state)
    return found


def init(model, config, seed=0):
    """``model.init(key(seed), config)`` as the engine compiles it (jax.jit's numbers, the draws batched): eager Flax
    init compiles every primitive of every layer on its own, ~40 s for bicyclegan's tiny config against ~8 s."""
    return batched_init.jit(functools.partial(model.init, config=config))(jax.random.key(seed))


def check_contract(model, config, batch, steps=3, generate_kwargs=None):
    assert dataclasses.is_dataclass(model.Config)
    with np.testing.assert_raises(dataclasses.FrozenInstanceError):
        config.batch_size = 1  # frozen
    state = init(model, config)
    assert int(state.step) == 0
    before = param_trees(state)
    assert before, "State holds no networks (Net with params/opt_state)"
    before = jax.tree.map(np.asarray, before)

    # chex counts traces per function *source*; models whose train_step bodies read alike (dcgan, lsgan, dragan)
    # would share one counter across tests, so start each contract check from zero.
    chex.clear_trace_counter()
    traced = chex.assert_max_traces(n=1)(model.train_step)
    step = jax.jit(traced)
    key = jax.random.key(1)
    for i in range(steps):
        state, metrics = step(state, batch, jax.random.fold_in(key, i))
        assert metrics, "train_step returned no metrics"
        for name, value in metrics.items():
            chex.assert_shape(value, ())
            assert np.isfinite(float(value)), f"metric {name} is not finite at step {i}: {value}"
    assert int(state.step) == steps
    after = param_trees(state)
    for name, params in before.items():
        changed = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), params, after[name])
        assert any(jax.tree.leaves(changed)), f"{name}: no parameter changed in {steps} steps"
        assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(after[name])), f"{name} not finite"

    if hasattr(model, "generate"):
        imgs = model.generate(state, jax.random.key(2), 5, **(generate_kwargs or {}))
        chex.assert_shape(imgs, (5, config.img_size, config.img_size, config.channels))
        assert float(jnp.max(jnp.abs(imgs))) <= 1.0 + 1e-6
        assert float(jnp.std(imgs)) > 0
    return state
