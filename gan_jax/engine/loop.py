"""The training loop every package uses: compile the model's ``train_step`` once for the device mesh, feed it
batches, and write metrics, sample grids and checkpoints into a run directory.

The loop knows nothing of any model: it needs ``model.init(rng, config)``, ``model.train_step(state, batch, rng)``
(``state.step`` counts steps), and for sample grids ``model.samples(state, rng, batch)`` (``batch``: the same
fixed real examples every time, for models that translate or complete images) or ``model.generate(state, rng,
n)``. The step key is ``fold_in(key, state.step)``, so a resumed run draws the same numbers as an uninterrupted one.
Optional: ``model.pretrain_step`` (train_step's signature) with ``model.pretrain_steps(config)``, a cheaper step that
the loop runs for the first steps of a pre-training phase, where it must give what train_step gives.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.engine import batched_init
from gan_jax.engine import images as image_io
from gan_jax.engine import mesh as mesh_lib
from gan_jax.engine import xla_options
from gan_jax.engine.checkpoint import Checkpointer, CheckpointError, config_to_dict
from gan_jax.engine.writers import MetricWriter


class NonFiniteError(FloatingPointError):
    """A loss or parameter became NaN/inf; the run stopped and its last good checkpoint is kept."""


class RunDirError(OSError):
    """The run directory cannot be used (not writable, or already holds another run)."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    steps: int
    seed: int = 0
    devices: int | None = None
    sample_interval: int = 400
    checkpoint_interval: int = 1000
    keep: int = 3
    log_interval: int = 10
    progress: bool = True
    tensorboard: bool = True
    # stop (checkpoint and sample grid written, as on Ctrl-C) once training has run this long, compile included:
    # a Colab session's or a benchmark's wall-clock budget. None: no limit.
    max_seconds: float | None = None


@dataclasses.dataclass
class Hook:
    """``fn(step, state) -> dict of scalars`` run every ``interval`` steps (and at the end); results are logged."""

    interval: int
    fn: Callable[[int, Any], dict]


def model_name(model) -> str:
    return getattr(model, "NAME", model.__name__.rsplit(".", 1)[-1])


def prepare_run_dir(run_dir: str) -> str:
    """Create ``run_dir`` and prove it writable before any training starts."""
    run_dir = os.path.abspath(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = os.path.join(run_dir, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise RunDirError(f"cannot write to run directory {run_dir}: {e.strerror or e}") from None
    return run_dir


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


all_finite = jax.jit(_all_finite)


def sample_fn(model, loader) -> Callable | None:
    """``f(state, rng) -> images`` for the grids, or None for models that draw none."""
    if hasattr(model, "samples"):
        n = min(getattr(model, "N_SAMPLES", loader.batch_size), len(loader.source))
        fixed = loader.source.get(np.arange(n))  # the first examples: the same real inputs in every grid
        samples = jax.jit(model.samples)
        return lambda state, rng: samples(state, rng, fixed)
    if hasattr(model, "generate"):
        return jax.jit(functools.partial(model.generate, n=getattr(model, "N_SAMPLES", 25)))
    return None


def compile_step(model, mesh, step_fn=None):
    """``model.train_step`` (or ``step_fn``, same signature) jitted once for the mesh: state replicated and donated,
    batch sharded on 'data'; on the CPU with convolutions on XLA's own kernels (:mod:`gan_jax.engine.xla_options`)."""
    repl, data = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)
    options = xla_options.train_step_options(mesh.devices.flat[0].platform)
    step_fn = step_fn or model.train_step

    def step(state, batch, key):
        return step_fn(state, batch, jax.random.fold_in(key, state.step))

    return jax.jit(step, in_shardings=(repl, data, repl), out_shardings=(repl, repl), donate_argnums=0,
                   compiler_options=options)


def init_state(model, config, key, mesh):
    """``model.init(key, config)`` compiled for the mesh (replicated), as ``jax.jit`` would give it, but with the
    parameter draws batched (:mod:`gan_jax.engine.batched_init`: esrgan's init compiles in ~10 s instead of ~3 min)."""
    return batched_init.jit(functools.partial(model.init, config=config), mesh_lib.replicated(mesh))(key)


def abstract_state(model, config, mesh):
    repl = mesh_lib.replicated(mesh)
    shapes = jax.eval_shape(functools.partial(model.init, config=config), jax.random.key(0))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl), shapes)


def run_keys(seed: int):
    """(init key, step key, sample key) of a run: all derived from one seed."""
    key = jax.random.key(seed)
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)


