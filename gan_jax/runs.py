"""Open a finished (or interrupted) run directory: its model, config and restored state."""

from __future__ import annotations

import json
import os

from gan_jax import registry
from gan_jax.engine import Checkpointer, CheckpointError, config_from_dict, make_mesh
from gan_jax.engine.loop import abstract_state


def saved_run(run_dir: str, missing: str = "{} is not a run directory (no config.json)",
              model: str | None = None) -> dict:
    """The run's ``config.json`` (model, config, run options, dataset); ``missing`` words the error without one.

    With ``model``, a run of another model is refused (detection, captioning and textcls keep their runs the same
    way and use this too)."""
    run_dir = os.path.abspath(run_dir)
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise CheckpointError(missing.format(run_dir))
    with open(path) as f:
        saved = json.load(f)
    if model is not None and saved.get("model") != model:
        raise CheckpointError(f"{run_dir} holds a run of {saved.get('model')!r}, not {model!r}")
    return saved


def load_run(run_dir: str, step: int | None = None):
    """(model module, config, state, meta) of the checkpoint ``step`` (default: latest) in ``run_dir``."""
    run_dir = os.path.abspath(run_dir)
    saved = saved_run(run_dir)
    model = registry.get(saved["model"])
    config = config_from_dict(model.Config, saved["config"])
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"), read_only=True)
    try:
        meta = ckpt.read_meta(step)
        if meta.get("model") != saved["model"]:
            raise CheckpointError(f"checkpoint in {run_dir} is of model {meta.get('model')!r}, "
                                  f"config.json says {saved['model']!r}")
        state, meta = ckpt.restore(abstract_state(model, config, make_mesh(1)), step)
    finally:
        ckpt.close()
    return model, config, state, meta
