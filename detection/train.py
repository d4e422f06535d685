"""A plain training loop for the detectors (to be replaced by gan_jax.engine, which drives the same
``model.init`` / ``model.train_step``).

    from detection import data, model, train
    config = model.Config(n_classes=13, img_size=128, batch_size=16, optimizer="adam", lr=1e-3, burn_in=100)
    state = train.train(config, data.OfflineDetection("train", size=128), steps=2000, seed=0)
    model.export_weights(state, "runs/det/yolov3-tiny.weights")   # + .cfg, for detection.detect / evaluate
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import numpy as np

from detection import data, model


def train(config: model.Config, dataset, steps: int, seed: int = 0, state: model.State | None = None,
          callback: Callable[[int, model.State, dict], None] | None = None, log_every: int = 50) -> model.State:
    """Runs ``steps`` steps (continuing from ``state.step`` when a state is given) and returns the state.

    The PRNG follows the project's rule: one key per run (split once into an init key and a step key),
    ``fold_in(key, step)`` per step. Batches come from
    :func:`data.batches` in a seed-determined order, resumed at ``state.step``. ``callback(step, state, metrics)``
    runs after every step (metrics on the host every ``log_every`` steps, else None).
    """
    init_key, key = jax.random.split(jax.random.key(seed))
    if state is None:
        state = model.init(init_key, config)
    start = int(state.step)
    step_fn = jax.jit(model.train_step, donate_argnums=0)
    it = data.batches(dataset, config.batch_size, config.img_size, config.max_boxes, seed=seed, start=start)
    t0, seen = time.time(), 0
    for step in range(start, start + steps):
        batch = next(it)
        state, metrics = step_fn(state, batch, jax.random.fold_in(key, step))
        seen += config.batch_size
        host = None
        if (step + 1) % log_every == 0 or step + 1 == start + steps:
            host = {k: float(v) for k, v in jax.device_get(metrics).items()}
            if not np.isfinite(host["loss"]):
                raise FloatingPointError(f"loss became {host['loss']} at step {step + 1}: {host}")
            rate = seen / (time.time() - t0)
            print(f"step {step + 1:6d}  loss {host['loss']:8.3f}  box {host['loss_box']:7.3f}  "
                  f"obj {host['loss_obj']:7.3f}  cls {host['loss_cls']:7.3f}  iou {host['avg_iou']:.3f}  "
                  f"lr {host['lr']:.2e}  {rate:6.1f} img/s", flush=True)
        if callback is not None:
            callback(step + 1, state, host)
    return state
