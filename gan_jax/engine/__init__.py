"""The one training engine of the project (gan_jax, detection, captioning, textcls all train with it)."""

from gan_jax.engine.checkpoint import Checkpointer, CheckpointError, config_from_dict, config_to_dict
from gan_jax.engine.loop import (Hook, NonFiniteError, RunDirError, RunOptions, compile_step, fit, prepare_run_dir,
                                 run_keys)
from gan_jax.engine.mesh import batch_sharding, check_batch_size, make_mesh, replicated, shard_batch

__all__ = ["Checkpointer", "CheckpointError", "Hook", "check_batch_size", "prepare_run_dir", "NonFiniteError", "RunDirError", "RunOptions", "batch_sharding",
           "compile_step", "config_from_dict", "config_to_dict", "fit", "make_mesh", "replicated", "run_keys",
           "shard_batch"]