class _StopFlag:
    """First Ctrl-C asks the loop to stop after the current step and checkpoint; a second one aborts."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if hasattr(signal, "SIGINT") and _in_main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def fit(model, config, loader, run_dir: str, options: RunOptions, *, resume: bool = False,
        hooks: tuple[Hook, ...] = (), extra: dict | None = None):
    """Train ``model`` to ``options.steps`` steps; returns the final state.

    ``loader`` is a :class:`gan_jax.data.Loader` (its position is saved and restored). ``extra`` is stored in
    ``config.json`` (e.g. the dataset name). Raises :class:`CheckpointError`, :class:`RunDirError`,
    :class:`NonFiniteError` with messages meant for the user; returns early (after checkpointing) on Ctrl-C.
    """
    name = model_name(model)
    run_dir = prepare_run_dir(run_dir)
    mesh = mesh_lib.make_mesh(options.devices)
    mesh_lib.check_batch_size(loader.batch_size, mesh)
    init_key, step_key, sample_key = run_keys(options.seed)
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"), keep=options.keep)
    latest = ckpt.latest_step()

    def announce(what):  # the bar appears after the first step: say what happens before it
        if options.progress and jax.process_index() == 0:
            print(f"{name}: {what} the state and compiling the first step (on a CPU, minutes for the largest models)",
                  file=sys.stderr)

    t_init = time.perf_counter()  # init_s: compiling and running init (esrgan ~10 s on a CPU), or restoring
    if resume:
        if latest is None:
            raise CheckpointError(f"nothing to resume: {run_dir} has no checkpoint")
        meta = ckpt.read_meta(latest)
        if meta.get("model") != name:
            raise CheckpointError(f"{run_dir} holds a checkpoint of model {meta.get('model')!r}, not {name!r}")
        if meta.get("seed") != options.seed:
            raise CheckpointError(f"{run_dir} was trained with seed {meta.get('seed')}, not {options.seed}")
        announce("restoring")
        state, meta = ckpt.restore(abstract_state(model, config, mesh), latest)
        loader.position = int(meta["data_position"])
    else:
        if latest is not None:
            raise RunDirError(f"{run_dir} already holds a run (checkpoint at step {latest}): pass --resume to "
                              f"continue it, or choose another --out")
        announce("initialising")
        state = init_state(model, config, init_key, mesh)
    step = int(jax.device_get(state.step))
    init_s = time.perf_counter() - t_init
    is_main = jax.process_index() == 0
    if is_main:
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump({"model": name, "config": config_to_dict(config), "run": dataclasses.asdict(options),
                       **(extra or {})}, f, indent=2)
    writer = MetricWriter(run_dir, tensorboard=options.tensorboard) if is_main else None
    if writer is not None and resume:
        writer.truncate_after(step)
    train = compile_step(model, mesh)
    # A model with a pre-training phase (srgan, esrgan) may give a cheaper step for it, equal to train_step there:
    # the first pretrain_steps(config) steps run it (compiled on first use, so never when the phase is over).
    n_pretrain = model.pretrain_steps(config) if hasattr(model, "pretrain_step") else 0
    pretrain = compile_step(model, mesh, model.pretrain_step) if n_pretrain else None
    samples = sample_fn(model, loader)
    step_key = mesh_lib.replicate(step_key, mesh)

    def save(state, step):
        if not bool(all_finite(state)):
            raise NonFiniteError(f"parameters became NaN/inf by step {step}; not saving. Last good checkpoint: "
                                 f"step {ckpt.latest_step()} in {ckpt.directory}")
        ckpt.save(step, state, {"model": name, "step": step, "seed": options.seed, "data_position": loader.position,
                                "rng_key": np.asarray(jax.random.key_data(step_key)).tolist(),
                                "config": config_to_dict(config)})

    def write_samples(state, step):
        if samples is not None and is_main:
            imgs = np.asarray(jax.device_get(samples(state, sample_key)))
            image_io.save_grid(imgs, os.path.join(run_dir, "samples", f"step_{step:06d}.png"),
                               getattr(model, "GRID_COLS", None))

    bar = _progress(options, step, name)
    t_last, step_last, compile_s = time.perf_counter(), step, None
    deadline = None if options.max_seconds is None else t_last + options.max_seconds
    try:
        with _StopFlag() as stop:
            while step < options.steps and not stop.requested:
                if deadline is not None and time.perf_counter() > deadline:
                    stop.requested = True
                    print(f"\ntime limit ({options.max_seconds:g} s) reached at step {step}", file=sys.stderr)
                    break
                batch = mesh_lib.shard_batch(next(loader), mesh)
                state, metrics = (pretrain if step < n_pretrain else train)(state, batch, step_key)
                step += 1
                if compile_s is None:
                    jax.block_until_ready(metrics)
                    compile_s = time.perf_counter() - t_last
                    t_last, step_last = time.perf_counter(), step
                due_ckpt = step % options.checkpoint_interval == 0 or step == options.steps
                due_hooks = [h for h in hooks if step % h.interval == 0 or step == options.steps]
                if step % options.log_interval == 0 or due_ckpt or due_hooks or step == 1:
                    values = {k: float(v) for k, v in jax.device_get(metrics).items()}
                    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
                    if bad:
                        raise NonFiniteError(f"{', '.join(bad)} became NaN/inf at step {step}; stopping. Last good "
                                             f"checkpoint: step {ckpt.latest_step()} in {ckpt.directory}")
                    now = time.perf_counter()
                    if step > step_last:
                        values["images_per_s"] = (step - step_last) * loader.batch_size / (now - t_last)
                        t_last, step_last = now, step
                    if step == 1:
                        values["compile_s"], values["init_s"] = compile_s, init_s
                    for hook in due_hooks:
                        values.update(hook.fn(step, state))
                    if due_hooks:  # evaluation time is not training throughput
                        t_last = time.perf_counter()
                    if writer is not None:
                        writer.write(step, values)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in values.items() if k not in ("compile_s", "init_s")},
                                   refresh=False)
                bar.update(1)
                if step % options.sample_interval == 0 or step == options.steps:
                    write_samples(state, step)
                if due_ckpt:
                    save(state, step)
            if stop.requested:
                save(state, step)
                if step % options.sample_interval:  # the grid of the state the run stopped at
                    write_samples(state, step)
                bar.close()
                print(f"stopped at step {step}; resume with --resume (checkpoint in {ckpt.directory})",
                      file=sys.stderr)
    finally:
        bar.close()
        loader.close()
        if writer is not None:
            writer.close()
        ckpt.close()
    return state


def _progress(options: RunOptions, step: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=options.steps, initial=step, desc=name, unit="step", disable=not options.progress,
                dynamic_ncols=True, file=sys.stderr)
