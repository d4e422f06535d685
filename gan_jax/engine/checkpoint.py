"""orbax checkpoints of a run: the model's State, and as JSON the step, RNG key, data position and config.

orbax writes each step into a temporary directory and renames it when complete, so a process killed mid-save
leaves the previous checkpoints intact (the partial directory is ignored and cleaned up on the next start).
Restoring checks that the checkpoint belongs to the same model before anything is loaded, and never writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A run directory whose checkpoints are missing, corrupt, or of another model."""


def config_to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(cls, data: dict):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CheckpointError(f"saved config has fields {unknown} that {cls.__module__}.Config does not know")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class Checkpointer:
    """A run's ``checkpoints/`` directory (absolute path), keeping the last ``keep`` steps."""

    def __init__(self, directory: str, keep: int = 3, read_only: bool = False):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only,
                                               cleanup_tmp_directories=not read_only,
                                               enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, meta: dict) -> None:
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         meta=ocp.args.JsonSave(meta)), force=True)
        self.manager.wait_until_finished()

    def read_meta(self, step: int | None = None) -> dict:
        step = self._step(step)
        path = os.path.join(self.directory, str(step), "meta", "metadata")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(f"checkpoint {self.directory}/{step} is corrupt: cannot read its metadata "
                                  f"({type(e).__name__}: {e})") from None

    def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict]:
        """(state, meta) of ``step`` (default: latest); ``abstract_state`` gives shapes, dtypes and shardings."""
        step = self._step(step)
        meta = self.read_meta(step)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state)))
        except Exception as e:  # orbax/tensorstore raise many types for truncated or mismatched files
            raise CheckpointError(f"checkpoint {self.directory}/{step} is corrupt or does not match this model's "
                                  f"state ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        state = restored["state"]
        bad = [jax.tree_util.keystr(p) for p, x in jax.tree_util.tree_leaves_with_path(state)
               if np.issubdtype(x.dtype, np.floating) and not bool(np.all(np.isfinite(np.asarray(x))))]
        if bad:
            raise CheckpointError(f"checkpoint {self.directory}/{step} holds non-finite values in {bad[:3]}")
        return state, meta

    def _step(self, step: int | None) -> int:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise CheckpointError(f"no checkpoint in {self.directory}")
        elif step not in self.all_steps():
            raise CheckpointError(f"no checkpoint for step {step} in {self.directory} (have {self.all_steps()})")
        return step

    def close(self) -> None:
        self.manager.close()
