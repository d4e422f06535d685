"""Data parallelism, the modern form of pmap: one mesh axis 'data', state replicated, batch sharded.

``jax.jit`` with these shardings compiles one SPMD program for all devices; XLA inserts the gradient all-reduce
(and global BatchNorm statistics), so a model's ``train_step`` is written once, for the global batch, and gives the
same result on 1 CPU, 8 fake CPU devices, a GPU box or a TPU pod slice (multi-host: call
``jax.distributed.initialize()`` first; each process feeds its own slice of the global batch).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(n_devices: int | None = None) -> Mesh:
    devices = jax.devices()
    if n_devices is not None:
        if n_devices < 1 or n_devices > len(devices):
            raise ValueError(f"--devices {n_devices}: this machine has {len(devices)} {devices[0].platform} "
                             f"device(s)")
        devices = devices[:n_devices]
    return Mesh(np.asarray(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        raise ValueError(f"--batch_size {batch_size} is not divisible by the {n} devices in use "
                         f"(use a multiple of {n}, or --devices)")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """This process's slice of the global batch -> global arrays sharded along 'data'."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


def replicate(tree, mesh: Mesh):
    return jax.device_put(tree, replicated(mesh))
